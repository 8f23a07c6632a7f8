//! The one error type of the domain layer.
//!
//! Variants say what happened in business terms. Whether a failure is the caller's to fix
//! (a user error) or the operator's (unavailable, internal) is decided here, once, so the API
//! layer only translates.

use std::error::Error as StdError;
use std::fmt;

use crate::auth::permissions::Permission;

/// A boxed source error, kept for logs and never shown to clients.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Everything a use-case can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// No credential, or one that is expired, malformed or revoked; the reason is safe to show.
    #[error("authentication required: {0}")]
    Unauthenticated(&'static str),
    /// Authenticated, but without the permission the operation needs.
    #[error("missing permission {needed}")]
    Forbidden {
        /// The permission that was checked.
        needed: Permission,
    },
    /// An idempotency key was used before with a different request.
    #[error("this idempotency key was already used with a different request")]
    IdempotencyKeyReused,
    /// Too many attempts; retry after this many seconds.
    #[error("too many attempts; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// The object does not exist, or belongs to another tenant: the two are indistinguishable.
    #[error("not found")]
    NotFound,
    /// Input that breaks a rule, naming the offending field.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Input with several fields that break rules, each named; checked all at once so the
    /// caller can fix them in one go. Never empty.
    #[error("{}", .0.iter().map(Invalid::to_string).collect::<Vec<_>>().join("; "))]
    InvalidFields(Vec<Invalid>),
    /// The change lost a race or was based on stale data; retrying with fresh data may succeed.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A concurrent request with the same idempotency key is still running; sending this one
    /// again after the delay replays its result.
    #[error("a request with this idempotency key is still in progress; retry in {retry_after_secs} s")]
    InProgress {
        /// Seconds until a retry is likely to find the first request finished.
        retry_after_secs: u64,
    },
    /// The transaction lost a race the database broke (a deadlock, a serialization failure, a
    /// busy lock); running the whole use-case again is safe and usually succeeds.
    #[error("transaction aborted by contention")]
    Contention(#[source] BoxError),
    /// A dependency (database, payment processor) cannot be reached right now; retry later.
    #[error("service unavailable")]
    Unavailable(#[source] BoxError),
    /// The payment processor is failing (its circuit breaker is open, or it could not be
    /// reached): nothing was charged or refunded; retry after this many seconds.
    #[error("the payment processor is unavailable; retry in {retry_after_secs} s")]
    ProcessorUnavailable {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// A bug or an unexpected state; details go to the log, never to the client.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl DomainError {
    /// Wraps an unexpected failure; its text is logged, never returned to a client.
    pub fn internal(source: impl Into<BoxError>) -> Self {
        DomainError::Internal(source.into())
    }

    /// Wraps a failure of an unreachable dependency.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        DomainError::Unavailable(source.into())
    }

    /// Wraps a failure that a retry of the whole transaction resolves.
    pub fn contention(source: impl Into<BoxError>) -> Self {
        DomainError::Contention(source.into())
    }

    /// Every field that failed its check, as one error: `Invalid` for one field,
    /// `InvalidFields` for several; an empty list is a bug and becomes `Internal`.
    pub fn invalid_fields(mut fields: Vec<Invalid>) -> Self {
        match fields.len() {
            0 => DomainError::internal("a rejection listed no invalid field"),
            1 => fields.pop().map_or_else(|| DomainError::internal("no invalid field"), DomainError::Invalid),
            _ => DomainError::InvalidFields(fields),
        }
    }

    /// Whether the caller can fix this by changing the request (a `userErrors` entry).
    pub fn is_user_error(&self) -> bool {
        matches!(self, DomainError::Invalid(_) | DomainError::InvalidFields(_))
    }
}

/// A value that must be unique and was already taken: what storage reports when a unique
/// constraint refuses a write, naming only the constraint. The outcome, field and wording a
/// client sees are chosen here, by its conversion into [`DomainError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    /// A tenant's slug (unique across tenants).
    TenantSlug,
    /// A member's email (unique in the tenant).
    MemberEmail,
    /// A product's SKU (unique in the tenant).
    ProductSku,
    /// A location's code (unique in the tenant).
    LocationCode,
}

impl From<Taken> for DomainError {
    /// `Invalid` (`TAKEN`) on the field the client typed.
    fn from(taken: Taken) -> Self {
        let (field, message) = match taken {
            Taken::TenantSlug => ("slug", "this slug is taken; choose another"),
            Taken::MemberEmail => ("email", "a member with this email already exists"),
            Taken::ProductSku => ("sku", "a product with this SKU already exists"),
            Taken::LocationCode => ("code", "a location with this code already exists"),
        };
        Invalid::with_code(field, "TAKEN", message).into()
    }
}

/// An input that breaks a rule: which field, a stable code and a message a person can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    field: Vec<String>,
    code: &'static str,
    message: String,
}

impl Invalid {
    /// A rejection of `field` (a dotted path such as `lines.2.quantity`) with code `INVALID`.
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Invalid::with_code(field, "INVALID", message)
    }

    /// A rejection with a specific stable code (`INSUFFICIENT_STOCK`, `TAKEN`, …).
    pub fn with_code(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        let field = field.split('.').filter(|part| !part.is_empty()).map(str::to_owned).collect();
        Invalid { field, code, message: message.into() }
    }

    /// The path of the offending input field, outermost first.
    pub fn field(&self) -> &[String] {
        &self.field
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human-readable explanation.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field.join("."), self.message)
    }
}

impl StdError for Invalid {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_field_path_is_split_on_dots() {
        let invalid = Invalid::new("lines.2.quantity", "must be at least 1");

        assert_eq!(invalid.field(), ["lines", "2", "quantity"]);
        assert_eq!(invalid.code(), "INVALID");
        assert_eq!(invalid.to_string(), "lines.2.quantity: must be at least 1");
    }

    #[test]
    fn only_invalid_input_is_a_user_error() {
        assert!(DomainError::from(Invalid::new("sku", "empty")).is_user_error());
        assert!(!DomainError::NotFound.is_user_error());
        assert!(!DomainError::internal("boom").is_user_error());
    }

    #[test]
    fn a_taken_value_is_the_clients_to_change() {
        let sku = DomainError::from(Taken::ProductSku);

        assert!(matches!(&sku, DomainError::Invalid(i) if i.field() == ["sku"] && i.code() == "TAKEN"));
    }

    #[test]
    fn several_invalid_fields_stay_together_and_one_stays_single() {
        let both = DomainError::invalid_fields(vec![Invalid::new("sku", "empty"), Invalid::new("name", "empty")]);
        let one = DomainError::invalid_fields(vec![Invalid::new("sku", "empty")]);

        assert!(both.is_user_error());
        assert_eq!(both.to_string(), "sku: empty; name: empty");
        assert!(matches!(one, DomainError::Invalid(ref i) if i.field() == ["sku"]));
        assert!(matches!(DomainError::invalid_fields(Vec::new()), DomainError::Internal(_)));
    }
}
