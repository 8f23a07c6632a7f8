//! Domain events: what happened to a tenant's data, written to the outbox in the transaction
//! of the change they report, so an event exists exactly when its change committed.
//!
//! An event's [kind](DomainEvent::kind) and [payload](DomainEvent::payload) are a public
//! contract: webhooks deliver them to programs that parse them. The payload is built here, and
//! only here (by [`DomainEvent::payload`] through one small JSON writer); storage keeps the text
//! it is handed. Every payload is a JSON object whose first key is `"version"`
//! ([`PAYLOAD_VERSION`], now `1`): a payload only ever gains keys within a version; removing or
//! retyping one needs a new version (or a new kind).
//!
//! Kinds: `order.placed`, `order.paid`, `order.fulfilled`, `order.cancelled`,
//! `order.partially_refunded`, `order.refunded` ([`OrderEvent`]); `payment.succeeded`,
//! `payment.failed` ([`PaymentEvent`]); `refund.succeeded`, `refund.failed` ([`RefundEvent`]);
//! `stock.changed`, one per stock level a change touched ([`StockChanged`]), and `stock.low`
//! when that change took the level's available units from at or above the product's
//! low-stock threshold to below it ([`StockLow`], [`stock_events`]).

use time::OffsetDateTime;
use uuid::Uuid;

use crate::ids::{EventId, LocationId, OrderId, PaymentId, ProductId, RefundId};
use crate::inventory::{Change, Level, Reason, StockLevel};
use crate::money::Money;
use crate::orders::{Order, OrderNumber, OrderStatus};
use crate::payments::{Payment, PaymentStatus, Refund};

/// The version every payload carries as its `"version"` key.
pub const PAYLOAD_VERSION: i64 = 1;

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
    /// A stock level changed.
    StockChanged(StockChanged),
    /// A stock level's available units fell below its product's low-stock threshold.
    StockLow(StockLow),
}

impl DomainEvent {
    /// The stable name subscribers filter on, such as `order.placed`.
    pub fn kind(&self) -> &'static str {
        match self {
            DomainEvent::Order(event) => event.kind(),
            DomainEvent::Payment(event) => event.kind(),
            DomainEvent::Refund(event) => event.kind(),
            DomainEvent::StockChanged(_) => "stock.changed",
            DomainEvent::StockLow(_) => "stock.low",
        }
    }

    /// The id of what it happened to (for an order event, the order; for a stock event, the
    /// product).
    pub fn subject(&self) -> Uuid {
        match self {
            DomainEvent::Order(event) => event.order.uuid(),
            DomainEvent::Payment(event) => event.payment.uuid(),
            DomainEvent::Refund(event) => event.refund.uuid(),
            DomainEvent::StockChanged(event) => event.product.uuid(),
            DomainEvent::StockLow(event) => event.product.uuid(),
        }
    }

    /// The JSON payload delivered to subscribers: `{"version":1,…}` with the keys each event
    /// type documents.
    pub fn payload(&self) -> String {
        let mut json = Json::object();
        json.number("version", PAYLOAD_VERSION);
        match self {
            DomainEvent::Order(event) => {
                json.id("orderId", event.order.uuid()).number("number", event.number.get());
                json.name("status", event.status.as_str()).money("total", event.total);
            }
            DomainEvent::Payment(event) => {
                json.id("paymentId", event.payment.uuid()).id("orderId", event.order.uuid());
                json.name("status", event.status.as_str()).money("amount", event.amount);
            }
            DomainEvent::Refund(event) => {
                json.id("refundId", event.refund.uuid()).id("paymentId", event.payment.uuid());
                json.id("orderId", event.order.uuid()).name("status", event.status.as_str());
                json.money("amount", event.amount);
            }
            DomainEvent::StockChanged(event) => {
                json.id("productId", event.product.uuid()).id("locationId", event.location.uuid());
                json.level(event.level).name("reason", event.reason.as_str());
                json.open("delta").number("onHand", event.change.on_hand).number("reserved", event.change.reserved);
                json.number("available", event.change.on_hand - event.change.reserved).close();
            }
            DomainEvent::StockLow(event) => {
                json.id("productId", event.product.uuid()).id("locationId", event.location.uuid());
                json.level(event.level).number("lowStockThreshold", event.threshold);
            }
        }
        json.close();
        json.0
    }
}

/// The body of a webhook delivery, the Standard Webhooks envelope
/// `{"type":"order.placed","timestamp":"<RFC 3339>","data":{<payload>}}`, with the payload
/// exactly as the outbox stored it.
///
/// # Errors
/// When `at` cannot be written as RFC 3339 (a year beyond 9999).
pub fn webhook_body(kind: &str, at: OffsetDateTime, payload: &str) -> Result<String, time::error::Format> {
    let timestamp = at.format(&time::format_description::well_known::Rfc3339)?;
    let mut json = Json::object();
    json.name("type", kind).name("timestamp", &timestamp).key("data").0.push_str(payload);
    json.close();
    Ok(json.0)
}

/// The one JSON writer of payloads. Every value is Keel's own (a UUID, an integer, an enum
/// name, a decimal amount, an ISO currency code); names are escaped all the same, so no value
/// can ever break the document.
struct Json(String);

impl Json {
    fn object() -> Json {
        Json(String::from("{"))
    }

    fn key(&mut self, key: &str) -> &mut Json {
        if !self.0.ends_with('{') {
            self.0.push(',');
        }
        self.string(key);
        self.0.push(':');
        self
    }

    fn string(&mut self, value: &str) {
        self.0.push('"');
        for c in value.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                c if u32::from(c) < 0x20 => self.0.push_str(&format!("\\u{:04x}", u32::from(c))),
                c => self.0.push(c),
            }
        }
        self.0.push('"');
    }

    fn number(&mut self, key: &str, value: i64) -> &mut Json {
        self.key(key).0.push_str(&value.to_string());
        self
    }

    fn name(&mut self, key: &str, value: &str) -> &mut Json {
        self.key(key).string(value);
        self
    }

    fn id(&mut self, key: &str, value: Uuid) -> &mut Json {
        self.name(key, &value.to_string())
    }

    /// `{"amount":"12.50","currencyCode":"USD"}`: the amount as an exact decimal string.
    fn money(&mut self, key: &str, value: Money) -> &mut Json {
        self.open(key).name("amount", &value.to_string()).name("currencyCode", value.currency().code()).close()
    }

    /// The numbers of a level after the change: `onHand`, `reserved`, `available`.
    fn level(&mut self, level: Level) -> &mut Json {
        self.number("onHand", level.on_hand).number("reserved", level.reserved).number("available", level.available())
    }

    fn open(&mut self, key: &str) -> &mut Json {
        self.key(key).0.push('{');
        self
    }

    fn close(&mut self) -> &mut Json {
        self.0.push('}');
        self
    }
}

/// An order was placed (`order.placed`) or reached another status (`order.paid`,
/// `order.fulfilled`, `order.cancelled`, `order.partially_refunded`, `order.refunded`).
///
/// Payload: `{"version":1,"orderId":…,"number":…,"status":…,"total":{"amount":…,"currencyCode":…}}`.
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
}

/// A payment reached an outcome: `payment.succeeded` or `payment.failed` (a pending payment
/// has no event until it settles).
///
/// Payload: `{"version":1,"paymentId":…,"orderId":…,"status":…,"amount":{"amount":…,"currencyCode":…}}`.
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
}

/// A refund reached an outcome: `refund.succeeded` or `refund.failed`.
///
/// Payload: `{"version":1,"refundId":…,"paymentId":…,"orderId":…,"status":…,"amount":{…}}`.
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
}

/// `stock.changed`: one stock level changed (a transfer changes two, and so writes two).
///
/// Payload: `{"version":1,"productId":…,"locationId":…,"onHand":…,"reserved":…,"available":…,
/// "reason":"RECEIVED","delta":{"onHand":…,"reserved":…,"available":…}}`, the numbers being the
/// level after the change and `delta` what the change added to each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockChanged {
    /// The product.
    pub product: ProductId,
    /// The location.
    pub location: LocationId,
    /// The level after the change.
    pub level: Level,
    /// Why it changed.
    pub reason: Reason,
    /// What the change added.
    pub change: Change,
}

/// `stock.low`: a change took a level's available units from at or above its product's
/// low-stock threshold to below it. It fires once per crossing: changes that keep the level
/// below write none, and a level must climb back to the threshold before it fires again.
///
/// Payload: `{"version":1,"productId":…,"locationId":…,"onHand":…,"reserved":…,"available":…,
/// "lowStockThreshold":…}`, the numbers being the level after the change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockLow {
    /// The product.
    pub product: ProductId,
    /// The location.
    pub location: LocationId,
    /// The level after the change.
    pub level: Level,
    /// The product's threshold.
    pub threshold: i64,
}

/// The events of one stock level change: `stock.changed` for `after` (the level once `change`
/// was applied, for `reason`), then `stock.low` if the change took its available units from
/// at or above `threshold` to below it (never without a threshold).
pub fn stock_events(after: &StockLevel, change: Change, reason: Reason, threshold: Option<i64>) -> Vec<DomainEvent> {
    let (product, location, level) = (after.product, after.location, after.level);
    let mut events = vec![DomainEvent::StockChanged(StockChanged { product, location, level, reason, change })];
    if let Some(threshold) = threshold {
        let before = level.available().saturating_sub(change.on_hand.saturating_sub(change.reserved));
        if before >= threshold && level.available() < threshold {
            events.push(DomainEvent::StockLow(StockLow { product, location, level, threshold }));
        }
    }
    events
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
            r#"{"version":1,"orderId":"0193b0a4-7c1e-7d2a-9f00-1c2d3e4f5a6b","number":1001,"status":"PENDING_PAYMENT","total":{"amount":"12.50","currencyCode":"USD"}}"#
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
            r#"{"version":1,"paymentId":"00000000-0000-0000-0000-000000000001","orderId":"00000000-0000-0000-0000-000000000002","status":"SUCCEEDED","amount":{"amount":"12.50","currencyCode":"USD"}}"#
        );
        assert_eq!(refunded.kind(), "refund.succeeded");
        assert_eq!(
            refunded.payload(),
            r#"{"version":1,"refundId":"00000000-0000-0000-0000-000000000003","paymentId":"00000000-0000-0000-0000-000000000001","orderId":"00000000-0000-0000-0000-000000000002","status":"SUCCEEDED","amount":{"amount":"2.50","currencyCode":"USD"}}"#
        );
    }

    fn level_after(on_hand: i64, reserved: i64) -> StockLevel {
        StockLevel {
            product: ProductId::from_uuid(Uuid::from_u128(4)),
            location: LocationId::from_uuid(Uuid::from_u128(5)),
            level: Level { on_hand, reserved },
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn kinds(events: &[DomainEvent]) -> Vec<&'static str> {
        events.iter().map(DomainEvent::kind).collect()
    }

    #[test]
    fn stock_payloads_keep_their_published_shape() {
        let change = Change::of(Reason::Reserved, 3);
        let events = stock_events(&level_after(10, 7), change, Reason::Reserved, Some(5));

        assert_eq!(kinds(&events), ["stock.changed", "stock.low"]);
        assert_eq!(
            events[0].payload(),
            r#"{"version":1,"productId":"00000000-0000-0000-0000-000000000004","locationId":"00000000-0000-0000-0000-000000000005","onHand":10,"reserved":7,"available":3,"reason":"RESERVED","delta":{"onHand":0,"reserved":3,"available":-3}}"#
        );
        assert_eq!(
            events[1].payload(),
            r#"{"version":1,"productId":"00000000-0000-0000-0000-000000000004","locationId":"00000000-0000-0000-0000-000000000005","onHand":10,"reserved":7,"available":3,"lowStockThreshold":5}"#
        );
        assert_eq!(events[1].subject(), Uuid::from_u128(4), "a stock event is about its product");
    }

    #[test]
    fn stock_low_fires_only_when_available_crosses_below_the_threshold() {
        let adjust = |delta| Change::of(Reason::Adjusted, delta);
        let low = |after: i64, delta: i64, threshold: Option<i64>| {
            stock_events(&level_after(after, 0), adjust(delta), Reason::Adjusted, threshold).len() == 2
        };

        assert!(low(4, -1, Some(5)), "5 -> 4 crosses below 5");
        assert!(low(0, -10, Some(5)), "10 -> 0 crosses below 5");
        assert!(!low(5, -1, Some(5)), "6 -> 5 is still at the threshold");
        assert!(!low(3, -1, Some(5)), "4 -> 3 was already below");
        assert!(!low(6, 2, Some(5)), "rising never fires");
        assert!(!low(5, 2, Some(5)), "3 -> 5 climbs back, no alert");
        assert!(!low(0, -5, None), "no threshold, no alert");
        assert!(!low(0, -5, Some(0)), "a threshold of 0 never fires: available is never negative");
        assert!(low(0, -1, Some(1)), "1 -> 0 crosses below 1");
    }

    #[test]
    fn releases_and_shipments_never_lower_available_stock() {
        // Order transitions release or ship reservations; they pass no threshold because these
        // changes can never take available stock down.
        for reason in [Reason::Released, Reason::Shipped] {
            let change = Change::of(reason, 7);
            assert!(change.on_hand - change.reserved >= 0, "{reason:?}");
        }
    }

    #[test]
    fn names_are_escaped_so_no_value_breaks_the_document() {
        let mut json = Json::object();
        json.name("k", "a\"b\\c\n").close();

        assert_eq!(json.0, r#"{"k":"a\"b\\c\u000a"}"#);
    }
}
