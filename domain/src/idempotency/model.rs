//! The values of idempotency: the client's [`IdempotencyKey`], the [`Operation`] it is used
//! for, the [`Claim`] a request makes on it, the [`Recorded`] request found under it, and the
//! [`Retention`] that ends its life.

use time::{Duration, OffsetDateTime};

use crate::error::{DomainError, Invalid};
use crate::identity::SecretHash;

/// The longest accepted key.
pub const MAX_KEY_LEN: usize = 255;

/// The longest operation name storage has room for.
pub const MAX_OPERATION_LEN: usize = 32;

/// How long a client waits before sending again a request whose key a concurrent request holds.
pub const RETRY_AFTER_SECS: u64 = 1;

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

/// Every idempotent mutation: keys are scoped to one of these, so one key may serve a stock
/// receipt and an order alike. The list is fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `receiveStock`.
    ReceiveStock,
    /// `adjustStock`.
    AdjustStock,
    /// `transferStock`.
    TransferStock,
    /// `placeOrder`.
    PlaceOrder,
    /// `payOrder`.
    PayOrder,
    /// `refundPayment`.
    RefundPayment,
    /// A payment processor's webhook event, keyed by the processor's event id.
    ProcessorEvent,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 7] = [
        Operation::ReceiveStock,
        Operation::AdjustStock,
        Operation::TransferStock,
        Operation::PlaceOrder,
        Operation::PayOrder,
        Operation::RefundPayment,
        Operation::ProcessorEvent,
    ];

    /// The stored name: the GraphQL mutation's, at most [`MAX_OPERATION_LEN`] bytes.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::ReceiveStock => "receiveStock",
            Operation::AdjustStock => "adjustStock",
            Operation::TransferStock => "transferStock",
            Operation::PlaceOrder => "placeOrder",
            Operation::PayOrder => "payOrder",
            Operation::RefundPayment => "refundPayment",
            Operation::ProcessorEvent => "processorEvent",
        }
    }
}

/// A request's claim on a key: which operation, which key, and the fingerprint of the request
/// (see [`super::Fingerprint`]) that a later request with the key must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The operation the key is used for.
    pub operation: Operation,
    /// The key.
    pub key: IdempotencyKey,
    /// SHA-256 of the request's canonical encoding.
    pub fingerprint: SecretHash,
}

/// What an earlier request stored under a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The fingerprint of the request that first used the key.
    pub request_hash: SecretHash,
    /// The result to replay, in the operation's own encoding; `None` while the request that
    /// claimed the key has not finished.
    pub result: Option<String>,
}

/// How long a key is kept after its request: a repeat within it replays, and after it the key
/// is free again. Stripe keeps keys 24 hours, and so does Keel by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention(Duration);

impl Retention {
    /// The default: 24 hours.
    pub const DEFAULT: Retention = Retention(Duration::hours(24));

    /// A retention of `duration`.
    pub fn new(duration: Duration) -> Retention {
        Retention(duration)
    }

    /// Keys of requests before this instant have expired at `now`; `None` when none can have
    /// (a retention reaching back past the start of the calendar).
    pub fn expired_before(self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        now.checked_sub(self.0)
    }
}

/// The answer to a request whose key a concurrent request still holds, after waiting as long as
/// storage lets a statement wait: retry in [`RETRY_AFTER_SECS`] to get its result.
pub fn still_in_progress() -> DomainError {
    DomainError::InProgress { retry_after_secs: RETRY_AFTER_SECS }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert!(IdempotencyKey::parse("idempotencyKey", "0193b0a4-7c1e-7d2a-9f00-1c2d3e4f5a6b").is_ok());
        assert!(IdempotencyKey::parse("idempotencyKey", &"x".repeat(MAX_KEY_LEN)).is_ok());
        for bad in ["", "with space", "tab\t", "é", &"x".repeat(MAX_KEY_LEN + 1)] {
            assert!(IdempotencyKey::parse("idempotencyKey", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn operation_names_are_distinct_and_fit_their_column() {
        let names: std::collections::HashSet<&str> = Operation::ALL.iter().map(|o| o.as_str()).collect();

        assert_eq!(names.len(), Operation::ALL.len());
        assert!(names.iter().all(|name| (1..=MAX_OPERATION_LEN).contains(&name.len())), "{names:?}");
    }

    #[test]
    fn keys_expire_a_retention_after_their_request() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(2);

        assert_eq!(Retention::DEFAULT.expired_before(now), Some(now - Duration::hours(24)));
        assert_eq!(Retention::new(Duration::seconds(1)).expired_before(now), Some(now - Duration::seconds(1)));
        assert_eq!(Retention::new(Duration::MAX).expired_before(now), None);
    }
}
