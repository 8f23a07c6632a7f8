//! Settling what a processor said, inside an open transaction: a charge's outcome moves its
//! payment (and, on success, the order to `PAID`); a refund's outcome moves the refund (and,
//! on success, the order to `PARTIALLY_REFUNDED`, `REFUNDED` or, for a cancellation,
//! `CANCELLED`). Every path that learns an outcome (the request that charged, the
//! reconciliation job, the processor's webhooks) settles through here, so each outcome is
//! applied once: every write is a compare-and-set on `PENDING`.
//!
//! Lock order, everywhere: the order's row, then the payment's.

use time::OffsetDateTime;

use super::model::{Payment, PaymentStatus, Refund};
use super::processor::{Charged, Refunded};
use crate::auth::{ActorRef, TenantScope};
use crate::error::DomainError;
use crate::events::{DomainEvent, OutboxEvent, PaymentEvent, RefundEvent};
use crate::ids::{PaymentId, RefundId};
use crate::orders::{OrderStatus, apply_transition};
use crate::ports::{Crypto, Ports, Store, Tx};
use crate::retry::retrying;

/// Locks `id`'s order and then the payment itself, and reads the payment.
pub(crate) async fn lock_payment_and_order<T: Tx>(
    tx: &T,
    scope: &TenantScope,
    id: PaymentId,
) -> Result<Payment, DomainError> {
    let payment = tx.payment(scope, id).await?.ok_or(DomainError::NotFound)?;
    tx.lock_order(scope, payment.order).await?;
    tx.lock_payment(scope, id).await?.ok_or(DomainError::NotFound)
}

/// Applies a charge's outcome to `payment` (read under the locks of
/// [`lock_payment_and_order`]); returns the payment as it is now.
pub(crate) async fn settle_charge_in<T: Tx>(
    tx: &T,
    scope: &TenantScope,
    payment: Payment,
    outcome: &Charged,
    now: OffsetDateTime,
) -> Result<Payment, DomainError> {
    let id = payment.id;
    match outcome {
        Charged::Succeeded { reference } => {
            if tx.settle_payment(scope, id, PaymentStatus::Succeeded, Some(reference), None, now).await? {
                let order = tx.order(scope, payment.order).await?.ok_or(DomainError::NotFound)?;
                if order.status == OrderStatus::PendingPayment {
                    let reason = Some(format!("paid by {}", payment.method.as_str()));
                    apply_transition(tx, scope, order, OrderStatus::Paid, reason, now).await?;
                } else {
                    // Paying, cancelling and expiring an order queue on its row and none closes an
                    // order with a live payment, so this is not expected; should it happen, the
                    // money goes back rather than stay on a closed order.
                    tracing::error!(payment.id = %id, order.id = %payment.order, status = order.status.as_str(),
                        "a payment succeeded for an order that is no longer payable; refunding it");
                    let refund_id = RefundId::new();
                    let refund = Refund {
                        id: refund_id,
                        payment: id,
                        amount: payment.amount,
                        reason: Some("the order was closed before its payment succeeded".to_owned()),
                        status: PaymentStatus::Pending,
                        reference: None,
                        processor_key: format!("keel_refund_{}", refund_id.uuid().simple()),
                        failure: None,
                        cancels_order: false,
                        created_by: ActorRef::System,
                        created_at: now,
                        updated_at: now,
                    };
                    tx.insert_refund(scope, &refund).await?;
                }
                let settled = Payment { status: PaymentStatus::Succeeded, ..payment.clone() };
                crate::outbox::publish(
                    tx,
                    scope,
                    &[OutboxEvent::new(DomainEvent::Payment(PaymentEvent::of(&settled)), now)],
                )
                .await?;
            }
        }
        Charged::Pending { reference } => {
            tx.settle_payment(scope, id, PaymentStatus::Pending, Some(reference), None, now).await?;
        }
        Charged::Declined { reference, failure } => {
            let failed =
                tx.settle_payment(scope, id, PaymentStatus::Failed, reference.as_deref(), Some(failure), now).await?;
            if failed {
                let settled = Payment { status: PaymentStatus::Failed, ..payment.clone() };
                crate::outbox::publish(
                    tx,
                    scope,
                    &[OutboxEvent::new(DomainEvent::Payment(PaymentEvent::of(&settled)), now)],
                )
                .await?;
            }
        }
    }
    tx.payment(scope, id).await?.ok_or(DomainError::NotFound)
}

/// Applies a charge's outcome in a transaction of its own; returns the payment as it is now.
pub(crate) async fn settle_charge<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    scope: &TenantScope,
    id: PaymentId,
    outcome: &Charged,
) -> Result<Payment, DomainError> {
    retrying(|| async {
        let tx = ports.store.begin(scope).await?;
        let payment = lock_payment_and_order(&tx, scope, id).await?;
        let settled = settle_charge_in(&tx, scope, payment, outcome, ports.clock.now()).await?;
        tx.commit().await?;
        Ok(settled)
    })
    .await
}

/// Applies a refund's outcome to `refund` of `payment` (both read under the locks of
/// [`lock_payment_and_order`]); returns the refund as it is now.
pub(crate) async fn settle_refund_in<T: Tx>(
    tx: &T,
    scope: &TenantScope,
    payment: &Payment,
    refund: &Refund,
    outcome: &Refunded,
    now: OffsetDateTime,
) -> Result<Refund, DomainError> {
    let id = refund.id;
    let (status, reference, failure) = match outcome {
        Refunded::Succeeded { reference } => (PaymentStatus::Succeeded, Some(reference.as_str()), None),
        Refunded::Pending { reference } => (PaymentStatus::Pending, Some(reference.as_str()), None),
        Refunded::Failed { reference, failure } => (PaymentStatus::Failed, reference.as_deref(), Some(failure)),
    };
    let changed = tx.settle_refund(scope, id, status, reference, failure, now).await?;
    if changed && status != PaymentStatus::Pending {
        let settled = Refund { status, ..refund.clone() };
        crate::outbox::publish(
            tx,
            scope,
            &[OutboxEvent::new(DomainEvent::Refund(RefundEvent::of(&settled, payment.order)), now)],
        )
        .await?;
        if status == PaymentStatus::Succeeded {
            follow_refund(tx, scope, payment, refund, now).await?;
        }
    }
    tx.refund(scope, id).await?.ok_or(DomainError::NotFound)
}

/// Moves the order of `payment` after `refund` succeeded: a cancellation's refund cancels it
/// (releasing its stock); otherwise it is `REFUNDED` once refunds cover the payment and
/// `PARTIALLY_REFUNDED` before.
async fn follow_refund<T: Tx>(
    tx: &T,
    scope: &TenantScope,
    payment: &Payment,
    refund: &Refund,
    now: OffsetDateTime,
) -> Result<(), DomainError> {
    let order = tx.order(scope, payment.order).await?.ok_or(DomainError::NotFound)?;
    let refunded = payment
        .refunds
        .iter()
        .filter(|r| r.status == PaymentStatus::Succeeded && r.id != refund.id)
        .map(|r| r.amount.minor())
        .sum::<i64>()
        .saturating_add(refund.amount.minor());
    let target = if refund.cancels_order && order.status == OrderStatus::Paid {
        OrderStatus::Cancelled
    } else if refunded >= payment.amount.minor() {
        OrderStatus::Refunded
    } else {
        OrderStatus::PartiallyRefunded
    };
    if order.status.can_become(target) {
        let reason = refund.reason.clone().or_else(|| Some(format!("refunded {}", refund.amount)));
        apply_transition(tx, scope, order, target, reason, now).await?;
    }
    Ok(())
}

/// Applies a refund's outcome in a transaction of its own; returns the refund as it is now.
pub(crate) async fn settle_refund<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    scope: &TenantScope,
    payment: PaymentId,
    id: RefundId,
    outcome: &Refunded,
) -> Result<Refund, DomainError> {
    retrying(|| async {
        let tx = ports.store.begin(scope).await?;
        let payment = lock_payment_and_order(&tx, scope, payment).await?;
        let refund = payment.refunds.iter().find(|r| r.id == id).cloned().ok_or(DomainError::NotFound)?;
        let settled = settle_refund_in(&tx, scope, &payment, &refund, outcome, ports.clock.now()).await?;
        tx.commit().await?;
        Ok(settled)
    })
    .await
}
