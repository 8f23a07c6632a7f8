//! The objects of payments: `Payment` (a `Node`) with its `Refund`s, and their enums. A leaf of
//! the payments area, so that orders can show their payments without importing the mutations
//! that answer orders.

use async_graphql::{Enum, ID, Object};
use domain::payments::{Payment, Refund};
use time::OffsetDateTime;

use crate::graphql::actor::{ActorKindEnum, member_id_of};
use crate::graphql::catalog::MoneyObject;
use crate::graphql::global_id::{self, Kind};

/// Where a payment or refund is.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "PaymentStatus", remote = "domain::payments::PaymentStatus")]
pub enum PaymentStatusEnum {
    /// Sent to the processor, outcome not known yet (an asynchronous method, or an answer lost to
    /// a timeout): a processor webhook or the reconciliation job settles it.
    Pending,
    /// The money moved.
    Succeeded,
    /// Declined or failed; nothing moved (see `failureCode`, `failureMessage`).
    Failed,
}

/// Which processor took a payment.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "PaymentProcessor", remote = "domain::payments::ProcessorKind")]
pub enum ProcessorEnum {
    /// Keel's built-in simulated processor (development and tests).
    Simulated,
    /// A Stripe-shaped processor API over HTTP.
    Http,
    /// Money taken outside Keel, recorded by `markOrderPaid`.
    Manual,
}

/// One attempt to take an order's total, with its refunds.
pub struct PaymentObject(pub Payment);

#[Object(name = "Payment")]
impl PaymentObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id::encode(Kind::Payment, self.0.id.uuid())
    }
    /// The order it pays.
    async fn order_id(&self) -> ID {
        global_id::encode(Kind::Order, self.0.order.uuid())
    }
    /// The amount: the order's total.
    async fn amount(&self) -> MoneyObject {
        self.0.amount.into()
    }
    /// Where it is.
    async fn status(&self) -> PaymentStatusEnum {
        self.0.status.into()
    }
    /// The processor.
    async fn processor(&self) -> ProcessorEnum {
        self.0.processor.into()
    }
    /// The payment method id as given (`pm_card_visa`), or `MANUAL` for `markOrderPaid`.
    async fn payment_method(&self) -> &str {
        self.0.method.as_str()
    }
    /// The processor's id for it (a payment intent `pi_…`), once it gave one.
    async fn processor_reference(&self) -> Option<&str> {
        self.0.reference.as_deref()
    }
    /// The processor's code when it failed (`card_declined`, `insufficient_funds`).
    async fn failure_code(&self) -> Option<&str> {
        self.0.failure.as_ref().map(|f| f.code.as_str())
    }
    /// The processor's message when it failed.
    async fn failure_message(&self) -> Option<&str> {
        self.0.failure.as_ref().map(|f| f.message.as_str())
    }
    /// What succeeded refunds returned.
    async fn refunded_amount(&self) -> MoneyObject {
        self.0.refunded().into()
    }
    /// What may still be refunded (refunds in flight hold their amount).
    async fn refundable_amount(&self) -> MoneyObject {
        self.0.refundable().into()
    }
    /// Its refunds, oldest first.
    async fn refunds(&self) -> Vec<RefundObject> {
        self.0.refunds.iter().cloned().map(RefundObject).collect()
    }
    /// Who asked for it.
    async fn created_by_kind(&self) -> ActorKindEnum {
        self.0.created_by.into()
    }
    /// The member who asked for it, if a member did.
    async fn created_by_member_id(&self) -> Option<ID> {
        member_id_of(self.0.created_by)
    }
    /// When it was asked for.
    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }
    /// When its status last changed.
    async fn updated_at(&self) -> OffsetDateTime {
        self.0.updated_at
    }
}

/// A refund of part or all of a payment.
pub struct RefundObject(pub Refund);

#[Object(name = "Refund")]
impl RefundObject {
    /// Opaque global id.
    async fn id(&self) -> ID {
        global_id::encode(Kind::Refund, self.0.id.uuid())
    }
    /// The payment it returns money from.
    async fn payment_id(&self) -> ID {
        global_id::encode(Kind::Payment, self.0.payment.uuid())
    }
    /// How much.
    async fn amount(&self) -> MoneyObject {
        self.0.amount.into()
    }
    /// Why, as given.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    /// Where it is.
    async fn status(&self) -> PaymentStatusEnum {
        self.0.status.into()
    }
    /// The processor's id for it (`re_…`), once it gave one.
    async fn processor_reference(&self) -> Option<&str> {
        self.0.reference.as_deref()
    }
    /// The processor's code when it failed.
    async fn failure_code(&self) -> Option<&str> {
        self.0.failure.as_ref().map(|f| f.code.as_str())
    }
    /// The processor's message when it failed.
    async fn failure_message(&self) -> Option<&str> {
        self.0.failure.as_ref().map(|f| f.message.as_str())
    }
    /// Whether it was made by cancelling a paid order (its success cancels the order).
    async fn cancels_order(&self) -> bool {
        self.0.cancels_order
    }
    /// Who asked for it: a member, an API key, or `SYSTEM` for a refund made in the processor's
    /// own dashboard and reported by its webhook.
    async fn created_by_kind(&self) -> ActorKindEnum {
        self.0.created_by.into()
    }
    /// When it was asked for.
    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }
    /// When its status last changed.
    async fn updated_at(&self) -> OffsetDateTime {
        self.0.updated_at
    }
}
