//! The API's one error path: every failure leaves as a GraphQL error whose `extensions.code` is
//! one of [`ErrorCode`], or as a `userErrors` entry of a mutation payload.
//!
//! `ApiError` is deliberately not `Display`: async-graphql turns any `Display` error into a bare
//! message without a code, so an `ApiError` can only reach a client through the `From` impl here.
//! Internal failures are logged once, here, and answer `INTERNAL` without any of their text; the
//! HTTP layer adds the request id so an operator can find the log line.

use async_graphql::ErrorExtensions;
use domain::DomainError;

/// The documented codes of top-level GraphQL errors (DESIGN.md, "API conventions").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// No valid credential: missing, expired, malformed or revoked.
    Unauthenticated,
    /// Authenticated, but the permission is missing.
    Forbidden,
    /// Unknown id, or an id of another tenant.
    NotFound,
    /// The request itself is malformed: syntax, validation, variable types, parameters.
    BadUserInput,
    /// A stale version or a lost race; refetch and retry. With `extensions.retryAfter`: a
    /// request with the same idempotency key is still running; send it again then.
    Conflict,
    /// An idempotency key was reused with a different input.
    IdempotencyKeyReused,
    /// Too many requests; `extensions.retryAfter` says when to retry.
    RateLimited,
    /// The operation exceeds the depth or complexity limit.
    QueryTooComplex,
    /// A dependency is down (the database, the payment processor); retry later, after
    /// `extensions.retryAfter` seconds when given.
    ServiceUnavailable,
    /// A bug; `extensions.requestId` identifies the log entry.
    Internal,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::BadUserInput,
        ErrorCode::Conflict,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::RateLimited,
        ErrorCode::QueryTooComplex,
        ErrorCode::ServiceUnavailable,
        ErrorCode::Internal,
    ];

    /// The wire form, as it appears in `extensions.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::QueryTooComplex => "QUERY_TOO_COMPLEX",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

/// The GraphQL face of a failure: a listed code and a message safe to show.
#[derive(Clone, Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    /// An error with a code and a client-facing message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into(), retry_after_secs: None }
    }

    /// Logs `source` once, with its whole chain, and answers a bare `INTERNAL`.
    pub fn internal(source: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %ErrorChain(source), "request failed with an internal error");
        ApiError::new(ErrorCode::Internal, "internal error")
    }

    /// The code this error answers with.
    pub fn code(&self) -> ErrorCode {
        self.code
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        let (code, retry_after) = (err.code, err.retry_after_secs);
        async_graphql::Error::new(err.message).extend_with(|_, ext| {
            ext.set("code", code.as_str());
            if let Some(seconds) = retry_after {
                ext.set("retryAfter", seconds);
            }
        })
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Unauthenticated(reason) => ApiError::new(ErrorCode::Unauthenticated, reason),
            DomainError::NotFound => ApiError::new(ErrorCode::NotFound, "not found"),
            DomainError::Forbidden { needed } => {
                ApiError::new(ErrorCode::Forbidden, format!("this needs the {needed} permission"))
            }
            DomainError::RateLimited { retry_after_secs } => ApiError {
                code: ErrorCode::RateLimited,
                message: format!("too many attempts; retry in {retry_after_secs} seconds"),
                retry_after_secs: Some(retry_after_secs),
            },
            DomainError::Invalid(invalid) => ApiError::new(ErrorCode::BadUserInput, invalid.to_string()),
            err @ DomainError::InvalidFields(_) => ApiError::new(ErrorCode::BadUserInput, err.to_string()),
            DomainError::Conflict(message) => ApiError::new(ErrorCode::Conflict, message),
            DomainError::InProgress { retry_after_secs } => ApiError {
                code: ErrorCode::Conflict,
                message: format!(
                    "a request with this idempotency key is still in progress; retry in {retry_after_secs} seconds for its result"
                ),
                retry_after_secs: Some(retry_after_secs),
            },
            DomainError::IdempotencyKeyReused => ApiError::new(
                ErrorCode::IdempotencyKeyReused,
                "this idempotency key was already used with a different request; use a new key for a new request",
            ),
            DomainError::Unavailable(source) => {
                tracing::warn!(error = %ErrorChain(source.as_ref()), "a dependency is unavailable");
                ApiError::new(ErrorCode::ServiceUnavailable, "service unavailable, retry later")
            }
            DomainError::ProcessorUnavailable { retry_after_secs } => ApiError {
                code: ErrorCode::ServiceUnavailable,
                message: format!(
                    "the payment processor is unavailable; nothing was charged or refunded; retry in {retry_after_secs} seconds with the same idempotency key"
                ),
                retry_after_secs: Some(retry_after_secs),
            },
            DomainError::Contention(source) => {
                tracing::warn!(error = %ErrorChain(source.as_ref()), "contention outlasted the retries");
                ApiError {
                    code: ErrorCode::ServiceUnavailable,
                    message: "too much contention on the same data right now; retry".into(),
                    retry_after_secs: Some(1),
                }
            }
            DomainError::Internal(source) => ApiError::internal(source.as_ref()),
        }
    }
}

/// An expected business failure, reported in a mutation payload's `userErrors`.
#[derive(Clone, Debug, async_graphql::SimpleObject)]
pub struct UserError {
    /// Path to the input field at fault, outermost first (`["lines", "2", "quantity"]`);
    /// empty when the failure concerns the input as a whole (wrong credentials).
    pub field: Vec<String>,
    /// A stable machine-readable code, e.g. `INVALID`, `TAKEN`, `INVALID_CREDENTIALS`.
    pub code: String,
    /// A sentence a person can act on.
    pub message: String,
}

impl From<domain::Invalid> for UserError {
    fn from(invalid: domain::Invalid) -> Self {
        UserError {
            field: invalid.field().to_vec(),
            code: invalid.code().to_owned(),
            message: invalid.message().to_owned(),
        }
    }
}

/// Every invalid field of an input as a `userErrors` entry, in the order they were found.
pub fn user_errors(invalid: Vec<domain::Invalid>) -> Vec<UserError> {
    invalid.into_iter().map(UserError::from).collect()
}

/// Splits a use-case result into a payload: `Ok` fills the object, an `Invalid` (or several)
/// fills `userErrors`, anything else is a top-level error with its code.
///
/// # Errors
/// Every failure that is not the caller's input.
pub fn payload<T, P>(
    result: Result<T, DomainError>,
    ok: impl FnOnce(T) -> P,
    rejected: impl FnOnce(Vec<UserError>) -> P,
) -> Result<P, ApiError> {
    match result {
        Ok(value) => Ok(ok(value)),
        Err(DomainError::Invalid(invalid)) => Ok(rejected(vec![invalid.into()])),
        Err(DomainError::InvalidFields(fields)) => Ok(rejected(user_errors(fields))),
        Err(other) => Err(other.into()),
    }
}

/// Displays an error with its sources, `outer: inner: innermost`, on one log line.
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::Invalid;

    fn code_of(err: DomainError) -> &'static str {
        ApiError::from(err).code().as_str()
    }

    #[test]
    fn each_domain_error_maps_to_its_documented_code() {
        assert_eq!(code_of(DomainError::Unauthenticated("token expired")), "UNAUTHENTICATED");
        assert_eq!(code_of(DomainError::NotFound), "NOT_FOUND");
        assert_eq!(code_of(Invalid::new("sku", "empty").into()), "BAD_USER_INPUT");
        assert_eq!(
            code_of(DomainError::InvalidFields(vec![Invalid::new("sku", "empty"), Invalid::new("name", "empty")])),
            "BAD_USER_INPUT"
        );
        assert_eq!(code_of(DomainError::Conflict("stale version".into())), "CONFLICT");
        assert_eq!(code_of(DomainError::IdempotencyKeyReused), "IDEMPOTENCY_KEY_REUSED");
        assert_eq!(code_of(DomainError::unavailable("connection refused")), "SERVICE_UNAVAILABLE");
        assert_eq!(code_of(DomainError::internal("constraint violated")), "INTERNAL");
    }

    #[test]
    fn a_duplicate_still_in_progress_is_a_conflict_that_says_when_to_retry() {
        let err = ApiError::from(DomainError::InProgress { retry_after_secs: 1 });

        assert_eq!((err.code, err.retry_after_secs), (ErrorCode::Conflict, Some(1)));
        assert_eq!(ApiError::from(DomainError::Conflict("stale version".into())).retry_after_secs, None);
    }

    #[test]
    fn an_internal_error_never_carries_its_source_text() {
        let err = ApiError::from(DomainError::internal("SELECT * FROM secrets failed at /src/db.rs:42"));

        assert_eq!(err.message, "internal error");
    }

    #[test]
    fn codes_are_unique_and_screaming_snake_case() {
        let names: std::collections::HashSet<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();

        assert_eq!(names.len(), ErrorCode::ALL.len());
        assert!(names.iter().all(|n| n.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')));
    }
}
