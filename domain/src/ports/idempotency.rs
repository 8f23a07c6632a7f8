//! The idempotency repository: stored results of idempotent requests.

use std::future::Future;

use time::OffsetDateTime;

use crate::auth::TenantScope;
use crate::error::DomainError;
use crate::idempotency::{IdempotencyKey, Recorded};

/// Stored results of idempotent requests, per tenant and operation.
pub trait IdempotencyRepo {
    /// What was stored under `key` for `operation`, if anything.
    fn idempotency_record(
        &self,
        scope: &TenantScope,
        operation: &str,
        key: &IdempotencyKey,
    ) -> impl Future<Output = Result<Option<Recorded>, DomainError>> + Send;
    /// Stores a result under `key`. When a concurrent request stored one first, this is
    /// `Conflict` (the transaction is then unusable; the caller retries to replay it).
    fn save_idempotency(
        &self,
        scope: &TenantScope,
        operation: &str,
        key: &IdempotencyKey,
        recorded: &Recorded,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
}
