//! The reconciliation job ([`reconcile`]): asks the processor about every payment and refund
//! still `PENDING` some time after it was sent, and settles what it answers. A payment the
//! processor named is looked up by its reference; one whose answer was lost is sent again with
//! its own processor key, which the processor answers with the first request's result, so
//! nothing is charged twice.

use time::Duration;

use super::model::PaymentStatus;
use super::processor::ChargeRequest;
use super::refund::send_refund;
use super::settle::settle_charge;
use crate::auth::{TenantScope, job_scope};
use crate::error::DomainError;
use crate::ids::{PaymentId, RefundId, TenantId};
use crate::ports::{Crypto, PaymentRepo, Ports, Store, Tx};

/// How many pending payments (and refunds) one run asks about per tenant at most.
const PER_TENANT_AND_RUN: u64 = 200;

/// What one reconciliation run did.
#[derive(Debug, Default)]
pub struct ReconcileRun {
    /// Payments and refunds that reached an outcome.
    pub settled: usize,
    /// Those the processor still calls pending, or could not answer about.
    pub still_pending: usize,
    /// Tenants whose pending work could not be read, with why; retried next run.
    pub failures: Vec<(TenantId, DomainError)>,
}

/// Settles every payment and refund, of every tenant, that is still `PENDING` more than
/// `older_than` after it was created. Stops early (leaving the rest for the next run) while the
/// processor's circuit breaker is open. Safe to run in several processes: every settlement is a
/// compare-and-set on `PENDING`.
///
/// # Errors
/// When the tenants cannot be listed.
#[tracing::instrument(name = "payments.reconcile", skip_all)]
pub async fn reconcile<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    older_than: Duration,
) -> Result<ReconcileRun, DomainError> {
    let mut run = ReconcileRun::default();
    let Some(before) = ports.clock.now().checked_sub(older_than) else { return Ok(run) };
    for tenant in ports.store.all_tenants().await? {
        let scope = job_scope(tenant);
        let listed = async {
            let tx = ports.store.begin_read(&scope).await?;
            let payments = tx.pending_payments(&scope, before, PER_TENANT_AND_RUN).await?;
            let refunds = tx.pending_refunds(&scope, before, PER_TENANT_AND_RUN).await?;
            tx.commit().await?;
            Ok::<_, DomainError>((payments, refunds))
        };
        let (payments, refunds) = match listed.await {
            Ok(listed) => listed,
            Err(error) => {
                run.failures.push((tenant, error));
                continue;
            }
        };
        for id in payments {
            if ports.processor.ready().is_err() {
                return Ok(run);
            }
            match reconcile_payment(ports, &scope, id).await {
                Ok(true) => run.settled += 1,
                Ok(false) => run.still_pending += 1,
                Err(error) => {
                    tracing::warn!(payment.id = %id, %error, "a pending payment could not be reconciled");
                    run.still_pending += 1;
                }
            }
        }
        for id in refunds {
            if ports.processor.ready().is_err() {
                return Ok(run);
            }
            match reconcile_refund(ports, &scope, id).await {
                Ok(true) => run.settled += 1,
                Ok(false) => run.still_pending += 1,
                Err(error) => {
                    tracing::warn!(refund.id = %id, %error, "a pending refund could not be reconciled");
                    run.still_pending += 1;
                }
            }
        }
    }
    if run.settled > 0 {
        tracing::info!(settled = run.settled, still_pending = run.still_pending, "reconciled pending payments");
    }
    Ok(run)
}

/// Asks the processor about one pending payment and settles the answer; `true` when it is no
/// longer pending.
async fn reconcile_payment<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    scope: &TenantScope,
    id: PaymentId,
) -> Result<bool, DomainError> {
    let tx = ports.store.begin_read(scope).await?;
    let payment = tx.payment(scope, id).await?;
    tx.commit().await?;
    let Some(payment) = payment else { return Ok(true) };
    if payment.status != PaymentStatus::Pending {
        return Ok(true);
    }
    if payment.processor != ports.processor.kind() {
        tracing::warn!(payment.id = %id, processor = payment.processor.as_str(),
            "a pending payment was sent to another processor than this server's; it cannot be reconciled here");
        return Ok(false);
    }
    let answer = match &payment.reference {
        Some(reference) => ports.processor.lookup(reference).await,
        None => {
            let request = ChargeRequest {
                payment: payment.id,
                order: payment.order,
                tenant: scope.tenant(),
                amount: payment.amount,
                method: payment.method.clone(),
                idempotency_key: payment.processor_key.clone(),
            };
            ports.processor.charge(&request).await
        }
    };
    match answer {
        Ok(outcome) => Ok(settle_charge(ports, scope, id, &outcome).await?.status != PaymentStatus::Pending),
        Err(error) => {
            tracing::info!(payment.id = %id, %error, "the processor could not say how a pending payment ended");
            Ok(false)
        }
    }
}

/// Sends one pending refund again with its own key and settles the answer; `true` when it is no
/// longer pending.
async fn reconcile_refund<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    scope: &TenantScope,
    id: RefundId,
) -> Result<bool, DomainError> {
    let tx = ports.store.begin_read(scope).await?;
    let refund = tx.refund(scope, id).await?;
    let payment = match &refund {
        Some(refund) => tx.payment(scope, refund.payment).await?,
        None => None,
    };
    tx.commit().await?;
    let (Some(refund), Some(payment)) = (refund, payment) else { return Ok(true) };
    if refund.status != PaymentStatus::Pending {
        return Ok(true);
    }
    match send_refund(ports, scope, &payment, &refund).await {
        Ok(settled) => Ok(settled.status != PaymentStatus::Pending),
        Err(_) => Ok(false),
    }
}
