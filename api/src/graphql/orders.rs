//! The orders part of the schema: orders with lines and history, and the mutations that place
//! them and move them through their life.
//!
//! Nested fields never cost a statement per order: lines come with the orders, and the
//! histories and line products a query selects (seen by looking ahead) are read in the same
//! transaction, one statement each for the whole page. Orders returned by mutations load them
//! through per-request DataLoaders instead.

use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use domain::DomainError;
use domain::idempotency::IdempotencyKey;
use domain::identity::Email;
use domain::ids::{LocationId, OrderId, ProductId};
use domain::orders::{
    self, Include, Order, OrderFilter, OrderLine, PlaceOrder, RawLine, Related, StatusChange, StatusChanged, Transition,
};
use time::OffsetDateTime;

use super::actor::{ActorKindEnum, member_id_of};
use super::catalog::{MoneyObject, ProductObject};
use super::connection::{connection, list_complexity, page_request};
use super::context::{RequestContext, nullable, to_completion};
use super::global_id::{self, Kind};
use super::loaders::{LineProductsLoader, OrderHistoryLoader, OrderPaymentsLoader, loader};
use super::payments::objects::PaymentObject;
use crate::error::{ApiError, ErrorCode, UserError, payload, user_errors};

/// Where an order is in its life.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "OrderStatus", remote = "domain::orders::OrderStatus")]
pub enum OrderStatusEnum {
    /// Placed, stock reserved, waiting for payment; cancelled automatically when unpaid past
    /// the payment timeout (see `Order.expiresAt`).
    PendingPayment,
    /// Paid; stock still reserved until fulfilment.
    Paid,
    /// Shipped: the reservations became shipments.
    Fulfilled,
    /// Cancelled; its reservations were released.
    Cancelled,
    /// Part of the payment was refunded.
    PartiallyRefunded,
    /// The whole payment was refunded.
    Refunded,
}

/// An order, with what was read along with it.
pub struct OrderObject {
    order: Order,
    related: Arc<Related>,
}

impl OrderObject {
    /// An order alone: nested histories and products load through the request's DataLoaders.
    pub fn new(order: Order) -> Self {
        OrderObject { order, related: Arc::default() }
    }

    /// An order with histories and products read in its transaction.
    pub fn with(order: Order, related: Arc<Related>) -> Self {
        OrderObject { order, related }
    }
}

/// What to read along with the orders `selection` stands for (the `Order` selection set).
fn include(selection: async_graphql::Lookahead<'_>) -> Include {
    Include {
        history: selection.field("history").exists(),
        products: selection.field("lines").field("product").exists(),
        payments: selection.field("payments").exists(),
    }
}

#[Object(name = "Order", serial)]
impl OrderObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id::encode(Kind::Order, self.order.id.uuid())
    }
    /// The order number, unique in the shop (`"1001"`); `orderByNumber` finds it.
    async fn number(&self) -> String {
        self.order.number.to_string()
    }
    /// Where it is in its life.
    async fn status(&self) -> OrderStatusEnum {
        self.order.status.into()
    }
    /// Who buys.
    async fn customer_email(&self) -> &str {
        self.order.customer_email.as_str()
    }
    /// The customer member who placed it, when a customer did.
    async fn customer_id(&self) -> Option<ID> {
        self.order.customer.map(|id| global_id::encode(Kind::Member, id.uuid()))
    }
    /// A note from the buyer or the shop.
    async fn note(&self) -> Option<&str> {
        self.order.note.as_deref()
    }
    /// The location stock is reserved at and shipped from.
    async fn location_id(&self) -> ID {
        global_id::encode(Kind::Location, self.order.location.uuid())
    }
    /// The lines, in the order they were placed (lines of the same product merged).
    async fn lines(&self) -> Vec<OrderLineObject> {
        self.order
            .lines
            .iter()
            .map(|line| OrderLineObject { line: line.clone(), related: self.related.clone() })
            .collect()
    }
    /// Sum of the line totals.
    async fn subtotal(&self) -> MoneyObject {
        self.order.subtotal.into()
    }
    /// What is owed: the subtotal (taxes, shipping and discounts are not modelled yet).
    async fn total(&self) -> MoneyObject {
        self.order.total.into()
    }
    /// Every status change, oldest first, starting with the placement.
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<OrderTransitionObject>, ApiError> {
        let history = match &self.related.history {
            Some(histories) => histories.get(&self.order.id).cloned().unwrap_or_default(),
            None => {
                let loader = loader::<OrderHistoryLoader>(ctx)?;
                loader.load_one(self.order.id).await?.unwrap_or_default()
            }
        };
        Ok(history.into_iter().map(OrderTransitionObject).collect())
    }
    /// Its payments, oldest first, with their refunds: every `PAID` order has a `SUCCEEDED` one
    /// (method `MANUAL` for `markOrderPaid`); declined attempts are listed too.
    async fn payments(&self, ctx: &Context<'_>) -> Result<Vec<PaymentObject>, ApiError> {
        let payments = match &self.related.payments {
            Some(payments) => payments.get(&self.order.id).cloned().unwrap_or_default(),
            None => {
                let loader = loader::<OrderPaymentsLoader>(ctx)?;
                loader.load_one(self.order.id).await?.unwrap_or_default()
            }
        };
        Ok(payments.into_iter().map(PaymentObject).collect())
    }
    /// Who placed it.
    async fn placed_by_kind(&self) -> ActorKindEnum {
        self.order.placed_by.into()
    }
    /// The member who placed it, if a member did.
    async fn placed_by_member_id(&self) -> Option<ID> {
        member_id_of(self.order.placed_by)
    }
    /// When an unpaid order will be cancelled if still unpaid; `null` once paid or closed.
    async fn expires_at(&self, ctx: &Context<'_>) -> Result<Option<OffsetDateTime>, ApiError> {
        let req = RequestContext::of(ctx)?;
        Ok(req.services.order_payment_timeout.expires_at(&self.order))
    }
    /// Incremented on every status change.
    async fn version(&self) -> i32 {
        self.order.version
    }
    /// When it was placed.
    async fn created_at(&self) -> OffsetDateTime {
        self.order.created_at
    }
    /// When its status last changed.
    async fn updated_at(&self) -> OffsetDateTime {
        self.order.updated_at
    }
}

/// One line of an order, priced when the order was placed.
pub struct OrderLineObject {
    line: OrderLine,
    related: Arc<Related>,
}

#[Object(name = "OrderLine", serial)]
impl OrderLineObject {
    /// Position in the order, from 0.
    async fn position(&self) -> i32 {
        self.line.position
    }
    /// The product's id.
    async fn product_id(&self) -> ID {
        global_id::encode(Kind::Product, self.line.product.uuid())
    }
    /// The product as it is now; `null` where the caller may no longer see it (customers do not
    /// see archived products). `sku`, `name` and `unitPrice` keep what was sold.
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<ProductObject>, ApiError> {
        if let Some(products) = &self.related.products {
            return Ok(products.get(&self.line.product).cloned().map(ProductObject::of));
        }
        let loader = loader::<LineProductsLoader>(ctx)?;
        Ok(loader.load_one(self.line.product).await?.map(ProductObject::of))
    }
    /// The SKU when the order was placed.
    async fn sku(&self) -> &str {
        self.line.sku.as_str()
    }
    /// The product name when the order was placed.
    async fn name(&self) -> &str {
        &self.line.name
    }
    /// The unit price when the order was placed.
    async fn unit_price(&self) -> MoneyObject {
        self.line.unit_price.into()
    }
    /// Units.
    async fn quantity(&self) -> i64 {
        self.line.quantity
    }
    /// `unitPrice × quantity`.
    async fn total(&self) -> MoneyObject {
        self.line.total.into()
    }
}

/// One status change of an order.
pub struct OrderTransitionObject(pub Transition);

#[Object(name = "OrderTransition", serial)]
impl OrderTransitionObject {
    /// The status before; `null` for the placement.
    async fn from(&self) -> Option<OrderStatusEnum> {
        self.0.from.map(Into::into)
    }
    /// The status after.
    async fn to(&self) -> OrderStatusEnum {
        self.0.to.into()
    }
    /// Why, when someone said (or `payment not received in time` for expiry).
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    /// Who: a member, an API key, or `SYSTEM` for expiry.
    async fn actor_kind(&self) -> ActorKindEnum {
        self.0.actor.into()
    }
    /// The member who made the change, if a member did.
    async fn member_id(&self) -> Option<ID> {
        member_id_of(self.0.actor)
    }
    /// When.
    async fn at(&self) -> OffsetDateTime {
        self.0.at
    }
}

/// Resolves `node(id:)` for an order; `node` decides which failures mean "not there".
pub async fn order_node(req: &RequestContext<'_>, id: uuid::Uuid) -> Result<OrderObject, DomainError> {
    let everything = Include { history: true, products: true, payments: true };
    let (order, related) = orders::order(&req.services.ports, req.caller, OrderId::from_uuid(id), everything).await?;
    Ok(OrderObject::with(order, Arc::new(related)))
}

/// How `orders` is filtered.
#[derive(InputObject, Default)]
pub struct OrderFilterInput {
    /// Only orders in one of these statuses.
    pub status: Option<Vec<OrderStatusEnum>>,
    /// Only orders of this customer email (case-insensitive).
    pub customer_email: Option<String>,
    /// Only orders placed at or after this time.
    pub created_after: Option<OffsetDateTime>,
    /// Only orders placed before this time.
    pub created_before: Option<OffsetDateTime>,
}

/// Order queries.
#[derive(Default)]
pub struct OrderQuery;

#[Object]
impl OrderQuery {
    /// Orders, newest first. Needs `orders:read`; customers see only their own.
    #[graphql(complexity = "list_complexity(first, last, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<OrderFilterInput>,
    ) -> Result<Connection<String, OrderObject>, ApiError> {
        let req = RequestContext::of(ctx)?;
        let page = page_request(first, after, last, before)?;
        let filter = filter.unwrap_or_default();
        let customer_email = filter
            .customer_email
            .as_deref()
            .map(|raw| Email::parse("filter.customerEmail", raw))
            .transpose()
            .map_err(|invalid| ApiError::new(ErrorCode::BadUserInput, invalid.to_string()))?;
        let filter = OrderFilter {
            statuses: filter.status.unwrap_or_default().into_iter().map(Into::into).collect(),
            customer_email,
            created_from: filter.created_after,
            created_before: filter.created_before,
        };
        let include = include(ctx.look_ahead().field("edges").field("node"));
        let (found, related) = orders::orders(&req.services.ports, req.caller, &filter, &page, include).await?;
        let related = Arc::new(related);
        Ok(connection(found, |o| o.id.uuid(), |order| OrderObject::with(order, related.clone())))
    }

    /// One order. Needs `orders:read`; customers see only their own. An unknown id (or another
    /// tenant's, or another customer's) is `null` with a `NOT_FOUND` error; sibling fields still
    /// answer.
    async fn order(&self, ctx: &Context<'_>, id: ID) -> Result<Option<OrderObject>, ApiError> {
        let req = RequestContext::of(ctx)?;
        let id = OrderId::from_uuid(global_id::decode(Kind::Order, &id)?);
        let (order, related) = orders::order(&req.services.ports, req.caller, id, include(ctx.look_ahead())).await?;
        Ok(Some(OrderObject::with(order, Arc::new(related))))
    }

    /// One order by its number (`"1001"` or `"#1001"`). Needs `orders:read`; customers see only
    /// their own. An unknown number is `null` with a `NOT_FOUND` error.
    async fn order_by_number(&self, ctx: &Context<'_>, number: String) -> Result<Option<OrderObject>, ApiError> {
        let req = RequestContext::of(ctx)?;
        let include = include(ctx.look_ahead());
        let (order, related) = orders::order_by_number(&req.services.ports, req.caller, &number, include).await?;
        Ok(Some(OrderObject::with(order, Arc::new(related))))
    }
}

/// One requested line: a product, by id or by SKU (exactly one), and a quantity.
#[derive(InputObject)]
pub struct OrderLineInput {
    /// The product's id.
    pub product_id: Option<ID>,
    /// The product's SKU.
    pub sku: Option<String>,
    /// Units, 1 to 10,000 (lines of the same product are merged and must stay within it).
    pub quantity: i64,
}

/// A new order.
#[derive(InputObject)]
pub struct PlaceOrderInput {
    /// 1 to 100 lines.
    pub lines: Vec<OrderLineInput>,
    /// Who buys. Required from staff and API keys; customers may omit it (their own email is
    /// used) and may not name another.
    pub customer_email: Option<String>,
    /// A note, up to 500 characters.
    pub note: Option<String>,
    /// Where to reserve stock; the shop's first location when omitted.
    pub location_id: Option<ID>,
    /// Makes retries safe: the same key with the same input returns the order the first request
    /// placed (a concurrent repeat waits for it, or is `CONFLICT` with `retryAfter` while it
    /// runs long); with a different input it is `IDEMPOTENCY_KEY_REUSED`. Keys are per shop,
    /// and per customer for customers, and kept 24 hours by default.
    pub idempotency_key: Option<String>,
}

/// The result of `placeOrder`.
#[derive(SimpleObject, Default)]
pub struct PlaceOrderPayload {
    /// The order, when it was placed.
    pub order: Option<OrderObject>,
    /// Why nothing was placed (`UNKNOWN_PRODUCT`, `PRODUCT_INACTIVE`, `INSUFFICIENT_STOCK` with
    /// the line in `field`, a bad quantity), if nothing was. Customers get `UNKNOWN_PRODUCT` for
    /// an archived product too: they cannot see one.
    pub user_errors: Vec<UserError>,
}

/// Cancels an order.
#[derive(InputObject)]
pub struct CancelOrderInput {
    /// The order.
    pub order_id: ID,
    /// Why, up to 500 characters; kept in the history.
    pub reason: Option<String>,
}

/// Records a payment taken outside Keel.
#[derive(InputObject)]
pub struct MarkOrderPaidInput {
    /// The order.
    pub order_id: ID,
    /// How it was paid (a bank transfer reference, "cash"), up to 500 characters; kept in the
    /// history.
    pub reference: Option<String>,
}

/// Ships an order.
#[derive(InputObject)]
pub struct FulfillOrderInput {
    /// The order.
    pub order_id: ID,
}

/// An order after a status change.
#[derive(SimpleObject, Default)]
pub struct OrderPayload {
    /// The id of the order that changed, when it did.
    pub order_id: Option<ID>,
    /// The order after the change, when it happened and the caller may read orders
    /// (`orders:read`; customers their own). A caller that may change orders but not read them
    /// (a key with `orders:write` or `orders:manage` alone) gets `orderId` and `null` here: changing
    /// an order never shows its lines, customer or totals.
    pub order: Option<OrderObject>,
    /// Why nothing happened (`ILLEGAL_TRANSITION` naming the current status,
    /// `PAYMENT_IN_PROGRESS`, `REFUND_FAILED`, `REFUND_PENDING`), if nothing did.
    pub user_errors: Vec<UserError>,
}

fn order_payload(result: Result<StatusChanged, DomainError>) -> Result<OrderPayload, ApiError> {
    payload(
        result,
        |changed| OrderPayload {
            order_id: Some(global_id::encode(Kind::Order, changed.id.uuid())),
            order: changed.order.map(OrderObject::new),
            user_errors: Vec::new(),
        },
        |e| OrderPayload { user_errors: e, ..OrderPayload::default() },
    )
}

async fn change_status(
    ctx: &Context<'_>,
    id: &ID,
    change: StatusChange,
    reason: Option<&str>,
) -> Result<OrderPayload, ApiError> {
    let req = RequestContext::of(ctx)?;
    let id = OrderId::from_uuid(global_id::decode(Kind::Order, id)?);
    // Cancelling a paid order refunds it through the processor first.
    let (ports, caller, reason) = (req.services.ports.clone(), req.caller.clone(), reason.map(str::to_owned));
    let changed =
        to_completion(async move { orders::change_status(&ports, &caller, id, change, reason.as_deref()).await });
    order_payload(changed.await)
}

/// Order mutations.
#[derive(Default)]
pub struct OrderMutation;

#[Object]
impl OrderMutation {
    /// Places an order: prices every line from the catalog, reserves stock for all lines or
    /// none, and numbers the order; it waits for payment (`PENDING_PAYMENT`). Needs
    /// `orders:write`.
    async fn place_order(
        &self,
        ctx: &Context<'_>,
        input: PlaceOrderInput,
    ) -> Result<Option<PlaceOrderPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let mut lines = Vec::with_capacity(input.lines.len());
            for line in &input.lines {
                let product =
                    line.product_id.as_ref().map(|id| global_id::decode_or_unknown(Kind::Product, id)).transpose()?;
                lines.push(RawLine {
                    product: product.map(ProductId::from_uuid),
                    sku: line.sku.clone(),
                    quantity: line.quantity,
                });
            }
            let location =
                input.location_id.as_ref().map(|id| global_id::decode_or_unknown(Kind::Location, id)).transpose()?;
            let rejected = |errors: Vec<UserError>| PlaceOrderPayload { order: None, user_errors: errors };
            let key = match input.idempotency_key.as_deref().map(|k| IdempotencyKey::parse("idempotencyKey", k)) {
                Some(Err(invalid)) => return Ok(rejected(vec![invalid.into()])),
                Some(Ok(key)) => Some(key),
                None => None,
            };
            let command = match PlaceOrder::parse(
                &lines,
                input.customer_email.as_deref(),
                input.note.as_deref(),
                location.map(LocationId::from_uuid),
            ) {
                Ok(command) => command,
                Err(problems) => return Ok(rejected(user_errors(problems))),
            };
            payload(
                orders::place_order(&req.services.ports, req.caller, command, key).await,
                |order| PlaceOrderPayload { order: Some(OrderObject::new(order)), user_errors: Vec::new() },
                rejected,
            )
        })
        .await
    }

    /// Cancels an order and releases its reservations. Customers may cancel their own unpaid
    /// orders (`orders:write`); cancelling a paid order needs `orders:manage` and
    /// `payments:refund`: it refunds the payment first and cancels only when the refund
    /// succeeded (`REFUND_FAILED` or `REFUND_PENDING` otherwise, the order staying `PAID`). An
    /// unpaid order whose payment is in flight cannot be cancelled (`PAYMENT_IN_PROGRESS`). The
    /// payload shows the order only to callers who may read it.
    async fn cancel_order(&self, ctx: &Context<'_>, input: CancelOrderInput) -> Result<Option<OrderPayload>, ApiError> {
        nullable(async { change_status(ctx, &input.order_id, StatusChange::Cancel, input.reason.as_deref()).await })
            .await
    }

    /// Records that an unpaid order was paid outside Keel (cash, bank transfer): it becomes
    /// `PAID` with a `SUCCEEDED` payment of method `MANUAL` for its total. Needs
    /// `orders:manage`.
    async fn mark_order_paid(
        &self,
        ctx: &Context<'_>,
        input: MarkOrderPaidInput,
    ) -> Result<Option<OrderPayload>, ApiError> {
        nullable(async {
            change_status(ctx, &input.order_id, StatusChange::MarkPaid, input.reference.as_deref()).await
        })
        .await
    }

    /// Ships a paid order: its reservations become shipments (`SHIPPED` movements, on hand
    /// decreases) and it becomes `FULFILLED`. Needs `orders:manage`.
    async fn fulfill_order(
        &self,
        ctx: &Context<'_>,
        input: FulfillOrderInput,
    ) -> Result<Option<OrderPayload>, ApiError> {
        nullable(async { change_status(ctx, &input.order_id, StatusChange::Fulfil, None).await }).await
    }
}
