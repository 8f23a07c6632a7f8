//! The values of payments: a [`Payment`] of an order with its [`Refund`]s, their statuses, the
//! [`PaymentMethod`] a client names, the [`Failure`] a processor reports, and the
//! [`PaymentSettings`] of a shop.
//!
//! Plain data: nothing here reads storage or talks to a processor.

use time::OffsetDateTime;

use crate::auth::ActorRef;
use crate::error::Invalid;
use crate::ids::{OrderId, PaymentId, RefundId, UserId};
use crate::money::Money;

/// The longest payment method id accepted (Stripe's ids are far shorter).
pub const MAX_METHOD_LEN: usize = 255;

/// The longest failure code kept.
pub const MAX_FAILURE_CODE_LEN: usize = 255;

/// The longest failure message kept.
pub const MAX_FAILURE_MESSAGE_LEN: usize = 1000;

/// `text` cut to at most `max` bytes at a character boundary.
fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let end = (0..=max).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.truncate(end);
    }
    text
}

/// Which processor took (or was asked to take) a payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcessorKind {
    /// Keel's built-in, deterministic processor for development and tests.
    Simulated,
    /// A Stripe-shaped processor API over HTTP.
    Http,
    /// Money taken outside Keel and recorded by `markOrderPaid` (cash, bank transfer).
    Manual,
}

impl ProcessorKind {
    /// Every kind.
    pub const ALL: [ProcessorKind; 3] = [ProcessorKind::Simulated, ProcessorKind::Http, ProcessorKind::Manual];

    /// The stored name, also the `{processor}` segment of the inbound webhook URL.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessorKind::Simulated => "simulated",
            ProcessorKind::Http => "http",
            ProcessorKind::Manual => "manual",
        }
    }

    /// Parses a stored or requested name; unknown names are `None`.
    pub fn parse(raw: &str) -> Option<ProcessorKind> {
        ProcessorKind::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

/// Where a payment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    /// Sent to the processor, outcome not known yet (an asynchronous method, or a call that
    /// timed out): a webhook or the reconciliation job settles it.
    Pending,
    /// The money was taken; the order is paid (or since refunded).
    Succeeded,
    /// Declined or failed; nothing was taken and the order is still payable.
    Failed,
}

impl PaymentStatus {
    /// Every status.
    pub const ALL: [PaymentStatus; 3] = [PaymentStatus::Pending, PaymentStatus::Succeeded, PaymentStatus::Failed];

    /// The wire and storage name, e.g. `SUCCEEDED`.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "PENDING",
            PaymentStatus::Succeeded => "SUCCEEDED",
            PaymentStatus::Failed => "FAILED",
        }
    }

    /// Parses a stored name; unknown names are `None`.
    pub fn parse(raw: &str) -> Option<PaymentStatus> {
        PaymentStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// Where a refund is: the same three states as a payment.
pub type RefundStatus = PaymentStatus;

/// What a processor said when it refused: its own code and message, kept as it sent them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The processor's code (`card_declined`, `insufficient_funds`, `processor_unavailable`).
    pub code: String,
    /// The processor's message, for people.
    pub message: String,
}

impl Failure {
    /// A failure with `code` and `message`, cut to [`MAX_FAILURE_CODE_LEN`] and
    /// [`MAX_FAILURE_MESSAGE_LEN`] bytes (at a character boundary): a processor's words are kept,
    /// never trusted to be short.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure { code: cut(code.into(), MAX_FAILURE_CODE_LEN), message: cut(message.into(), MAX_FAILURE_MESSAGE_LEN) }
    }

    /// Whether the card lacked funds (Stripe's `insufficient_funds` decline code).
    pub fn is_insufficient_funds(&self) -> bool {
        self.code == "insufficient_funds"
    }
}

/// A processor's payment method id, passed through unchanged (`pm_card_visa`, or a real
/// processor's `pm_…`): 1–255 visible ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentMethod(String);

impl PaymentMethod {
    /// The method of payments recorded by `markOrderPaid`.
    pub const MANUAL: &'static str = "MANUAL";

    /// Parses a method id.
    ///
    /// # Errors
    /// `Invalid` on `field` for an empty, long or non-printable id.
    pub fn parse(field: &str, raw: &str) -> Result<PaymentMethod, Invalid> {
        if (1..=MAX_METHOD_LEN).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(PaymentMethod(raw.to_owned()))
        } else {
            Err(Invalid::new(
                field,
                format!(
                    "must be a payment method id of 1 to {MAX_METHOD_LEN} visible ASCII characters, e.g. pm_card_visa"
                ),
            ))
        }
    }

    /// The manual method.
    pub fn manual() -> PaymentMethod {
        PaymentMethod(PaymentMethod::MANUAL.to_owned())
    }

    /// Wraps a stored id.
    pub fn from_stored(raw: String) -> PaymentMethod {
        PaymentMethod(raw)
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One attempt to take an order's total, with its refunds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    /// Its id.
    pub id: PaymentId,
    /// The order it pays.
    pub order: OrderId,
    /// The customer of the order, when a customer placed it (customers see their own).
    pub customer: Option<UserId>,
    /// The amount: the order's total when it was paid.
    pub amount: Money,
    /// The processor.
    pub processor: ProcessorKind,
    /// The payment method id, or `MANUAL`.
    pub method: PaymentMethod,
    /// Where it is.
    pub status: PaymentStatus,
    /// The processor's id for it (a payment intent), once the processor named it; for a manual
    /// payment, the reference given to `markOrderPaid`.
    pub reference: Option<String>,
    /// The idempotency key Keel sends the processor with every call about this payment, derived
    /// from the client's key: a retry after a lost answer can never charge twice.
    pub processor_key: String,
    /// Why it failed, when it did.
    pub failure: Option<Failure>,
    /// Who asked for it.
    pub created_by: ActorRef,
    /// When it was asked for.
    pub created_at: OffsetDateTime,
    /// When its status last changed.
    pub updated_at: OffsetDateTime,
    /// Its refunds, oldest first.
    pub refunds: Vec<Refund>,
}

impl Payment {
    /// What refunds have returned (succeeded ones only).
    pub fn refunded(&self) -> Money {
        self.sum_refunds(|status| status == PaymentStatus::Succeeded)
    }

    /// What may still be refunded: the amount taken, less succeeded refunds and refunds whose
    /// outcome is not known yet (they may still succeed). Zero for a payment that took nothing.
    pub fn refundable(&self) -> Money {
        if self.status != PaymentStatus::Succeeded {
            return Money::from_minor(0, self.amount.currency());
        }
        let held = self.sum_refunds(|status| status != PaymentStatus::Failed);
        Money::from_minor(self.amount.minor().saturating_sub(held.minor()), self.amount.currency())
    }

    fn sum_refunds(&self, counts: impl Fn(RefundStatus) -> bool) -> Money {
        let minor = self.refunds.iter().filter(|r| counts(r.status)).map(|r| r.amount.minor()).sum::<i64>();
        Money::from_minor(minor, self.amount.currency())
    }
}

/// A refund of part or all of a payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    /// Its id.
    pub id: RefundId,
    /// The payment it returns money from.
    pub payment: PaymentId,
    /// How much.
    pub amount: Money,
    /// Why, as the shop said (up to 500 characters).
    pub reason: Option<String>,
    /// Where it is.
    pub status: RefundStatus,
    /// The processor's id for it, once named.
    pub reference: Option<String>,
    /// The idempotency key Keel sends the processor for this refund.
    pub processor_key: String,
    /// Why it failed, when it did.
    pub failure: Option<Failure>,
    /// Whether the refund was made by cancelling a paid order: when it succeeds the order is
    /// cancelled (and its stock released) rather than marked refunded.
    pub cancels_order: bool,
    /// Who asked for it (`SYSTEM` for a refund the processor reported on its own).
    pub created_by: ActorRef,
    /// When it was asked for.
    pub created_at: OffsetDateTime,
    /// When its status last changed.
    pub updated_at: OffsetDateTime,
}

/// How `payments` is filtered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaymentFilter {
    /// Only payments in one of these statuses (all when empty).
    pub statuses: Vec<PaymentStatus>,
    /// Only payments created at or after this instant.
    pub created_from: Option<OffsetDateTime>,
    /// Only payments created before this instant.
    pub created_before: Option<OffsetDateTime>,
}

/// A shop's settings for its processor account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentSettings {
    /// The secret the processor signs its webhooks to this shop with (`Keel-Signature`); kept
    /// as given, since checking a signature needs it, and never shown again.
    pub webhook_secret: Option<String>,
    /// When the settings last changed.
    pub updated_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    fn usd(minor: i64) -> Money {
        Money::from_minor(minor, Currency::parse("currencyCode", "USD").expect("usd"))
    }

    fn refund(minor: i64, status: RefundStatus) -> Refund {
        let at = OffsetDateTime::UNIX_EPOCH;
        Refund {
            id: RefundId::new(),
            payment: PaymentId::new(),
            amount: usd(minor),
            reason: None,
            status,
            reference: None,
            processor_key: "k".into(),
            failure: None,
            cancels_order: false,
            created_by: ActorRef::System,
            created_at: at,
            updated_at: at,
        }
    }

    fn payment(status: PaymentStatus, refunds: Vec<Refund>) -> Payment {
        let at = OffsetDateTime::UNIX_EPOCH;
        Payment {
            id: PaymentId::new(),
            order: OrderId::new(),
            customer: None,
            amount: usd(10_000),
            processor: ProcessorKind::Simulated,
            method: PaymentMethod::parse("paymentMethod", "pm_card_visa").expect("method"),
            status,
            reference: None,
            processor_key: "k".into(),
            failure: None,
            created_by: ActorRef::System,
            created_at: at,
            updated_at: at,
            refunds,
        }
    }

    #[test]
    fn pending_refunds_hold_their_amount_and_failed_ones_give_it_back() {
        let paid = payment(
            PaymentStatus::Succeeded,
            vec![
                refund(2_000, PaymentStatus::Succeeded),
                refund(3_000, PaymentStatus::Pending),
                refund(4_000, PaymentStatus::Failed),
            ],
        );

        assert_eq!(paid.refunded(), usd(2_000));
        assert_eq!(paid.refundable(), usd(5_000));
    }

    #[test]
    fn only_a_succeeded_payment_can_be_refunded() {
        assert_eq!(payment(PaymentStatus::Pending, vec![]).refundable(), usd(0));
        assert_eq!(payment(PaymentStatus::Failed, vec![]).refundable(), usd(0));
        assert_eq!(payment(PaymentStatus::Succeeded, vec![]).refundable(), usd(10_000));
    }

    #[test]
    fn method_ids_are_visible_ascii_of_bounded_length() {
        assert!(PaymentMethod::parse("paymentMethod", "pm_card_visa_chargeDeclined").is_ok());
        for bad in ["", "pm card", "pm_é", &"x".repeat(MAX_METHOD_LEN + 1)] {
            assert!(PaymentMethod::parse("paymentMethod", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_processors_long_words_are_cut_at_a_character_boundary() {
        let failure = Failure::new("é".repeat(200), "x".repeat(5000));

        assert!(failure.code.len() <= MAX_FAILURE_CODE_LEN && failure.code.chars().all(|c| c == 'é'));
        assert_eq!(failure.code.chars().count(), 127);
        assert_eq!(failure.message.len(), MAX_FAILURE_MESSAGE_LEN);
        assert_eq!(Failure::new("card_declined", "no").code, "card_declined");
    }

    #[test]
    fn names_round_trip() {
        for status in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(status.as_str()), Some(status));
        }
        for kind in ProcessorKind::ALL {
            assert_eq!(ProcessorKind::parse(kind.as_str()), Some(kind));
        }
    }
}
