//! What Keel and a payment processor say to each other: the requests of the
//! [`crate::ports::PaymentProcessor`] port, their answers, the [`ProcessorError`]s that leave
//! an outcome unknown, and the [`ProcessorEvent`]s a processor's webhooks report.
//!
//! Plain data. Every request carries the idempotency key Keel derived for it, so sending it
//! again (after a timeout, from the reconciliation job) can never charge or refund twice.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use super::model::{Failure, PaymentMethod};
use crate::ids::{OrderId, PaymentId, RefundId, TenantId};
use crate::money::Money;

/// A boxed future, so the processor port can be a trait object chosen at start.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Authorize and capture `amount` with `method` (Stripe: a payment intent with `confirm=true`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeRequest {
    /// Keel's payment, sent as metadata so webhooks can name it.
    pub payment: PaymentId,
    /// The order it pays, sent as metadata.
    pub order: OrderId,
    /// The shop, sent as metadata.
    pub tenant: TenantId,
    /// How much, in the shop's currency.
    pub amount: Money,
    /// The payment method id, passed through unchanged.
    pub method: PaymentMethod,
    /// The processor's `Idempotency-Key`.
    pub idempotency_key: String,
}

/// Return (part of) a captured charge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRequest {
    /// Keel's refund, sent as metadata.
    pub refund: RefundId,
    /// Keel's payment, sent as metadata.
    pub payment: PaymentId,
    /// The shop, sent as metadata.
    pub tenant: TenantId,
    /// The processor's id of the charge (payment intent).
    pub charge_reference: String,
    /// How much.
    pub amount: Money,
    /// The processor's `Idempotency-Key`.
    pub idempotency_key: String,
}

/// What the processor answered to a charge, or says about one when asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Charged {
    /// Captured.
    Succeeded {
        /// The processor's id for the charge.
        reference: String,
    },
    /// Accepted, outcome later (a webhook or a later lookup tells).
    Pending {
        /// The processor's id for the charge.
        reference: String,
    },
    /// Refused: nothing was taken.
    Declined {
        /// The processor's id, when it made one.
        reference: Option<String>,
        /// Its code and message.
        failure: Failure,
    },
}

/// What the processor answered to a refund, or says about one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refunded {
    /// The money went back.
    Succeeded {
        /// The processor's id for the refund.
        reference: String,
    },
    /// Accepted, outcome later.
    Pending {
        /// The processor's id for the refund.
        reference: String,
    },
    /// Refused: nothing went back.
    Failed {
        /// The processor's id, when it made one.
        reference: Option<String>,
        /// Its code and message.
        failure: Failure,
    },
}

/// A processor call that did not give a trustworthy answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessorError {
    /// The request certainly did not reach the processor (connection refused, the circuit
    /// breaker open, the processor's own rate limit): nothing happened; try again after
    /// `retry_after_secs`.
    NotSent {
        /// Why, for the log.
        reason: String,
        /// When a retry may succeed.
        retry_after_secs: u64,
    },
    /// The request may have been processed (a timeout, a connection lost after sending, a 5xx):
    /// the outcome is unknown until the processor is asked again with the same key.
    Unknown {
        /// Why, for the log.
        reason: String,
    },
}

impl fmt::Display for ProcessorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessorError::NotSent { reason, .. } => write!(f, "not sent to the processor: {reason}"),
            ProcessorError::Unknown { reason } => write!(f, "outcome unknown: {reason}"),
        }
    }
}

impl std::error::Error for ProcessorError {}

/// One event a processor reported to a shop's webhook URL, after its signature was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessorEvent {
    /// The processor's event id: an event is applied once, however often it arrives.
    pub id: String,
    /// The processor's event type, as sent (`payment_intent.succeeded`).
    pub kind: String,
    /// What it says.
    pub subject: EventSubject,
}

/// What a processor event is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventSubject {
    /// A charge reached an outcome (`payment_intent.succeeded`, `payment_intent.payment_failed`,
    /// `payment_intent.processing`).
    Charge {
        /// Keel's payment, from the metadata Keel sent; `None` when it carries none.
        payment: Option<PaymentId>,
        /// What the processor says now.
        outcome: Charged,
    },
    /// A refund reached an outcome (`refund.created`, `refund.updated`, `refund.failed`),
    /// including one made in the processor's own dashboard.
    Refund {
        /// Keel's refund, from the metadata Keel sent; `None` for a refund Keel did not ask for.
        refund: Option<RefundId>,
        /// The processor's id of the refunded charge.
        charge_reference: String,
        /// How much, in minor units of the payment's currency.
        amount_minor: i64,
        /// What the processor says now.
        outcome: Refunded,
    },
    /// An event Keel does not act on; acknowledged and ignored.
    Ignored,
}
