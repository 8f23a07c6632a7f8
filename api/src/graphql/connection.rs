//! Relay connections: cursor encoding and the arguments every list takes.
//!
//! A cursor is the unpadded base64url of the item's id (UUIDv7, so creation-ordered): opaque
//! to clients, stable under concurrent inserts, and a keyset position, never an offset.

use async_graphql::OutputType;
use async_graphql::connection::{Connection, Edge};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::page::{Page, PageRequest};
use uuid::Uuid;

use crate::error::{ApiError, ErrorCode};

/// Encodes a cursor.
pub fn cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(argument: &str, raw: Option<String>) -> Result<Option<Uuid>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).ok().and_then(|b| Uuid::from_slice(&b).ok());
    bytes
        .map(Some)
        .ok_or_else(|| ApiError::new(ErrorCode::BadUserInput, format!("`{argument}` is not a cursor from this list")))
}

/// Checks Relay arguments into a page request.
///
/// # Errors
/// `BAD_USER_INPUT` naming the argument (bad cursor, more than 100, both directions).
pub fn page_request(
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> Result<PageRequest, ApiError> {
    let after = decode_cursor("after", after)?;
    let before = decode_cursor("before", before)?;
    PageRequest::new(first, after, last, before)
        .map_err(|invalid| ApiError::new(ErrorCode::BadUserInput, invalid.to_string()))
}

/// Builds a connection from a domain page.
pub fn connection<T, N: OutputType>(
    page: Page<T>,
    id: impl Fn(&T) -> Uuid,
    node: impl Fn(T) -> N,
) -> Connection<String, N> {
    let mut connection = Connection::new(page.has_previous, page.has_next);
    connection.edges.extend(page.items.into_iter().map(|item| Edge::new(cursor(id(&item)), node(item))));
    connection
}

/// The complexity of a list field: its page size times the cost of one item.
pub fn list_complexity(first: Option<i32>, last: Option<i32>, child: usize) -> usize {
    let size = first.or(last).and_then(|n| usize::try_from(n).ok()).unwrap_or(domain::page::DEFAULT_PAGE_SIZE);
    size.max(1).saturating_mul(child.max(1))
}
