//! Payments: taking an order's total through the payment processor exactly once, refunding it
//! safely, settling outcomes the processor reports later, and the processor's webhooks.
//!
//! Rules: an order has at most one live payment (`PENDING` or `SUCCEEDED`; storage enforces
//! it); an order is `PAID` only with a `SUCCEEDED` payment of its total, written in the same
//! transaction; refunds never exceed what was captured. The processor is never called inside a
//! database transaction, and every call carries an idempotency key derived from the client's,
//! so a retry (by the client, or by the reconciliation job after a lost answer) never charges or
//! refunds twice.
//!
//! # Layout
//!
//! - `model`: [`Payment`], [`Refund`], their statuses, [`PaymentMethod`], [`Failure`],
//!   [`PaymentSettings`].
//! - `processor`: what crosses the processor port ([`ChargeRequest`], [`Charged`],
//!   [`ProcessorError`], [`ProcessorEvent`], …).
//! - `settle`: applying an outcome (the one place payments and refunds change status).
//! - `started`: what a payment's or refund's idempotency key stores.
//! - `pay`: [`pay_order`]; the manual payment of `markOrderPaid`.
//! - `refund`: [`refund_payment`]; the refund that cancelling a paid order makes.
//! - `reconcile`: [`reconcile`], the job that settles what stayed `PENDING`.
//! - `webhook`: [`receive_processor_event`], the processor's signed webhooks.
//! - `queries`: [`payment`], [`payments`], [`payments_of_orders`]; `settings`: the shop's
//!   processor settings.
//!
//! This module only declares them and names their public items.

mod model;
mod pay;
mod processor;
mod queries;
mod reconcile;
mod refund;
mod settings;
mod settle;
mod started;
mod webhook;

pub use model::{
    Failure, MAX_METHOD_LEN, Payment, PaymentFilter, PaymentMethod, PaymentSettings, PaymentStatus, ProcessorKind,
    Refund, RefundStatus,
};
pub use pay::{PayOrder, PaymentAttempt, decline, pay_order};
pub(crate) use pay::{in_flight, record_manual_payment};
pub use processor::{
    BoxFuture, ChargeRequest, Charged, EventSubject, ProcessorError, ProcessorEvent, RefundRequest, Refunded,
};
pub(crate) use queries::group_by_order;
pub use queries::{payment, payments, payments_of_orders};
pub use reconcile::{ReconcileRun, reconcile};
pub(crate) use refund::{PaidCancellation, cancel_paid_order};
pub use refund::{RefundAttempt, RefundPayment, refund_failure, refund_payment};
pub use settings::{PaymentSettingsView, WebhookSecret, payment_settings, update_payment_settings};
pub use webhook::{SIGNATURE_HEADER, SIGNATURE_TOLERANCE_SECS, WebhookReceipt, receive_processor_event};
