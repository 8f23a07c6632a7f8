//! The idempotency repository: the keys of idempotent requests, their fingerprints and results.

use std::future::Future;

use time::OffsetDateTime;

use crate::auth::TenantScope;
use crate::error::DomainError;
use crate::idempotency::{Claim, Recorded};

/// Keys of idempotent requests, per tenant, operation and namespace: a customer's keys are
/// their own (`scope.customer()`), everyone else's are the tenant's.
pub trait IdempotencyRepo {
    /// Claims the key for this transaction's request: records its fingerprint, with no result
    /// yet, unless a record exists. `None` means the key is now this transaction's; otherwise
    /// the record an earlier request left. A record another transaction is still writing is
    /// waited for: its commit makes it the answer, its rollback makes the claim succeed. The
    /// claim should be the transaction's first write, so no lock is held while waiting.
    ///
    /// # Errors
    /// `InProgress` when the wait outlasts what storage lets a statement wait.
    fn claim_idempotency_key(
        &self,
        scope: &TenantScope,
        claim: &Claim,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<Recorded>, DomainError>> + Send;

    /// Stores the result of the request that claimed the key in this transaction.
    fn complete_idempotency_key(
        &self,
        scope: &TenantScope,
        claim: &Claim,
        result: &str,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;

    /// Deletes the claim this request committed earlier, so that the key may be sent again: for a
    /// request that committed its claim, then found that nothing happened (the payment processor
    /// could not be reached).
    fn release_idempotency_key(
        &self,
        scope: &TenantScope,
        claim: &Claim,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;

    /// Deletes the tenant's keys claimed before `before`; returns how many.
    fn purge_idempotency_keys(
        &self,
        scope: &TenantScope,
        before: OffsetDateTime,
    ) -> impl Future<Output = Result<u64, DomainError>> + Send;
}
