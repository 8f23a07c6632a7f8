//! Refunding a payment ([`refund_payment`]) and cancelling a paid order, which refunds it first
//! ([`cancel_paid_order`]).
//!
//! As for a charge, the processor is called between two transactions: the first locks the
//! order and the payment, checks that the amount is still refundable (succeeded refunds and
//! refunds in flight both count, so concurrent refunds of one payment queue on its row and can
//! never together exceed what was captured) and writes the refund as `PENDING`; the second
//! settles the processor's answer. A payment of method `MANUAL` is refunded without a processor:
//! the money goes back the way it came, outside Keel.

use time::OffsetDateTime;

use super::model::{Payment, PaymentStatus, ProcessorKind, Refund};
use super::pay::{give_back, in_flight, processor_key, processor_ready, readable_order};
use super::processor::{ProcessorError, RefundRequest, Refunded};
use super::settle::{lock_payment_and_order, settle_refund};
use super::started::Started;
use crate::auth::{Caller, Permission, TenantScope, authorize};
use crate::error::{DomainError, Invalid};
use crate::idempotency::{Canonical, Fingerprint, IdempotencyKey, Operation, claim_for, idempotent};
use crate::ids::{OrderId, PaymentId, RefundId};
use crate::money::{Currency, Money};
use crate::orders::{Order, OrderStatus};
use crate::ports::{Crypto, OrderRepo, PaymentRepo, Ports, Store, Tx};
use crate::retry::retrying;
use crate::text::parse_note;

/// A request to refund a payment: all that is left of it, or `amount`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundPayment {
    /// The payment.
    pub payment: PaymentId,
    /// How much, as typed (`amount`, `currencyCode`); `None` refunds the rest.
    pub amount: Option<(String, String)>,
    /// Why, up to 500 characters.
    pub reason: Option<String>,
}

impl RefundPayment {
    /// Checks the reason; the amount is checked against the payment's currency in the use-case.
    ///
    /// # Errors
    /// `Invalid` on `reason` for one over 500 characters.
    pub fn parse(
        payment: PaymentId,
        amount: Option<(String, String)>,
        reason: Option<&str>,
    ) -> Result<RefundPayment, Invalid> {
        Ok(RefundPayment { payment, amount, reason: parse_note("reason", reason)? })
    }
}

impl Fingerprint for RefundPayment {
    fn operation(&self) -> Operation {
        Operation::RefundPayment
    }

    fn write_fields(&self, fields: &mut Canonical) {
        let RefundPayment { payment, amount, reason } = self;
        fields.id("paymentId", payment.uuid());
        match amount {
            Some((amount, currency)) => fields.text("amount.amount", amount).text("amount.currencyCode", currency),
            None => fields.optional_text("amount", None),
        };
        fields.optional_text("reason", reason.as_deref());
    }
}

/// A refund as its caller sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundAttempt {
    /// The refund as it is now: `SUCCEEDED`, `FAILED` (see [`refund_failure`]) or `PENDING`.
    pub refund: Refund,
    /// Its payment as it is now, with every refund.
    pub payment: Payment,
    /// The order as it is now, for a caller who may read orders.
    pub order: Option<Order>,
}

/// The `userErrors` entry of a failed refund (`REFUND_FAILED` with the processor's words);
/// `None` unless it failed.
pub fn refund_failure(refund: &Refund) -> Option<Invalid> {
    let failure = refund.failure.as_ref().filter(|_| refund.status == PaymentStatus::Failed)?;
    Some(Invalid::with_code(
        "paymentId",
        "REFUND_FAILED",
        format!("the processor refused the refund: {} ({})", failure.message, failure.code),
    ))
}

/// Parses a typed refund amount in the payment's currency.
fn parse_amount((amount, currency): &(String, String), payment_currency: Currency) -> Result<Money, DomainError> {
    let typed = Currency::parse("amount.currencyCode", currency)?;
    if typed != payment_currency {
        return Err(Invalid::with_code(
            "amount.currencyCode",
            "CURRENCY_MISMATCH",
            format!("the payment is in {}", payment_currency.code()),
        )
        .into());
    }
    Ok(Money::parse("amount.amount", amount, payment_currency)?)
}

/// A new `PENDING` refund of `amount` (the rest when `None`) of `payment`, checked against what
/// is still refundable.
fn new_refund(
    payment: &Payment,
    amount: Option<Money>,
    reason: Option<String>,
    cancels_order: bool,
    processor_key: String,
    scope: &TenantScope,
    now: OffsetDateTime,
) -> Result<Refund, DomainError> {
    if payment.status != PaymentStatus::Succeeded {
        return Err(Invalid::with_code(
            "paymentId",
            "PAYMENT_NOT_REFUNDABLE",
            format!("the payment is {}; only a SUCCEEDED payment can be refunded", payment.status.as_str()),
        )
        .into());
    }
    let refundable = payment.refundable();
    if refundable.minor() == 0 {
        let message = if payment.refunds.iter().any(|r| r.status == PaymentStatus::Pending) {
            "the rest of this payment is being refunded; wait for that refund to settle"
        } else {
            "this payment was refunded in full"
        };
        return Err(Invalid::with_code("paymentId", "ALREADY_REFUNDED", message).into());
    }
    let amount = amount.unwrap_or(refundable);
    if amount.minor() <= 0 {
        return Err(Invalid::new("amount.amount", "must be more than zero").into());
    }
    if amount.minor() > refundable.minor() {
        return Err(Invalid::with_code(
            "amount.amount",
            "REFUND_EXCEEDS_AVAILABLE",
            format!("at most {refundable} {} can still be refunded", refundable.currency().code()),
        )
        .into());
    }
    Ok(Refund {
        id: RefundId::new(),
        payment: payment.id,
        amount,
        reason,
        status: PaymentStatus::Pending,
        reference: None,
        processor_key,
        failure: None,
        cancels_order,
        created_by: scope.actor(),
        created_at: now,
        updated_at: now,
    })
}

/// Refunds a `SUCCEEDED` payment, in full (`amount` omitted: the rest) or in part. The sum of
/// refunds never exceeds what was captured, also under concurrent refunds. On success the order
/// becomes `PARTIALLY_REFUNDED` or `REFUNDED` (an order refunded in full before it shipped
/// releases its stock); a processor refusal leaves a `FAILED` refund ([`refund_failure`]); an
/// unknown outcome leaves it `PENDING` for the reconciliation job. Idempotent per key like
/// `payOrder`.
///
/// # Errors
/// `Forbidden` without `payments:refund`; `NotFound` for an unknown or foreign payment;
/// `Invalid`: `PAYMENT_NOT_REFUNDABLE`, `ALREADY_REFUNDED`, `REFUND_EXCEEDS_AVAILABLE`,
/// `CURRENCY_MISMATCH`, a bad amount or reason; `IdempotencyKeyReused`; `ProcessorUnavailable`.
#[tracing::instrument(name = "payments.refund_payment", skip_all, fields(payment.id = %command.payment))]
pub async fn refund_payment<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    command: RefundPayment,
    key: IdempotencyKey,
) -> Result<RefundAttempt, DomainError> {
    let scope = authorize(&caller.actor, Permission::PaymentsRefund)?;
    let payment = {
        let tx = ports.store.begin_read(&scope).await?;
        let payment = tx.payment(&scope, command.payment).await?;
        tx.commit().await?;
        payment.ok_or(DomainError::NotFound)?
    };
    let amount = command.amount.as_ref().map(|typed| parse_amount(typed, payment.amount.currency())).transpose()?;
    if payment.processor != ProcessorKind::Manual {
        processor_ready(ports)?;
    }
    let processor_key = processor_key(ports, &scope, Operation::RefundPayment, &key, payment.id.uuid());
    let (scope_ref, command_ref, processor_key) = (&scope, &command, &processor_key);
    let started = idempotent(ports, &scope, Some(&key), &command, |tx| async move {
        let payment = lock_payment_and_order(&tx, scope_ref, command_ref.payment).await?;
        let refund = new_refund(
            &payment,
            amount,
            command_ref.reason.clone(),
            false,
            processor_key.clone(),
            scope_ref,
            ports.clock.now(),
        )?;
        tx.insert_refund(scope_ref, &refund).await?;
        Ok((tx, Started::New(refund)))
    })
    .await?;
    let refund = match started {
        Started::Replayed(refund) => refund,
        Started::New(refund) => {
            let claim = claim_for(ports, &key, &command);
            match send_refund(ports, &scope, &payment, &refund).await {
                Ok(settled) => settled,
                Err(Unsent { retry_after_secs }) => {
                    let id = refund.id;
                    give_back(ports, &scope, &claim, |tx| async move {
                        tx.delete_refund(scope_ref, id).await?;
                        Ok(tx)
                    })
                    .await?;
                    return Err(DomainError::ProcessorUnavailable { retry_after_secs });
                }
            }
        }
    };
    refund_attempt(ports, caller, &scope, refund).await
}

/// A refund that never reached the processor.
pub(crate) struct Unsent {
    retry_after_secs: u64,
}

/// Sends `refund` of `payment` to the processor (or, for a manual payment, settles it at once)
/// and settles the answer; an unknown outcome leaves it `PENDING`.
pub(crate) async fn send_refund<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    scope: &TenantScope,
    payment: &Payment,
    refund: &Refund,
) -> Result<Refund, Unsent> {
    let answer = match (payment.processor, &payment.reference) {
        (ProcessorKind::Manual, _) => {
            Ok(Refunded::Succeeded { reference: format!("manual_{}", refund.id.uuid().simple()) })
        }
        (_, Some(charge)) => {
            let request = RefundRequest {
                refund: refund.id,
                payment: payment.id,
                tenant: scope.tenant(),
                charge_reference: charge.clone(),
                amount: refund.amount,
                idempotency_key: refund.processor_key.clone(),
            };
            ports.processor.refund(&request).await
        }
        (_, None) => Err(ProcessorError::Unknown { reason: "the payment has no processor reference".into() }),
    };
    let outcome = match answer {
        Ok(outcome) => outcome,
        Err(ProcessorError::Unknown { reason }) => {
            tracing::warn!(refund.id = %refund.id, %reason, "the processor's answer to a refund is unknown; it stays pending for reconciliation");
            return Ok(refund.clone());
        }
        Err(ProcessorError::NotSent { reason, retry_after_secs }) => {
            tracing::warn!(refund.id = %refund.id, %reason, "a refund did not reach the processor; undoing it");
            return Err(Unsent { retry_after_secs });
        }
    };
    match settle_refund(ports, scope, payment.id, refund.id, &outcome).await {
        Ok(settled) => Ok(settled),
        Err(error) => {
            // The processor answered but the answer could not be stored: reconciliation asks
            // again with the same key and settles it.
            tracing::warn!(refund.id = %refund.id, %error, "a refund's answer could not be stored; it stays pending for reconciliation");
            Ok(refund.clone())
        }
    }
}

async fn refund_attempt<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    scope: &TenantScope,
    refund: Refund,
) -> Result<RefundAttempt, DomainError> {
    let tx = ports.store.begin_read(scope).await?;
    let payment = tx.payment(scope, refund.payment).await?.ok_or(DomainError::NotFound)?;
    tx.commit().await?;
    let order = readable_order(ports, caller, payment.order).await?;
    Ok(RefundAttempt { refund, payment, order })
}

/// What cancelling a paid order did.
pub(crate) enum PaidCancellation {
    /// The order had no payment record (paid before payments were recorded): cancel it as is.
    NoPayment,
    /// The refund succeeded and the order is cancelled.
    Cancelled(Box<Order>),
}

/// Cancels a `PAID` order by refunding the rest of its payment first: when the refund succeeds
/// the order is `CANCELLED` and its stock released, in the refund's settling transaction.
///
/// # Errors
/// `Forbidden` without `payments:refund`; `Invalid` on `orderId`: `REFUND_FAILED` with the
/// processor's words (the order stays `PAID`), `REFUND_PENDING` when the refund's outcome is
/// not known yet (the order is cancelled when it settles), `PAYMENT_IN_PROGRESS` while a refund
/// of the payment is in flight; `ProcessorUnavailable` (nothing refunded, the order stays
/// `PAID`).
pub(crate) async fn cancel_paid_order<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    order: OrderId,
    reason: Option<String>,
) -> Result<PaidCancellation, DomainError> {
    let scope = authorize(&caller.actor, Permission::PaymentsRefund)?;
    let prepared = retrying(|| async {
        let tx = ports.store.begin(&scope).await?;
        if !tx.lock_order(&scope, order).await? {
            return Err(DomainError::NotFound);
        }
        let current = tx.order(&scope, order).await?.ok_or(DomainError::NotFound)?;
        current.status.transition_to(OrderStatus::Cancelled, "orderId")?;
        let Some(live) = tx.live_payment_of(&scope, order).await? else { return Ok(None) };
        let payment = tx.lock_payment(&scope, live.id).await?.ok_or(DomainError::NotFound)?;
        if payment.status != PaymentStatus::Succeeded
            || payment.refunds.iter().any(|r| r.status == PaymentStatus::Pending)
        {
            return Err(in_flight(&payment));
        }
        if payment.processor != ProcessorKind::Manual {
            processor_ready(ports)?;
        }
        let id = RefundId::new();
        let key = format!("keel_cancel_{}", id.uuid().simple());
        let refund = new_refund(&payment, None, reason.clone(), true, key, &scope, ports.clock.now())?;
        tx.insert_refund(&scope, &refund).await?;
        tx.commit().await?;
        Ok(Some((payment, refund)))
    })
    .await?;
    let Some((payment, refund)) = prepared else { return Ok(PaidCancellation::NoPayment) };
    let settled = match send_refund(ports, &scope, &payment, &refund).await {
        Ok(settled) => settled,
        Err(Unsent { retry_after_secs }) => {
            let id = refund.id;
            let scope_ref = &scope;
            retrying(|| async move {
                let tx = ports.store.begin(scope_ref).await?;
                tx.delete_refund(scope_ref, id).await?;
                tx.commit().await
            })
            .await?;
            return Err(DomainError::ProcessorUnavailable { retry_after_secs });
        }
    };
    match settled.status {
        PaymentStatus::Succeeded => {
            let tx = ports.store.begin_read(&scope).await?;
            let cancelled = tx.order(&scope, order).await?.ok_or(DomainError::NotFound)?;
            tx.commit().await?;
            Ok(PaidCancellation::Cancelled(Box::new(cancelled)))
        }
        PaymentStatus::Failed => {
            let why = refund_failure(&settled).map(|invalid| invalid.message().to_owned()).unwrap_or_default();
            Err(Invalid::with_code("orderId", "REFUND_FAILED", format!("{why}; the order stays PAID")).into())
        }
        PaymentStatus::Pending => Err(Invalid::with_code(
            "orderId",
            "REFUND_PENDING",
            "the refund was sent but its outcome is not known yet; the order stays PAID until it succeeds, then it is cancelled",
        )
        .into()),
    }
}
