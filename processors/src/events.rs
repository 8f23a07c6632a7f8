//! Reading a processor's webhook body: a Stripe-shaped event
//! `{"id": "evt_…", "type": "…", "data": {"object": {…}}}` becomes a [`ProcessorEvent`].
//!
//! Only the body is read here: its signature was checked before (by the webhook endpoint), and
//! what the event changes is decided by the domain. An event type Keel does not act on is
//! [`EventSubject::Ignored`], so the processor stops sending it; a body that is not an event is
//! an error, so the processor sends it again and someone notices.

use domain::ids::{PaymentId, RefundId};
use domain::payments::{EventSubject, ProcessorEvent};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::stripe::{self, PaymentIntent, RefundObject};

/// The event types about a charge: the object is a payment intent.
const CHARGE_EVENTS: [&str; 3] =
    ["payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.processing"];
/// The event types about a refund: the object is a refund.
const REFUND_EVENTS: [&str; 3] = ["refund.created", "refund.updated", "refund.failed"];

/// The envelope every event shares.
#[derive(Deserialize)]
struct Envelope {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: Data,
}

/// The envelope's `data`: the object the event is about, whatever its kind.
#[derive(Deserialize)]
struct Data {
    object: Map<String, Value>,
}

/// Parses a Stripe-shaped event body. Charge events name Keel's payment by the
/// `keel_payment_id` metadata Keel sent, refund events Keel's refund by `keel_refund_id` (`None`
/// when absent or not a UUID: a refund made in the processor's dashboard carries none).
///
/// # Errors
/// A sentence saying what is wrong: not JSON, no `id`, `type` or `data.object`, a field of the
/// wrong type, or an object whose status Keel does not know.
pub fn parse_event(body: &[u8]) -> Result<ProcessorEvent, String> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|err| format!("the body is not a processor event: {err}"))?;
    let object = Value::Object(envelope.data.object);
    let subject = if CHARGE_EVENTS.contains(&envelope.kind.as_str()) {
        charge_subject(object)?
    } else if REFUND_EVENTS.contains(&envelope.kind.as_str()) {
        refund_subject(object)?
    } else {
        EventSubject::Ignored
    };
    Ok(ProcessorEvent { id: envelope.id, kind: envelope.kind, subject })
}

fn charge_subject(object: Value) -> Result<EventSubject, String> {
    let intent: PaymentIntent =
        serde_json::from_value(object).map_err(|err| format!("the event's object is not a payment intent: {err}"))?;
    let outcome = stripe::charged(&intent)?;
    let payment = stripe::metadata_id(&intent.metadata, stripe::PAYMENT_ID_KEY).map(PaymentId::from_uuid);
    Ok(EventSubject::Charge { payment, outcome })
}

fn refund_subject(object: Value) -> Result<EventSubject, String> {
    let refund: RefundObject =
        serde_json::from_value(object).map_err(|err| format!("the event's object is not a refund: {err}"))?;
    let outcome = stripe::refunded(&refund)?;
    let charge_reference =
        refund.payment_intent.clone().ok_or_else(|| format!("refund {} names no payment_intent", refund.id))?;
    let amount_minor = refund.amount.ok_or_else(|| format!("refund {} has no amount", refund.id))?;
    let refund_id = stripe::metadata_id(&refund.metadata, stripe::REFUND_ID_KEY).map(RefundId::from_uuid);
    Ok(EventSubject::Refund { refund: refund_id, charge_reference, amount_minor, outcome })
}

#[cfg(test)]
mod tests {
    use domain::payments::{Charged, Failure, Refunded};
    use serde_json::json;

    use super::*;

    fn event(kind: &str, object: Value) -> Vec<u8> {
        json!({ "id": "evt_1", "type": kind, "data": { "object": object } }).to_string().into_bytes()
    }

    #[test]
    fn a_succeeded_intent_names_keels_payment() {
        let payment = PaymentId::new();
        let body = event(
            "payment_intent.succeeded",
            json!({ "id": "pi_1", "object": "payment_intent", "status": "succeeded", "amount": 1000,
                    "metadata": { "keel_payment_id": payment.to_string() } }),
        );

        let parsed = parse_event(&body).expect("an event");

        assert_eq!(parsed.id, "evt_1");
        assert_eq!(parsed.kind, "payment_intent.succeeded");
        assert_eq!(
            parsed.subject,
            EventSubject::Charge { payment: Some(payment), outcome: Charged::Succeeded { reference: "pi_1".into() } }
        );
    }

    #[test]
    fn a_failed_intent_is_declined_with_its_decline_code() {
        let body = event(
            "payment_intent.payment_failed",
            json!({ "id": "pi_2", "status": "requires_payment_method", "metadata": {},
                    "last_payment_error": { "code": "card_declined", "decline_code": "insufficient_funds",
                                            "message": "Your card has insufficient funds." } }),
        );

        let parsed = parse_event(&body).expect("an event");

        let failure = Failure::new("insufficient_funds", "Your card has insufficient funds.");
        assert_eq!(
            parsed.subject,
            EventSubject::Charge {
                payment: None,
                outcome: Charged::Declined { reference: Some("pi_2".into()), failure }
            }
        );
    }

    #[test]
    fn a_processing_intent_is_pending_and_a_bad_payment_id_is_none() {
        let body = event(
            "payment_intent.processing",
            json!({ "id": "pi_3", "status": "processing", "metadata": { "keel_payment_id": "not-a-uuid" } }),
        );

        let parsed = parse_event(&body).expect("an event");

        assert_eq!(
            parsed.subject,
            EventSubject::Charge { payment: None, outcome: Charged::Pending { reference: "pi_3".into() } }
        );
    }

    #[test]
    fn refund_events_carry_the_charge_amount_and_keels_refund() {
        let refund = RefundId::new();
        let object = |status: &str| {
            json!({ "id": "re_1", "object": "refund", "status": status, "amount": 250, "payment_intent": "pi_1",
                    "failure_reason": if status == "failed" { json!("expired_or_canceled_card") } else { Value::Null },
                    "metadata": { "keel_refund_id": refund.to_string() } })
        };
        let cases = [
            ("refund.created", "pending", Refunded::Pending { reference: "re_1".into() }),
            ("refund.updated", "succeeded", Refunded::Succeeded { reference: "re_1".into() }),
            (
                "refund.failed",
                "failed",
                Refunded::Failed {
                    reference: Some("re_1".into()),
                    failure: Failure::new("expired_or_canceled_card", "The processor could not return the money."),
                },
            ),
        ];

        for (kind, status, outcome) in cases {
            let parsed = parse_event(&event(kind, object(status))).expect("an event");

            assert_eq!(
                parsed.subject,
                EventSubject::Refund {
                    refund: Some(refund),
                    charge_reference: "pi_1".into(),
                    amount_minor: 250,
                    outcome
                },
                "{kind}"
            );
        }
    }

    #[test]
    fn a_dashboard_refund_has_no_keel_refund() {
        let body = event(
            "refund.created",
            json!({ "id": "re_2", "status": "succeeded", "amount": 5, "payment_intent": "pi_1" }),
        );

        let parsed = parse_event(&body).expect("an event");

        assert!(matches!(parsed.subject, EventSubject::Refund { refund: None, .. }));
    }

    #[test]
    fn other_types_are_ignored_whatever_their_object() {
        for kind in ["charge.refunded", "customer.created", "payment_intent.created"] {
            let parsed = parse_event(&event(kind, json!({ "anything": [1, 2] }))).expect("an event");

            assert_eq!(parsed.subject, EventSubject::Ignored, "{kind}");
            assert_eq!(parsed.kind, kind);
        }
    }

    #[test]
    fn a_body_that_is_not_an_event_is_an_error() {
        let intent = json!({ "id": "pi_1", "status": "succeeded" });
        let bodies = [
            b"not json".to_vec(),
            b"[]".to_vec(),
            json!({ "type": "payment_intent.succeeded", "data": { "object": intent } }).to_string().into_bytes(),
            json!({ "id": "evt_1", "data": { "object": intent } }).to_string().into_bytes(),
            json!({ "id": "evt_1", "type": "payment_intent.succeeded", "data": {} }).to_string().into_bytes(),
            json!({ "id": 7, "type": "payment_intent.succeeded", "data": { "object": intent } })
                .to_string()
                .into_bytes(),
            json!({ "id": "evt_1", "type": "customer.created", "data": { "object": "text" } }).to_string().into_bytes(),
        ];

        for body in bodies {
            assert!(parse_event(&body).is_err(), "{}", String::from_utf8_lossy(&body));
        }
    }

    #[test]
    fn an_object_of_the_wrong_shape_is_an_error() {
        let bodies = [
            event("payment_intent.succeeded", json!({ "status": "succeeded" })),
            event("payment_intent.succeeded", json!({ "id": "pi_1", "status": 3 })),
            event("payment_intent.succeeded", json!({ "id": "pi_1", "status": "exploded" })),
            event("refund.updated", json!({ "id": "re_1", "status": "succeeded", "amount": 5 })),
            event("refund.updated", json!({ "id": "re_1", "status": "succeeded", "payment_intent": "pi_1" })),
            event(
                "refund.updated",
                json!({ "id": "re_1", "status": "succeeded", "amount": "5", "payment_intent": "pi_1" }),
            ),
        ];

        for body in bodies {
            let error = parse_event(&body).expect_err("a malformed object");

            assert!(!error.is_empty());
        }
    }
}
