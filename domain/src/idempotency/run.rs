//! Running a mutation once per key ([`idempotent`]) and forgetting keys after their retention
//! ([`purge_expired_keys`]).

use std::future::Future;

use time::OffsetDateTime;

use super::fingerprint::{Canonical, Fingerprint};
use super::model::{Claim, IdempotencyKey, Retention, still_in_progress};
use crate::auth::{TenantScope, job_scope};
use crate::error::DomainError;
use crate::ports::{Crypto, IdempotencyRepo, Ports, Store, Tx};
use crate::retry::retrying;

/// A result an idempotent mutation stores under its key, and gives back to a repeat.
pub trait Outcome: Sized {
    /// The stored form.
    fn record(&self) -> String;

    /// The result again, from its stored form, read inside the repeat's transaction (an order
    /// is read as it is now; stock levels are given back as they were).
    ///
    /// # Errors
    /// `Internal` for a stored form that does not decode; storage failures.
    fn replay<T: Tx>(
        tx: &T,
        scope: &TenantScope,
        recorded: &str,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Self, DomainError>> + Send;
}

/// Runs `work` in one transaction, at most once per `key` for this operation and caller
/// namespace, and commits it; without a key, simply runs it. Every idempotent mutation goes
/// through here, and a new one (paying an order, a refund) needs only this call, a
/// [`Fingerprint`] for its command and an [`Outcome`] for its result.
///
/// `work` gets the open transaction and hands it back with the result, uncommitted. With a
/// key, the transaction first claims the key, so that:
/// - a repeat of the same request (same [`Canonical`] fingerprint) replays the stored result,
///   and `work` does not run;
/// - a request with another fingerprint is refused;
/// - a concurrent repeat waits at the claim until the first request commits (then replays it)
///   or rolls back (then runs itself), and is never told about the stock the first one took.
///
/// Only successful results are stored: `work`'s error rolls the claim back with everything
/// else, so a failed request can be sent again with its key. A transaction the database
/// aborts for contention is run again whole.
///
/// # Errors
/// `work`'s errors; `IdempotencyKeyReused` for a key used before with another request;
/// `InProgress` when a concurrent request held the key longer than storage lets a statement
/// wait.
pub async fn idempotent<S, C, O, F, Fut>(
    ports: &Ports<S, C>,
    scope: &TenantScope,
    key: Option<&IdempotencyKey>,
    command: &(impl Fingerprint + ?Sized),
    work: F,
) -> Result<O, DomainError>
where
    S: Store,
    C: Crypto,
    O: Outcome,
    F: Fn(S::Tx) -> Fut,
    Fut: Future<Output = Result<(S::Tx, O), DomainError>>,
{
    let claim = key.map(|key| claim_for(ports, key, command));
    let (claim, work) = (&claim, &work);
    retrying(|| async move {
        let tx = ports.store.begin(scope).await?;
        if let Some(claim) = claim
            && let Some(recorded) = tx.claim_idempotency_key(scope, claim, ports.clock.now()).await?
        {
            if recorded.request_hash != claim.fingerprint {
                return Err(DomainError::IdempotencyKeyReused);
            }
            // A claim is committed only with its result; one without is still being written.
            let Some(result) = recorded.result else { return Err(still_in_progress()) };
            let outcome = O::replay(&tx, scope, &result, ports.clock.now()).await?;
            tx.commit().await?;
            return Ok(outcome);
        }
        let (tx, outcome) = work(tx).await?;
        if let Some(claim) = claim {
            tx.complete_idempotency_key(scope, claim, &outcome.record()).await?;
        }
        tx.commit().await?;
        Ok(outcome)
    })
    .await
}

/// The claim a request of `command` makes on `key`: what [`idempotent`] stores, and what a
/// request that must give its key back (nothing happened after all) releases.
pub fn claim_for<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    key: &IdempotencyKey,
    command: &(impl Fingerprint + ?Sized),
) -> Claim {
    Claim {
        operation: command.operation(),
        key: key.clone(),
        fingerprint: ports.crypto.hash_secret(Canonical::of(command).as_str()),
    }
}

/// Deletes, in every tenant (suspended ones too), the keys whose requests are older than
/// `retention`, so that they may be used afresh; returns how many. Runs as Keel's job, one
/// transaction per tenant.
///
/// # Errors
/// The last storage failure, after every other tenant was still purged (the failed ones are
/// retried at the next run).
#[tracing::instrument(name = "idempotency.purge", skip_all)]
pub async fn purge_expired_keys<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    retention: Retention,
) -> Result<u64, DomainError> {
    let Some(before) = retention.expired_before(ports.clock.now()) else { return Ok(0) };
    let (mut purged, mut failure) = (0, None);
    for tenant in ports.store.all_tenants().await? {
        let scope = job_scope(tenant);
        let outcome = async {
            let tx = ports.store.begin(&scope).await?;
            let deleted = tx.purge_idempotency_keys(&scope, before).await?;
            tx.commit().await?;
            Ok::<u64, DomainError>(deleted)
        };
        match outcome.await {
            Ok(deleted) => purged += deleted,
            Err(err) => {
                tracing::warn!(tenant.id = %tenant, error = %err, "purging a tenant's expired idempotency keys failed");
                failure = Some(err);
            }
        }
    }
    if purged > 0 {
        tracing::info!(purged, "purged idempotency keys past their retention");
    }
    failure.map_or(Ok(purged), Err)
}
