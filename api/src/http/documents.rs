//! Parsed GraphQL documents, kept by their text.
//!
//! Clients send the same few documents over and over (generated clients, apps, GraphiQL
//! re-running a query), and parsing was a twentieth of a busy page request. The cache holds
//! only what parsed: a document that fails to parse is parsed, and rejected, every time.
//! Everything after parsing (recursion and directive limits, validation, depth and
//! complexity) still runs on every request, because variables and the operation name change
//! its outcome.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::ServerError;
use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;

/// How many documents are kept; the least recently used one goes first.
const CAPACITY: NonZeroUsize = NonZeroUsize::new(256).expect("non-zero");
/// Longer documents are parsed every time, so a client cannot fill memory with large ones:
/// at most `CAPACITY` × this much text is kept (with its syntax tree).
const MAX_CACHED_LEN: usize = 4 * 1024;

/// Documents that parsed, by their exact text.
pub struct DocumentCache {
    parsed: Mutex<LruCache<String, Arc<ExecutableDocument>>>,
}

impl Default for DocumentCache {
    fn default() -> Self {
        DocumentCache { parsed: Mutex::new(LruCache::new(CAPACITY)) }
    }
}

impl DocumentCache {
    /// Gives `request` its parsed document, from the cache or by parsing it now.
    ///
    /// # Errors
    /// The parser's error for a document that does not parse.
    pub fn prepare<'r>(&self, request: &'r mut async_graphql::Request) -> Result<&'r ExecutableDocument, ServerError> {
        let query = request.query.as_str();
        if query.len() > MAX_CACHED_LEN {
            return request.parsed_query();
        }
        let cached = self.lock().get(query).cloned();
        let document = match cached {
            Some(document) => ExecutableDocument::clone(&document),
            None => {
                let document = async_graphql::parser::parse_query(query)?;
                self.lock().put(query.to_owned(), Arc::new(document.clone()));
                document
            }
        };
        request.set_parsed_query(document);
        request.parsed_query()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Arc<ExecutableDocument>>> {
        // The map is never left half-changed by a panic (no user code runs under the lock),
        // so a poisoned lock is still a consistent cache.
        self.parsed.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str) -> async_graphql::Request {
        async_graphql::Request::new(query)
    }

    #[test]
    fn a_cached_document_is_the_document_parsed() {
        let cache = DocumentCache::default();
        let text = "query Page { orders(first: 2) { edges { cursor } } }";
        let first = format!("{:?}", cache.prepare(&mut request(text)).expect("parses"));
        let again = format!("{:?}", cache.prepare(&mut request(text)).expect("parses"));
        assert_eq!(first, again);
        assert_eq!(cache.lock().len(), 1);
    }

    #[test]
    fn a_document_that_does_not_parse_is_refused_every_time_and_never_kept() {
        let cache = DocumentCache::default();
        for _ in 0..2 {
            assert!(cache.prepare(&mut request("{ orders(first: ")).is_err());
        }
        assert_eq!(cache.lock().len(), 0);
    }

    #[test]
    fn the_cache_stays_bounded_and_skips_long_documents() {
        let cache = DocumentCache::default();
        for n in 0..CAPACITY.get() * 2 {
            cache.prepare(&mut request(&format!("{{ a{n}: apiVersion }}"))).expect("parses");
        }
        assert_eq!(cache.lock().len(), CAPACITY.get());
        let long = format!("{{ apiVersion {} }}", " ".repeat(MAX_CACHED_LEN));
        cache.prepare(&mut request(&long)).expect("parses");
        assert!(!cache.lock().contains(long.as_str()));
    }
}
