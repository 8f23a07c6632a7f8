//! Payments: taking an order's total through the payment processor exactly once, refunding it
//! safely, settling outcomes the processor reports later, and the processor's webhooks.
//!
//! # Layout
//!
//! - `model`: [`Payment`], [`Refund`], their statuses, [`PaymentMethod`], [`Failure`],
//!   [`PaymentSettings`].
//! - `processor`: what crosses the processor port ([`ChargeRequest`], [`Charged`],
//!   [`ProcessorError`], [`ProcessorEvent`], …).
//!
//! This module only declares them and names their public items.

mod model;
mod processor;

pub use model::{
    Failure, MAX_METHOD_LEN, Payment, PaymentFilter, PaymentMethod, PaymentSettings, PaymentStatus, ProcessorKind,
    Refund, RefundStatus,
};
pub use processor::{
    BoxFuture, ChargeRequest, Charged, EventSubject, ProcessorError, ProcessorEvent, RefundRequest, Refunded,
};
