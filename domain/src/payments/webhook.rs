//! The processor's webhooks ([`receive_processor_event`]): each shop has its own URL
//! (`/webhooks/payments/{processor}/{shop slug}`) and its own signing secret. The signature is
//! checked before the body is read as an event; each event is applied once per event id
//! (through the idempotency keys, operation `processorEvent`), and applying one is a
//! compare-and-set on what is still `PENDING`, so a redelivery after the key's retention changes
//! nothing either. Events may arrive in any order: a refund's notice implies that its charge
//! succeeded, so it settles the charge first.
//!
//! Signature scheme (Stripe's): header `Keel-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`
//! where the hex is HMAC-SHA256 under the shop's secret of `"<t>.<raw body>"`; `t` must be
//! within [`SIGNATURE_TOLERANCE_SECS`] of now, and any one `v1` may match (a processor rolling
//! its secret signs with both).

use time::OffsetDateTime;

use super::model::{Payment, PaymentStatus, ProcessorKind, Refund};
use super::processor::{Charged, EventSubject, ProcessorEvent, Refunded};
use super::settle::{settle_charge_in, settle_refund_in};
use crate::auth::{ActorRef, TenantScope, job_scope};
use crate::error::{DomainError, Invalid};
use crate::idempotency::{Canonical, Fingerprint, IdempotencyKey, Operation, Outcome, idempotent};
use crate::identity::Slug;
use crate::ids::RefundId;
use crate::money::Money;
use crate::ports::{Crypto, PaymentRepo, Ports, Store, Tx};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Keel-Signature";

/// How far a signature's timestamp may be from now, either way: 5 minutes.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// What receiving an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookReceipt {
    /// It changed (or confirmed) a payment or refund.
    Applied,
    /// It was received before; nothing changed.
    Duplicate,
    /// It is about nothing Keel acts on (another event type, or a charge Keel did not make).
    Ignored,
}

impl Outcome for WebhookReceipt {
    fn record(&self) -> String {
        match self {
            WebhookReceipt::Applied => "applied",
            WebhookReceipt::Duplicate => "duplicate",
            WebhookReceipt::Ignored => "ignored",
        }
        .to_owned()
    }

    async fn replay<T: Tx>(
        _tx: &T,
        _scope: &TenantScope,
        _recorded: &str,
        _now: OffsetDateTime,
    ) -> Result<WebhookReceipt, DomainError> {
        Ok(WebhookReceipt::Duplicate)
    }
}

/// The fingerprint of an event: its id and type.
struct EventFingerprint<'a>(&'a ProcessorEvent);

impl Fingerprint for EventFingerprint<'_> {
    fn operation(&self) -> Operation {
        Operation::ProcessorEvent
    }

    fn write_fields(&self, fields: &mut Canonical) {
        let ProcessorEvent { id, kind, subject: _ } = self.0;
        fields.text("id", id).text("type", kind);
    }
}

/// Receives one webhook delivery for shop `tenant` (its slug) from `processor` (the URL's
/// segment): checks the signature against the shop's secret, then parses and applies the event
/// once.
///
/// # Errors
/// `NotFound` for another processor than this server's, an unknown shop, or a shop without a
/// webhook secret; `Invalid` on `Keel-Signature` for a missing, malformed, stale or wrong
/// signature (nothing is parsed or changed), on `body` for a body that is not an event;
/// storage failures (the processor delivers again).
#[tracing::instrument(name = "payments.webhook", skip_all, fields(processor, tenant))]
pub async fn receive_processor_event<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    processor: &str,
    tenant: &str,
    signature: Option<&str>,
    body: &[u8],
) -> Result<WebhookReceipt, DomainError> {
    if ProcessorKind::parse(processor) != Some(ports.processor.kind()) {
        return Err(DomainError::NotFound);
    }
    let slug = Slug::parse("tenant", tenant).map_err(|_| DomainError::NotFound)?;
    let shop = ports.store.tenant_by_slug(&slug).await?.ok_or(DomainError::NotFound)?;
    let scope = job_scope(shop.id);
    let settings = {
        let tx = ports.store.begin_read(&scope).await?;
        let settings = tx.payment_settings(&scope).await?;
        tx.commit().await?;
        settings
    };
    let Some(secret) = settings.and_then(|s| s.webhook_secret) else {
        tracing::warn!(tenant = slug.as_str(), "a payment webhook arrived for a shop without a webhook secret");
        return Err(DomainError::NotFound);
    };
    verify_signature(&ports.crypto, &secret, signature, body, ports.clock.now())?;
    let event = ports.processor.parse_event(body).map_err(|problem| Invalid::new("body", problem))?;
    let key = IdempotencyKey::parse("id", &event.id)?;
    let kind = ports.processor.kind();
    let (scope_ref, event_ref) = (&scope, &event);
    let applied = idempotent(ports, &scope, Some(&key), &EventFingerprint(&event), |tx| async move {
        let receipt = apply_event(&tx, scope_ref, kind, event_ref, ports.clock.now()).await?;
        Ok((tx, receipt))
    })
    .await;
    match applied {
        // The same id with another type: the event was received before, whatever it says now.
        Err(DomainError::IdempotencyKeyReused) => Ok(WebhookReceipt::Duplicate),
        other => other,
    }
}

/// Checks a `Keel-Signature` header against `secret` for `body` at `now`.
fn verify_signature<C: Crypto>(
    crypto: &C,
    secret: &str,
    header: Option<&str>,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<(), Invalid> {
    let refuse = |why: &str| Invalid::with_code(SIGNATURE_HEADER, "INVALID_SIGNATURE", why);
    let header = header.ok_or_else(|| refuse("the signature header is missing"))?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| refuse("the signature has no valid timestamp (t=…)"))?;
    if signatures.is_empty() {
        return Err(refuse("the signature has no v1 value"));
    }
    if (now.unix_timestamp() - timestamp).abs() > SIGNATURE_TOLERANCE_SECS {
        return Err(refuse("the signature's timestamp is more than 5 minutes away from now"));
    }
    let mut signed = Vec::with_capacity(body.len() + 21);
    signed.extend_from_slice(timestamp.to_string().as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    if signatures.iter().any(|signature| crypto.hmac_sha256_matches(secret.as_bytes(), &signed, signature)) {
        Ok(())
    } else {
        Err(refuse("no signature matches the shop's webhook secret"))
    }
}

/// The processor's reference a charge outcome names, if any.
fn charge_reference(outcome: &Charged) -> Option<&str> {
    match outcome {
        Charged::Succeeded { reference } | Charged::Pending { reference } => Some(reference),
        Charged::Declined { reference, .. } => reference.as_deref(),
    }
}

/// Applies one event inside `tx`.
async fn apply_event<T: Tx>(
    tx: &T,
    scope: &TenantScope,
    kind: ProcessorKind,
    event: &ProcessorEvent,
    now: OffsetDateTime,
) -> Result<WebhookReceipt, DomainError> {
    match &event.subject {
        EventSubject::Ignored => Ok(WebhookReceipt::Ignored),
        EventSubject::Charge { payment, outcome } => {
            let mut found = match payment {
                Some(id) => tx.payment(scope, *id).await?,
                None => None,
            };
            if found.is_none()
                && let Some(reference) = charge_reference(outcome)
            {
                found = tx.payment_by_reference(scope, kind, reference).await?;
            }
            let Some(payment) = found else { return Ok(WebhookReceipt::Ignored) };
            let payment = lock(tx, scope, &payment).await?;
            settle_charge_in(tx, scope, payment, outcome, now).await?;
            Ok(WebhookReceipt::Applied)
        }
        EventSubject::Refund { refund, charge_reference, amount_minor, outcome } => {
            let Some(payment) = tx.payment_by_reference(scope, kind, charge_reference).await? else {
                return Ok(WebhookReceipt::Ignored);
            };
            let mut payment = lock(tx, scope, &payment).await?;
            let captured_now = payment.status == PaymentStatus::Pending && !matches!(outcome, Refunded::Failed { .. });
            if captured_now {
                // Only a captured charge can be refunded: its confirmation is on its way.
                let captured = Charged::Succeeded { reference: charge_reference.clone() };
                payment = settle_charge_in(tx, scope, payment, &captured, now).await?;
            }
            let reference = match outcome {
                Refunded::Succeeded { reference } | Refunded::Pending { reference } => Some(reference.as_str()),
                Refunded::Failed { reference, .. } => reference.as_deref(),
            };
            let known = payment
                .refunds
                .iter()
                .find(|r| Some(r.id) == *refund || (reference.is_some() && r.reference.as_deref() == reference))
                .cloned();
            match known {
                Some(known) => {
                    settle_refund_in(tx, scope, &payment, &known, outcome, now).await?;
                    Ok(WebhookReceipt::Applied)
                }
                None => match record_outside_refund(tx, scope, &payment, *amount_minor, outcome, now).await? {
                    // The notice settled the charge even when it recorded no refund.
                    WebhookReceipt::Ignored if captured_now => Ok(WebhookReceipt::Applied),
                    receipt => Ok(receipt),
                },
            }
        }
    }
}

/// Locks a payment's order and then the payment, and reads it again.
async fn lock<T: Tx>(tx: &T, scope: &TenantScope, payment: &Payment) -> Result<Payment, DomainError> {
    tx.lock_order(scope, payment.order).await?;
    tx.lock_payment(scope, payment.id).await?.ok_or(DomainError::NotFound)
}

/// Records a refund the shop made in the processor's own dashboard, once it succeeded.
async fn record_outside_refund<T: Tx>(
    tx: &T,
    scope: &TenantScope,
    payment: &Payment,
    amount_minor: i64,
    outcome: &Refunded,
    now: OffsetDateTime,
) -> Result<WebhookReceipt, DomainError> {
    let Refunded::Succeeded { .. } = outcome else { return Ok(WebhookReceipt::Ignored) };
    if amount_minor <= 0 || amount_minor > payment.refundable().minor() {
        tracing::warn!(payment.id = %payment.id, amount_minor, "a processor refund exceeds what Keel shows as refundable; not recorded");
        return Ok(WebhookReceipt::Ignored);
    }
    let refund = Refund {
        id: RefundId::new(),
        payment: payment.id,
        amount: Money::from_minor(amount_minor, payment.amount.currency()),
        reason: Some("refunded at the processor".to_owned()),
        status: PaymentStatus::Pending,
        reference: None,
        processor_key: format!("keel_outside_{}", RefundId::new().uuid().simple()),
        failure: None,
        cancels_order: false,
        created_by: ActorRef::System,
        created_at: now,
        updated_at: now,
    };
    tx.insert_refund(scope, &refund).await?;
    settle_refund_in(tx, scope, payment, &refund, outcome, now).await?;
    Ok(WebhookReceipt::Applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in HMAC: "signature" is the message's length in hex followed by the key, enough
    /// to see which message the check asked about.
    #[derive(Clone)]
    struct Fake;

    impl Crypto for Fake {
        async fn hash_password(
            &self,
            _: &crate::identity::Password,
        ) -> Result<crate::identity::PasswordHash, DomainError> {
            Err(DomainError::internal("unused"))
        }
        async fn verify_password(
            &self,
            _: &crate::identity::Password,
            _: Option<&crate::identity::PasswordHash>,
        ) -> Result<bool, DomainError> {
            Ok(false)
        }
        fn new_secret(&self) -> Result<String, DomainError> {
            Ok(String::new())
        }
        fn hash_secret(&self, secret: &str) -> crate::identity::SecretHash {
            crate::identity::SecretHash(secret.to_owned())
        }
        fn secret_matches(&self, _: &str, _: &crate::identity::SecretHash) -> bool {
            false
        }
        fn hmac_sha256_matches(&self, key: &[u8], message: &[u8], signature: &str) -> bool {
            signature == format!("{:x}{}", message.len(), String::from_utf8_lossy(key)) && message.starts_with(b"1000.")
        }
    }

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds).expect("time")
    }

    #[test]
    fn a_signature_over_the_timestamp_and_body_within_tolerance_passes() {
        let body = b"{}";
        let good = format!("{:x}secret", "1000.{}".len());

        assert!(verify_signature(&Fake, "secret", Some(&format!("t=1000,v1={good}")), body, at(1000)).is_ok());
        assert!(verify_signature(&Fake, "secret", Some(&format!("t=1000,v1=bad,v1={good}")), body, at(1299)).is_ok());
    }

    #[test]
    fn missing_malformed_stale_or_wrong_signatures_are_refused() {
        let body = b"{}";
        let good = format!("{:x}secret", "1000.{}".len());
        let refused = [
            None,
            Some("garbage".to_owned()),
            Some(format!("v1={good}")),
            Some("t=1000".to_owned()),
            Some(format!("t=1000,v1={good}x")),
            Some(format!("t=1000,v0={good}")),
        ];
        for header in &refused {
            let result = verify_signature(&Fake, "secret", header.as_deref(), body, at(1000));
            assert_eq!(result.map_err(|e| e.code()), Err("INVALID_SIGNATURE"), "{header:?}");
        }
        let stale = verify_signature(&Fake, "secret", Some(&format!("t=1000,v1={good}")), body, at(1301));
        assert!(stale.is_err());
        let early = verify_signature(&Fake, "secret", Some(&format!("t=1000,v1={good}")), body, at(699));
        assert!(early.is_err());
        let other_key = verify_signature(&Fake, "other", Some(&format!("t=1000,v1={good}")), body, at(1000));
        assert!(other_key.is_err());
    }
}
