//! Domain events: what happened to a tenant's data, written to the outbox in the transaction
//! of the change they report, so an event exists exactly when its change committed.
//!
//! An event's [kind](DomainEvent::kind) and [payload](DomainEvent::payload) are a public
//! contract: webhooks deliver them to programs that parse them. The payload is built here, and
//! only here; storage keeps the text it is handed. A payload only ever gains keys; removing or
//! retyping one needs a new kind.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::ids::{EventId, OrderId};
use crate::money::Money;
use crate::orders::{Order, OrderNumber, OrderStatus};

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
}

impl DomainEvent {
    /// The stable name subscribers filter on, such as `order.placed`.
    pub fn kind(&self) -> &'static str {
        match self {
            DomainEvent::Order(event) => event.kind(),
        }
    }

    /// The id of what it happened to (for an order event, the order).
    pub fn subject(&self) -> Uuid {
        match self {
            DomainEvent::Order(event) => event.order.uuid(),
        }
    }

    /// The JSON payload delivered to subscribers.
    pub fn payload(&self) -> String {
        match self {
            DomainEvent::Order(event) => event.payload(),
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
}
