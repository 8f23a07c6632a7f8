//! The Stripe-shaped objects both adapters speak (a payment intent, a refund, an error body) and
//! what each means for Keel: a [`Charged`], a [`Refunded`] or a [`Failure`].
//!
//! Only the fields Keel reads are declared; serde ignores the rest, so a processor that sends
//! more than Stripe does still parses. A status Keel does not know is an error, never a guess:
//! the caller turns it into an unknown outcome, which a later lookup settles.

use domain::payments::{Charged, Failure, Refunded};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

/// The metadata key naming Keel's payment on a payment intent.
pub(crate) const PAYMENT_ID_KEY: &str = "keel_payment_id";
/// The metadata key naming Keel's refund on a refund.
pub(crate) const REFUND_ID_KEY: &str = "keel_refund_id";

/// A payment intent (`/v1/payment_intents`), as far as Keel reads it.
#[derive(Debug, Deserialize)]
pub(crate) struct PaymentIntent {
    /// The processor's id, `pi_…`.
    pub id: String,
    /// `succeeded`, `processing`, `requires_payment_method`, …
    pub status: String,
    /// Why the last attempt failed, when it did.
    #[serde(default)]
    pub last_payment_error: Option<ErrorObject>,
    /// The metadata Keel sent (`keel_payment_id`, …); any JSON, read leniently.
    #[serde(default)]
    pub metadata: Value,
}

/// A refund (`/v1/refunds`), as far as Keel reads it.
#[derive(Debug, Deserialize)]
pub(crate) struct RefundObject {
    /// The processor's id, `re_…`.
    pub id: String,
    /// `succeeded`, `pending`, `requires_action`, `failed` or `canceled`.
    pub status: String,
    /// Why it failed (`lost_or_stolen_card`, `insufficient_funds`, …), when it did.
    #[serde(default)]
    pub failure_reason: Option<String>,
    /// How much, in minor units (read by webhooks only).
    #[serde(default)]
    pub amount: Option<i64>,
    /// The refunded payment intent (read by webhooks only).
    #[serde(default)]
    pub payment_intent: Option<String>,
    /// The metadata Keel sent (`keel_refund_id`, …).
    #[serde(default)]
    pub metadata: Value,
}

/// The body of an error answer: `{"error": {…}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    /// The error.
    pub error: ErrorObject,
}

/// An error object: the `error` of an error answer, or a payment intent's
/// `last_payment_error`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorObject {
    /// `card_error`, `invalid_request_error`, `idempotency_error`, `api_error`, …
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `card_declined`, `resource_missing`, `charge_already_refunded`, …
    #[serde(default)]
    pub code: Option<String>,
    /// For a card decline, the issuer's reason (`insufficient_funds`, …).
    #[serde(default)]
    pub decline_code: Option<String>,
    /// For people.
    #[serde(default)]
    pub message: Option<String>,
    /// The payment intent the error is about, when one was made.
    #[serde(default)]
    pub payment_intent: Option<IntentRef>,
}

/// The `payment_intent` of an error object: only its id is read.
#[derive(Debug, Deserialize)]
pub(crate) struct IntentRef {
    /// The processor's id of the intent.
    pub id: String,
}

impl ErrorObject {
    /// Whether this is Stripe's answer to a key reused with other parameters: the first request
    /// with that key may have succeeded, so the outcome is unknown, not a refusal.
    pub fn is_idempotency_error(&self) -> bool {
        self.kind.as_deref() == Some("idempotency_error")
    }

    /// The failure it reports: the decline code when there is one (so a card without funds is
    /// `insufficient_funds`, not the generic `card_declined`), else the code, else `fallback`.
    pub fn failure(&self, fallback: &Failure) -> Failure {
        let code = self.decline_code.as_ref().or(self.code.as_ref()).unwrap_or(&fallback.code);
        let message = self.message.as_ref().unwrap_or(&fallback.message);
        Failure::new(code.clone(), message.clone())
    }
}

/// What a payment intent says about its charge.
///
/// # Errors
/// A sentence naming a status Keel does not know (`requires_confirmation` among them: Keel
/// always confirms, so it never expects one).
pub(crate) fn charged(intent: &PaymentIntent) -> Result<Charged, String> {
    let reference = intent.id.clone();
    let declined = |fallback: Failure| {
        let failure = intent.last_payment_error.as_ref().map_or_else(|| fallback.clone(), |e| e.failure(&fallback));
        Charged::Declined { reference: Some(intent.id.clone()), failure }
    };
    match intent.status.as_str() {
        "succeeded" => Ok(Charged::Succeeded { reference }),
        "processing" | "requires_action" | "requires_capture" => Ok(Charged::Pending { reference }),
        "requires_payment_method" => {
            Ok(declined(Failure::new("payment_failed", "The processor did not complete the payment.")))
        }
        "canceled" => Ok(declined(Failure::new("canceled", "The payment was canceled."))),
        other => Err(format!("payment intent {} has status {other:?}, which Keel does not know", intent.id)),
    }
}

/// What a refund object says about its refund.
///
/// # Errors
/// A sentence naming a status Keel does not know.
pub(crate) fn refunded(refund: &RefundObject) -> Result<Refunded, String> {
    let reference = refund.id.clone();
    let failed = |code: &str, message: &str| {
        let code = refund.failure_reason.clone().unwrap_or_else(|| code.to_owned());
        Refunded::Failed { reference: Some(refund.id.clone()), failure: Failure::new(code, message) }
    };
    match refund.status.as_str() {
        "succeeded" => Ok(Refunded::Succeeded { reference }),
        "pending" | "requires_action" => Ok(Refunded::Pending { reference }),
        "failed" => Ok(failed("refund_failed", "The processor could not return the money.")),
        "canceled" => Ok(failed("refund_canceled", "The refund was canceled.")),
        other => Err(format!("refund {} has status {other:?}, which Keel does not know", refund.id)),
    }
}

/// A Keel id in `metadata`: `None` when the key is absent, not a string, or not a UUID.
pub(crate) fn metadata_id(metadata: &Value, key: &str) -> Option<Uuid> {
    metadata.get(key).and_then(Value::as_str).and_then(|raw| Uuid::parse_str(raw).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(json: &str) -> PaymentIntent {
        serde_json::from_str(json).expect("a payment intent")
    }

    #[test]
    fn an_intent_status_decides_the_outcome() {
        let pending = ["processing", "requires_action", "requires_capture"];
        for status in pending {
            let answer = charged(&intent(&format!(r#"{{"id":"pi_1","status":"{status}"}}"#)));

            assert_eq!(answer, Ok(Charged::Pending { reference: "pi_1".into() }), "{status}");
        }
        assert_eq!(
            charged(&intent(r#"{"id":"pi_1","status":"succeeded"}"#)),
            Ok(Charged::Succeeded { reference: "pi_1".into() })
        );
        assert!(charged(&intent(r#"{"id":"pi_1","status":"requires_confirmation"}"#)).is_err());
    }

    #[test]
    fn a_decline_prefers_the_decline_code_and_falls_back_without_an_error() {
        let declined = intent(
            r#"{"id":"pi_1","status":"requires_payment_method","last_payment_error":
                {"type":"card_error","code":"card_declined","decline_code":"insufficient_funds",
                 "message":"Your card has insufficient funds."}}"#,
        );
        let canceled = intent(r#"{"id":"pi_2","status":"canceled"}"#);

        assert_eq!(
            charged(&declined),
            Ok(Charged::Declined {
                reference: Some("pi_1".into()),
                failure: Failure::new("insufficient_funds", "Your card has insufficient funds.")
            })
        );
        assert!(matches!(charged(&canceled), Ok(Charged::Declined { failure, .. }) if failure.code == "canceled"));
    }

    #[test]
    fn a_refund_status_decides_the_outcome() {
        let refund = |json: &str| refunded(&serde_json::from_str(json).expect("a refund"));

        assert_eq!(
            refund(r#"{"id":"re_1","status":"succeeded"}"#),
            Ok(Refunded::Succeeded { reference: "re_1".into() })
        );
        assert_eq!(
            refund(r#"{"id":"re_1","status":"requires_action"}"#),
            Ok(Refunded::Pending { reference: "re_1".into() })
        );
        assert!(matches!(
            refund(r#"{"id":"re_1","status":"failed","failure_reason":"lost_or_stolen_card"}"#),
            Ok(Refunded::Failed { failure, .. }) if failure.code == "lost_or_stolen_card"
        ));
        assert!(matches!(
            refund(r#"{"id":"re_1","status":"canceled"}"#),
            Ok(Refunded::Failed { failure, .. }) if failure.code == "refund_canceled"
        ));
        assert!(refund(r#"{"id":"re_1","status":"reversed"}"#).is_err());
    }

    #[test]
    fn a_metadata_id_must_be_a_uuid_string() {
        let id = Uuid::now_v7();
        let metadata = serde_json::json!({ "good": id.to_string(), "number": 7, "text": "nope" });

        assert_eq!(metadata_id(&metadata, "good"), Some(id));
        for key in ["number", "text", "absent"] {
            assert_eq!(metadata_id(&metadata, key), None, "{key}");
        }
        assert_eq!(metadata_id(&Value::Null, "good"), None);
    }
}
