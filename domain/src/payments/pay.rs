//! Paying an order through the processor ([`pay_order`]), exactly once per idempotency key and
//! at most one live payment per order.
//!
//! The processor is never called inside a database transaction: a first transaction claims
//! the key and writes the payment as `PENDING` (the order's row locked, so paying, cancelling
//! and expiring one order queue); the processor is called with a key derived from the client's;
//! a second transaction settles the answer. A lost answer leaves the payment `PENDING` for the
//! reconciliation job, which asks again with the same processor key, so nothing is charged
//! twice; a call that certainly never reached the processor is undone whole (payment and key),
//! so the client may send it again.

use std::future::Future;

use time::OffsetDateTime;

use super::model::{Payment, PaymentMethod, PaymentStatus, ProcessorKind};
use super::processor::{ChargeRequest, ProcessorError};
use super::settle::settle_charge;
use super::started::Started;
use crate::auth::{Caller, Permission, TenantScope, authorize};
use crate::error::{DomainError, Invalid};
use crate::idempotency::{Canonical, Claim, Fingerprint, IdempotencyKey, Operation, claim_for, idempotent};
use crate::ids::{OrderId, PaymentId};
use crate::orders::{Order, OrderStatus};
use crate::ports::{Crypto, IdempotencyRepo, OrderRepo, PaymentRepo, Ports, Store, Tx};
use crate::retry::retrying;

/// A request to pay an order with a payment method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayOrder {
    /// The order; its total is the amount.
    pub order: OrderId,
    /// The processor's payment method id.
    pub method: PaymentMethod,
}

impl Fingerprint for PayOrder {
    fn operation(&self) -> Operation {
        Operation::PayOrder
    }

    fn write_fields(&self, fields: &mut Canonical) {
        let PayOrder { order, method } = self;
        fields.id("orderId", order.uuid()).text("paymentMethod", method.as_str());
    }
}

/// A payment as its caller sees it after asking for it (or repeating the request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentAttempt {
    /// The payment as it is now: `SUCCEEDED`, `FAILED` (see [`decline`]) or `PENDING`.
    pub payment: Payment,
    /// Its order as it is now, for a caller who may read orders (`orders:read`).
    pub order: Option<Order>,
}

/// The `userErrors` entry of a failed payment: `INSUFFICIENT_FUNDS` or `PAYMENT_DECLINED` on
/// `paymentMethod`, with the processor's message; `None` unless the payment failed.
pub fn decline(payment: &Payment) -> Option<Invalid> {
    let failure = payment.failure.as_ref().filter(|_| payment.status == PaymentStatus::Failed)?;
    let code = if failure.is_insufficient_funds() { "INSUFFICIENT_FUNDS" } else { "PAYMENT_DECLINED" };
    Some(Invalid::with_code(
        "paymentMethod",
        code,
        format!("{} ({}); the order can still be paid with another method", failure.message, failure.code),
    ))
}

/// The processor's idempotency key for the request that `key` made about `subject`: derived
/// from the client's key (and its namespace and operation), so the same client request always
/// reaches the processor under the same key, and different shops, customers or orders never
/// share one.
pub(crate) fn processor_key<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    scope: &TenantScope,
    operation: Operation,
    key: &IdempotencyKey,
    subject: uuid::Uuid,
) -> String {
    let namespace = scope.customer().map_or(scope.tenant().uuid(), |customer| customer.uuid());
    let material = format!("{}/{namespace}/{}/{subject}/{}", scope.tenant(), operation.as_str(), key.as_str());
    format!("keel_{}", ports.crypto.hash_secret(&material).0)
}

/// Undoes a payment or refund request that never reached the processor: deletes what its first
/// transaction wrote with `undo` and gives the client's key back.
pub(crate) async fn give_back<S, C, F, Fut>(
    ports: &Ports<S, C>,
    scope: &TenantScope,
    claim: &Claim,
    undo: F,
) -> Result<(), DomainError>
where
    S: Store,
    C: Crypto,
    F: Fn(S::Tx) -> Fut,
    Fut: Future<Output = Result<S::Tx, DomainError>>,
{
    retrying(|| async {
        let tx = undo(ports.store.begin(scope).await?).await?;
        tx.release_idempotency_key(scope, claim).await?;
        tx.commit().await
    })
    .await
}

/// Pays an order's total with `command.method` through the processor. The order must be
/// `PENDING_PAYMENT` with no payment in flight. On success the payment is `SUCCEEDED` and the
/// order `PAID`, with their events, in one transaction; a decline leaves a `FAILED` payment (see
/// [`decline`]) and the order payable; an unknown outcome (timeout, lost connection, processor
/// error) leaves it `PENDING` until a webhook or the reconciliation job settles it.
///
/// The same key with the same request answers the payment the first request made, as it is now,
/// without calling the processor again (a concurrent repeat waits for the first one's claim and
/// then answers its payment, `PENDING` while the processor is still answering).
///
/// # Errors
/// `Forbidden` without `payments:write`; `NotFound` for an unknown, foreign or (for customers)
/// someone else's order; `Invalid` on `orderId`: `ORDER_NOT_PAYABLE` naming the status,
/// `PAYMENT_IN_PROGRESS` while another payment of the order is pending;
/// `IdempotencyKeyReused`; `ProcessorUnavailable` (retryable, nothing charged and the key given
/// back) while the processor's circuit breaker is open or it cannot be reached.
#[tracing::instrument(name = "payments.pay_order", skip_all, fields(order.id = %command.order))]
pub async fn pay_order<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    command: PayOrder,
    key: IdempotencyKey,
) -> Result<PaymentAttempt, DomainError> {
    let scope = authorize(&caller.actor, Permission::PaymentsWrite)?;
    processor_ready(ports)?;
    let processor = ports.processor.kind();
    let processor_key = processor_key(ports, &scope, Operation::PayOrder, &key, command.order.uuid());
    let (scope_ref, command_ref, processor_key) = (&scope, &command, &processor_key);
    let started = idempotent(ports, &scope, Some(&key), &command, |tx| async move {
        let now = ports.clock.now();
        let order = lock_payable(&tx, scope_ref, command_ref.order).await?;
        let payment = Payment {
            id: PaymentId::new(),
            order: order.id,
            customer: order.customer,
            amount: order.total,
            processor,
            method: command_ref.method.clone(),
            status: PaymentStatus::Pending,
            reference: None,
            processor_key: processor_key.clone(),
            failure: None,
            created_by: scope_ref.actor(),
            created_at: now,
            updated_at: now,
            refunds: Vec::new(),
        };
        tx.insert_payment(scope_ref, &payment).await?;
        Ok((tx, Started::New(payment)))
    })
    .await?;
    let payment = match started {
        Started::Replayed(payment) => return attempt(ports, caller, payment).await,
        Started::New(payment) => payment,
    };
    let request = ChargeRequest {
        payment: payment.id,
        order: payment.order,
        tenant: scope.tenant(),
        amount: payment.amount,
        method: payment.method.clone(),
        idempotency_key: payment.processor_key.clone(),
    };
    let payment = match ports.processor.charge(&request).await {
        Ok(outcome) => settle_charge(ports, &scope, payment.id, &outcome).await?,
        Err(ProcessorError::Unknown { reason }) => {
            tracing::warn!(payment.id = %payment.id, %reason, "the processor's answer to a charge is unknown; the payment stays pending for reconciliation");
            payment
        }
        Err(ProcessorError::NotSent { reason, retry_after_secs }) => {
            tracing::warn!(payment.id = %payment.id, %reason, "a charge did not reach the processor; undoing it");
            let id = payment.id;
            give_back(ports, &scope, &claim_for(ports, &key, &command), |tx| async move {
                tx.delete_payment(scope_ref, id).await?;
                Ok(tx)
            })
            .await?;
            return Err(DomainError::ProcessorUnavailable { retry_after_secs });
        }
    };
    attempt(ports, caller, payment).await
}

/// Locks an order and checks that it may be paid now: `PENDING_PAYMENT`, no payment in flight.
async fn lock_payable<T: Tx>(tx: &T, scope: &TenantScope, id: OrderId) -> Result<Order, DomainError> {
    if !tx.lock_order(scope, id).await? {
        return Err(DomainError::NotFound);
    }
    let order = tx.order(scope, id).await?.ok_or(DomainError::NotFound)?;
    if order.status != OrderStatus::PendingPayment {
        return Err(Invalid::with_code(
            "orderId",
            "ORDER_NOT_PAYABLE",
            format!("the order is {}; only a PENDING_PAYMENT order can be paid", order.status.as_str()),
        )
        .into());
    }
    if let Some(live) = tx.live_payment_of(scope, id).await? {
        return Err(in_flight(&live));
    }
    Ok(order)
}

/// The refusal of a change to an order that has a payment in flight.
pub(crate) fn in_flight(live: &Payment) -> DomainError {
    Invalid::with_code(
        "orderId",
        "PAYMENT_IN_PROGRESS",
        format!("payment {} of this order is {}; wait for it to settle", live.id, live.status.as_str()),
    )
    .into()
}

/// The answer to a payment request: the payment, and its order for a caller who may read it.
async fn attempt<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    payment: Payment,
) -> Result<PaymentAttempt, DomainError> {
    let order = readable_order(ports, caller, payment.order).await?;
    Ok(PaymentAttempt { payment, order })
}

/// Order `id` as it is now, for a caller who may read orders (`orders:read`, customers their
/// own); `None` for one who may not.
pub(crate) async fn readable_order<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: OrderId,
) -> Result<Option<Order>, DomainError> {
    let Ok(read) = authorize(&caller.actor, Permission::OrdersRead) else { return Ok(None) };
    let tx = ports.store.begin_read(&read).await?;
    let order = tx.order(&read, id).await?;
    tx.commit().await?;
    Ok(order)
}

/// Refuses at once, before anything is written, while the processor's circuit breaker is open.
pub(crate) fn processor_ready<S: Store, C: Crypto>(ports: &Ports<S, C>) -> Result<(), DomainError> {
    ports.processor.ready().map_err(|retry_after_secs| DomainError::ProcessorUnavailable { retry_after_secs })
}

/// Records money taken outside Keel for an order (`markOrderPaid`): a `SUCCEEDED` payment of
/// method `MANUAL` for the total, in the caller's transaction, which also moves the order to
/// `PAID` (the reference given stays in the order's history). Refused while another payment of
/// the order is in flight.
pub(crate) async fn record_manual_payment<T: Tx>(
    tx: &T,
    scope: &TenantScope,
    order: &Order,
    now: OffsetDateTime,
) -> Result<Payment, DomainError> {
    if let Some(live) = tx.live_payment_of(scope, order.id).await? {
        return Err(in_flight(&live));
    }
    let id = PaymentId::new();
    let payment = Payment {
        id,
        order: order.id,
        customer: order.customer,
        amount: order.total,
        processor: ProcessorKind::Manual,
        method: PaymentMethod::manual(),
        status: PaymentStatus::Succeeded,
        reference: None,
        processor_key: format!("keel_manual_{}", id.uuid().simple()),
        failure: None,
        created_by: scope.actor(),
        created_at: now,
        updated_at: now,
        refunds: Vec::new(),
    };
    tx.insert_payment(scope, &payment).await?;
    Ok(payment)
}
