//! Domain events: what happened to a tenant's data, written to the outbox in the transaction
//! of the change they report, so an event exists exactly when its change committed.
//!
//! An event's [kind](DomainEvent::kind) and [payload](DomainEvent::payload) are a public
//! contract: webhooks deliver them to programs that parse them. The payload is built here, and
//! only here; storage keeps the text it is handed. A payload only ever gains keys; removing or
//! retyping one needs a new kind.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::ids::{EventId, OrderId, PaymentId, RefundId};
use crate::money::Money;
use crate::orders::{Order, OrderNumber, OrderStatus};
use crate::payments::{Payment, PaymentStatus, Refund};

/// One entry of the outbox: an event, its id and when it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Its id (time-ordered).
    pub id: EventId,
    /// What happened.
    pub event: DomainEvent,
    /// When.
    pub at: OffsetDateTime,
}

impl OutboxEvent {
    /// A new outbox entry for `event`, stamped `at`.
    pub fn new(event: DomainEvent, at: OffsetDateTime) -> OutboxEvent {
        OutboxEvent { id: EventId::new(), event, at }
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainEvent {
    /// An order was placed or reached another status.
    Order(OrderEvent),
    /// A payment succeeded or failed.
    Payment(PaymentEvent),
    /// A refund succeeded or failed.
    Refund(RefundEvent),
}

impl DomainEvent {
    /// The stable name subscribers filter on, such as `order.placed`.
    pub fn kind(&self) -> &'static str {
        match self {
            DomainEvent::Order(event) => event.kind(),
            DomainEvent::Payment(event) => event.kind(),
            DomainEvent::Refund(event) => event.kind(),
        }
    }

    /// The id of what it happened to (for an order event, the order).
    pub fn subject(&self) -> Uuid {
        match self {
            DomainEvent::Order(event) => event.order.uuid(),
            DomainEvent::Payment(event) => event.payment.uuid(),
            DomainEvent::Refund(event) => event.refund.uuid(),
        }
    }

    /// The JSON payload delivered to subscribers.
    pub fn payload(&self) -> String {
        match self {
            DomainEvent::Order(event) => event.payload(),
            DomainEvent::Payment(event) => event.payload(),
            DomainEvent::Refund(event) => event.payload(),
        }
    }
}

/// An order was placed (`order.placed`) or reached another status (`order.paid`,
/// `order.fulfilled`, `order.cancelled`, `order.partially_refunded`, `order.refunded`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderEvent {
    /// The order.
    pub order: OrderId,
    /// Its number.
    pub number: OrderNumber,
    /// Its status after the change.
    pub status: OrderStatus,
    /// Its total.
    pub total: Money,
}

impl OrderEvent {
    /// The event of `order` having just reached its current status.
    pub fn of(order: &Order) -> OrderEvent {
        OrderEvent { order: order.id, number: order.number, status: order.status, total: order.total }
    }

    fn kind(&self) -> &'static str {
        match self.status {
            OrderStatus::PendingPayment => "order.placed",
            OrderStatus::Paid => "order.paid",
            OrderStatus::Fulfilled => "order.fulfilled",
            OrderStatus::Cancelled => "order.cancelled",
            OrderStatus::PartiallyRefunded => "order.partially_refunded",
            OrderStatus::Refunded => "order.refunded",
        }
    }

    /// `{"orderId":…,"number":…,"status":…,"total":{"amount":…,"currencyCode":…}}`.
    fn payload(&self) -> String {
        // Written out rather than serialized: every value is Keel's own (a UUID, an integer, a
        // status name, a decimal amount, an ISO currency code), so none needs escaping, and the
        // domain stays free of serialization crates.
        format!(
            r#"{{"orderId":"{}","number":{},"status":"{}","total":{{"amount":"{}","currencyCode":"{}"}}}}"#,
            self.order,
            self.number,
            self.status.as_str(),
            self.total,
            self.total.currency().code()
        )
    }
}

/// A payment reached an outcome: `payment.succeeded` or `payment.failed` (a pending payment
/// has no event until it settles).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentEvent {
    /// The payment.
    pub payment: PaymentId,
    /// The order it pays.
    pub order: OrderId,
    /// Its status after the change.
    pub status: PaymentStatus,
    /// Its amount.
    pub amount: Money,
}

impl PaymentEvent {
    /// The event of `payment` having just reached its current status.
    pub fn of(payment: &Payment) -> PaymentEvent {
        PaymentEvent { payment: payment.id, order: payment.order, status: payment.status, amount: payment.amount }
    }

    fn kind(&self) -> &'static str {
        match self.status {
            PaymentStatus::Pending => "payment.pending",
            PaymentStatus::Succeeded => "payment.succeeded",
            PaymentStatus::Failed => "payment.failed",
        }
    }

    /// `{"paymentId":…,"orderId":…,"status":…,"amount":{"amount":…,"currencyCode":…}}`.
    fn payload(&self) -> String {
        format!(
            r#"{{"paymentId":"{}","orderId":"{}","status":"{}","amount":{{"amount":"{}","currencyCode":"{}"}}}}"#,
            self.payment,
            self.order,
            self.status.as_str(),
            self.amount,
            self.amount.currency().code()
        )
    }
}

/// A refund reached an outcome: `refund.succeeded` or `refund.failed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundEvent {
    /// The refund.
    pub refund: RefundId,
    /// The payment it returns money from.
    pub payment: PaymentId,
    /// The order of that payment.
    pub order: OrderId,
    /// Its status after the change.
    pub status: PaymentStatus,
    /// Its amount.
    pub amount: Money,
}

impl RefundEvent {
    /// The event of `refund` (of a payment of `order`) having just reached its current status.
    pub fn of(refund: &Refund, order: OrderId) -> RefundEvent {
        RefundEvent { refund: refund.id, payment: refund.payment, order, status: refund.status, amount: refund.amount }
    }

    fn kind(&self) -> &'static str {
        match self.status {
            PaymentStatus::Pending => "refund.pending",
            PaymentStatus::Succeeded => "refund.succeeded",
            PaymentStatus::Failed => "refund.failed",
        }
    }

    /// `{"refundId":…,"paymentId":…,"orderId":…,"status":…,"amount":{…}}`.
    fn payload(&self) -> String {
        format!(
            r#"{{"refundId":"{}","paymentId":"{}","orderId":"{}","status":"{}","amount":{{"amount":"{}","currencyCode":"{}"}}}}"#,
            self.refund,
            self.payment,
            self.order,
            self.status.as_str(),
            self.amount,
            self.amount.currency().code()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    fn event(status: OrderStatus) -> DomainEvent {
        let order = OrderId::from_uuid(Uuid::from_u128(0x0193_b0a4_7c1e_7d2a_9f00_1c2d_3e4f_5a6b));
        let total = Money::from_minor(1250, Currency::parse("currencyCode", "USD").expect("usd"));
        DomainEvent::Order(OrderEvent { order, number: OrderNumber::FIRST, status, total })
    }

    #[test]
    fn an_order_event_names_the_status_it_reached() {
        let kinds: Vec<&str> = OrderStatus::ALL.into_iter().map(|status| event(status).kind()).collect();

        assert_eq!(
            kinds,
            [
                "order.placed",
                "order.paid",
                "order.fulfilled",
                "order.cancelled",
                "order.partially_refunded",
                "order.refunded"
            ]
        );
    }

    #[test]
    fn an_order_payload_keeps_its_published_shape() {
        let placed = event(OrderStatus::PendingPayment);

        assert_eq!(
            placed.payload(),
            r#"{"orderId":"0193b0a4-7c1e-7d2a-9f00-1c2d3e4f5a6b","number":1001,"status":"PENDING_PAYMENT","total":{"amount":"12.50","currencyCode":"USD"}}"#
        );
        assert_eq!(placed.subject(), Uuid::from_u128(0x0193_b0a4_7c1e_7d2a_9f00_1c2d_3e4f_5a6b));
    }

    #[test]
    fn payment_and_refund_payloads_keep_their_published_shape() {
        let usd = Currency::parse("currencyCode", "USD").expect("usd");
        let payment = PaymentId::from_uuid(Uuid::from_u128(1));
        let order = OrderId::from_uuid(Uuid::from_u128(2));
        let paid = DomainEvent::Payment(PaymentEvent {
            payment,
            order,
            status: PaymentStatus::Succeeded,
            amount: Money::from_minor(1250, usd),
        });
        let refunded = DomainEvent::Refund(RefundEvent {
            refund: RefundId::from_uuid(Uuid::from_u128(3)),
            payment,
            order,
            status: PaymentStatus::Succeeded,
            amount: Money::from_minor(250, usd),
        });

        assert_eq!(paid.kind(), "payment.succeeded");
        assert_eq!(
            paid.payload(),
            r#"{"paymentId":"00000000-0000-0000-0000-000000000001","orderId":"00000000-0000-0000-0000-000000000002","status":"SUCCEEDED","amount":{"amount":"12.50","currencyCode":"USD"}}"#
        );
        assert_eq!(refunded.kind(), "refund.succeeded");
        assert!(refunded.payload().starts_with(r#"{"refundId":"00000000-0000-0000-0000-000000000003","#));
    }
}
