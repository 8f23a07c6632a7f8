//! Idempotency keys, Stripe's semantics: per tenant and operation, the same key with the same
//! request replays the stored result; the same key with a different request is
//! [`crate::DomainError::IdempotencyKeyReused`]; a concurrent duplicate waits for the first and then
//! replays it. Only successful results are stored, so a request that failed (say, for lack of
//! stock) can be retried with its key. Keys are kept (at least 24 hours; currently forever).

use crate::error::Invalid;
use crate::identity::SecretHash;

/// The longest accepted key.
pub const MAX_KEY_LEN: usize = 255;

/// A client-chosen key: 1–255 visible ASCII characters (a UUID is a good choice).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses a key.
    ///
    /// # Errors
    /// `Invalid` on `field` for an empty, long or non-printable key.
    pub fn parse(field: &str, raw: &str) -> Result<IdempotencyKey, Invalid> {
        let valid = (1..=MAX_KEY_LEN).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        if valid {
            Ok(IdempotencyKey(raw.to_owned()))
        } else {
            Err(Invalid::new(field, format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters, e.g. a UUID")))
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What was stored under a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The fingerprint of the request that first used the key.
    pub request_hash: SecretHash,
    /// The result to replay, in the operation's own encoding.
    pub result: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert!(IdempotencyKey::parse("idempotencyKey", "0193b0a4-7c1e-7d2a-9f00-1c2d3e4f5a6b").is_ok());
        for bad in ["", "with space", "tab\t", "é", &"x".repeat(256)] {
            assert!(IdempotencyKey::parse("idempotencyKey", bad).is_err(), "{bad:?}");
        }
    }
}
