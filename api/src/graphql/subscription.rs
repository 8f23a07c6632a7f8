//! The subscription root: live outbox events of the subscriber's tenant, served over WebSocket
//! (graphql-transport-ws) at `/graphql/ws`; see [`super::feed`] for how they arrive.
//!
//! A subscription is authorized once, when it starts, with the caller the connection
//! authenticated; the connection itself checks the caller's session again while it stays open
//! and closes when it ends.

use std::sync::Arc;

use async_graphql::{Context, ID, Object, Subscription};
use domain::auth::{Caller, Permission, authorize};
use domain::feed::FeedEvent;
use domain::orders::OrderStatus;
use futures_util::{Stream, StreamExt};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::global_id::{self, Kind};
use super::orders::OrderStatusEnum;
use super::services::Services;
use crate::error::{ApiError, ErrorCode};

/// Every subscription field.
#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// The shop's order events (`order.placed`, `order.paid`, `order.fulfilled`,
    /// `order.cancelled`, `order.partially_refunded`, `order.refunded`, and any later order
    /// kind) as they are committed, from about the moment of subscribing. Needs `orders:read`
    /// for the whole shop: customers, who may read only their own orders, are refused.
    async fn order_events(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = OrderEventObject>, ApiError> {
        let events = subscribe(ctx, Permission::OrdersRead, "order.")?;
        Ok(events.filter_map(|event| std::future::ready(OrderEventObject::read(&event))))
    }

    /// The shop's stock events (every kind starting with `stock.`, such as `stock.changed` and
    /// `stock.low`) as they are committed, from about the moment of subscribing. Needs
    /// `inventory:read`.
    async fn stock_events(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = StockEventObject>, ApiError> {
        let events = subscribe(ctx, Permission::InventoryRead, "stock.")?;
        Ok(events.map(|event| StockEventObject::read(&event)))
    }
}

/// The caller's tenant's events of kinds starting with `prefix`, once the caller holds `needed`
/// for the whole tenant.
fn subscribe(
    ctx: &Context<'_>,
    needed: Permission,
    prefix: &'static str,
) -> Result<impl Stream<Item = Arc<FeedEvent>> + use<>, ApiError> {
    let (Some(services), Some(caller)) = (ctx.data_opt::<Arc<Services>>(), ctx.data_opt::<Caller>()) else {
        tracing::error!("a subscription ran without its services or caller");
        return Err(ApiError::new(ErrorCode::Internal, "internal error"));
    };
    let scope = authorize(&caller.actor, needed)?;
    if scope.customer().is_some() {
        return Err(ApiError::new(ErrorCode::Forbidden, format!("subscribing needs {needed} for the whole shop")));
    }
    Ok(services.feed.subscribe(scope.tenant(), prefix))
}

/// The payload's string at `key` read as a UUID, if it is one.
fn uuid_at(payload: &Value, key: &str) -> Option<Uuid> {
    payload.get(key).and_then(Value::as_str).and_then(|raw| Uuid::parse_str(raw).ok())
}

/// Something happened to an order.
pub struct OrderEventObject {
    id: Uuid,
    kind: String,
    order: Uuid,
    number: i64,
    status: OrderStatus,
    at: OffsetDateTime,
}

impl OrderEventObject {
    /// Reads an order event's payload; `None` (skipped, and logged) if it is not one.
    fn read(event: &FeedEvent) -> Option<OrderEventObject> {
        let payload: Value = serde_json::from_str(&event.payload).ok()?;
        let status = payload.get("status").and_then(Value::as_str).and_then(OrderStatus::parse);
        let number = payload.get("number").and_then(Value::as_i64);
        match (uuid_at(&payload, "orderId"), number, status) {
            (Some(order), Some(number), Some(status)) => Some(OrderEventObject {
                id: event.id.uuid(),
                kind: event.kind.clone(),
                order,
                number,
                status,
                at: event.at,
            }),
            _ => {
                tracing::warn!(event = %event.id.uuid(), kind = %event.kind, "an order event's payload is unreadable");
                None
            }
        }
    }
}

#[Object(name = "OrderEvent")]
impl OrderEventObject {
    /// The event's id, as webhooks deliver it (the outbox id; not a global id).
    async fn event_id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// What happened: `order.placed`, `order.paid`, …
    #[graphql(name = "type")]
    async fn kind(&self) -> &str {
        &self.kind
    }

    /// The order's global id.
    async fn order_id(&self) -> ID {
        global_id::encode(Kind::Order, self.order)
    }

    /// The order number (`"1001"`).
    async fn number(&self) -> String {
        self.number.to_string()
    }

    /// The order's status after the event.
    async fn status(&self) -> OrderStatusEnum {
        self.status.into()
    }

    /// When it happened.
    async fn occurred_at(&self) -> OffsetDateTime {
        self.at
    }
}

/// Something happened to stock. The ids are read from the payload's `productId` and
/// `locationId` when it has them; the whole payload is there as JSON text.
pub struct StockEventObject {
    id: Uuid,
    kind: String,
    product: Option<Uuid>,
    location: Option<Uuid>,
    payload: String,
    at: OffsetDateTime,
}

impl StockEventObject {
    fn read(event: &FeedEvent) -> StockEventObject {
        let payload: Option<Value> = serde_json::from_str(&event.payload).ok();
        StockEventObject {
            id: event.id.uuid(),
            kind: event.kind.clone(),
            product: payload.as_ref().and_then(|payload| uuid_at(payload, "productId")),
            location: payload.as_ref().and_then(|payload| uuid_at(payload, "locationId")),
            payload: event.payload.clone(),
            at: event.at,
        }
    }
}

#[Object(name = "StockEvent")]
impl StockEventObject {
    /// The event's id, as webhooks deliver it (the outbox id; not a global id).
    async fn event_id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// What happened: `stock.changed`, `stock.low`, …
    #[graphql(name = "type")]
    async fn kind(&self) -> &str {
        &self.kind
    }

    /// The product's global id, when the payload names one.
    async fn product_id(&self) -> Option<ID> {
        self.product.map(|product| global_id::encode(Kind::Product, product))
    }

    /// The location's global id, when the payload names one.
    async fn location_id(&self) -> Option<ID> {
        self.location.map(|location| global_id::encode(Kind::Location, location))
    }

    /// The event's versioned JSON payload, as the outbox holds it.
    async fn payload(&self) -> &str {
        &self.payload
    }

    /// When it happened.
    async fn occurred_at(&self) -> OffsetDateTime {
        self.at
    }
}
