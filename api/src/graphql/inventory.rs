//! The inventory part of the schema: stock levels, the movement ledger, and the mutations that
//! change stock.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use domain::DomainError;
use domain::idempotency::IdempotencyKey;
use domain::ids::{LocationId, ProductId};
use domain::inventory::{self, Reason, StockCommand, StockLevel, StockMovement, parse_quantity};
use domain::text::parse_note;
use time::OffsetDateTime;

use super::actor::{ActorKindEnum, member_id_of};
use super::connection::{connection, list_complexity, page_request};
use super::context::{RequestContext, nullable};
use super::global_id::{self, Kind};
use crate::error::{ApiError, UserError, payload};

/// Why stock changed.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "StockMovementReason", remote = "domain::inventory::Reason")]
pub enum ReasonEnum {
    /// Goods arrived.
    Received,
    /// A count correction, damage or loss.
    Adjusted,
    /// Held for an order.
    Reserved,
    /// A hold was released.
    Released,
    /// Left for an order.
    Shipped,
    /// Came back from a customer.
    Returned,
    /// Moved between locations.
    Transferred,
}

/// Why stock is adjusted by hand.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum AdjustmentReason {
    /// A count correction, damage or loss.
    Adjusted,
    /// Goods came back from a customer.
    Returned,
}

impl From<AdjustmentReason> for Reason {
    fn from(reason: AdjustmentReason) -> Self {
        match reason {
            AdjustmentReason::Adjusted => Reason::Adjusted,
            AdjustmentReason::Returned => Reason::Returned,
        }
    }
}

/// A product's stock at one location.
pub struct StockLevelObject(pub StockLevel);

#[Object(name = "StockLevel")]
impl StockLevelObject {
    /// Opaque global id (stands for the product and location pair).
    pub async fn id(&self) -> ID {
        global_id::encode_stock_level(self.0.product.uuid(), self.0.location.uuid())
    }
    /// The product.
    async fn product_id(&self) -> ID {
        global_id::encode(Kind::Product, self.0.product.uuid())
    }
    /// The location.
    async fn location_id(&self) -> ID {
        global_id::encode(Kind::Location, self.0.location.uuid())
    }
    /// Units physically present.
    async fn on_hand(&self) -> i64 {
        self.0.level.on_hand
    }
    /// Units held for orders.
    async fn reserved(&self) -> i64 {
        self.0.level.reserved
    }
    /// `onHand - reserved`: units that can still be sold or moved; never negative.
    async fn available(&self) -> i64 {
        self.0.level.available()
    }
    /// When it last changed.
    async fn updated_at(&self) -> OffsetDateTime {
        self.0.updated_at
    }
}

/// One line of the stock ledger; a level is always the sum of its movements.
pub struct StockMovementObject(pub StockMovement);

#[Object(name = "StockMovement")]
impl StockMovementObject {
    /// Opaque id.
    async fn id(&self) -> ID {
        global_id::encode(Kind::StockMovement, self.0.id.uuid())
    }
    /// Why.
    async fn reason(&self) -> ReasonEnum {
        self.0.reason.into()
    }
    /// Change of `onHand`.
    async fn delta_on_hand(&self) -> i64 {
        self.0.change.on_hand
    }
    /// Change of `reserved`.
    async fn delta_reserved(&self) -> i64 {
        self.0.change.reserved
    }
    /// What it refers to (delivery note, order number).
    async fn reference(&self) -> Option<&str> {
        self.0.reference.as_deref()
    }
    /// Free-text note.
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    /// Who made the change.
    async fn actor_kind(&self) -> ActorKindEnum {
        self.0.actor.into()
    }
    /// The member who made it, if a member did.
    async fn member_id(&self) -> Option<ID> {
        member_id_of(self.0.actor)
    }
    /// When.
    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }
}

/// Resolves `node(id:)` for a stock level; `node` decides which failures mean "not there".
pub async fn stock_level_node(
    req: &RequestContext<'_>,
    product: uuid::Uuid,
    location: uuid::Uuid,
) -> Result<StockLevelObject, DomainError> {
    let (product, location) = (ProductId::from_uuid(product), LocationId::from_uuid(location));
    inventory::stock_level(&req.services.ports, req.caller, product, location).await.map(StockLevelObject)
}

/// Inventory queries.
#[derive(Default)]
pub struct InventoryQuery;

#[Object]
impl InventoryQuery {
    /// A product's stock at a location (zero where none was ever recorded). Needs `inventory:read`.
    /// An unknown product or location is `null` with a `NOT_FOUND` error.
    async fn stock_level(
        &self,
        ctx: &Context<'_>,
        product_id: ID,
        location_id: ID,
    ) -> Result<Option<StockLevelObject>, ApiError> {
        let req = RequestContext::of(ctx)?;
        let product = ProductId::from_uuid(global_id::decode(Kind::Product, &product_id)?);
        let location = LocationId::from_uuid(global_id::decode(Kind::Location, &location_id)?);
        Ok(Some(StockLevelObject(inventory::stock_level(&req.services.ports, req.caller, product, location).await?)))
    }

    /// The ledger of a product at a location, newest first. Needs `inventory:read`.
    #[graphql(complexity = "list_complexity(first, last, child_complexity)")]
    #[expect(clippy::too_many_arguments, reason = "the two ids of the level plus the four Relay arguments")]
    async fn stock_movements(
        &self,
        ctx: &Context<'_>,
        product_id: ID,
        location_id: ID,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, StockMovementObject>, ApiError> {
        let req = RequestContext::of(ctx)?;
        let product = ProductId::from_uuid(global_id::decode(Kind::Product, &product_id)?);
        let location = LocationId::from_uuid(global_id::decode(Kind::Location, &location_id)?);
        let page = page_request(first, after, last, before)?;
        let movements = inventory::stock_movements(&req.services.ports, req.caller, product, location, &page).await?;
        Ok(connection(movements, |m| m.id.uuid(), StockMovementObject))
    }
}

/// Goods arriving at a location.
#[derive(InputObject)]
pub struct ReceiveStockInput {
    /// The product.
    pub product_id: ID,
    /// The location.
    pub location_id: ID,
    /// Units received, 1 to 1,000,000.
    pub quantity: i64,
    /// Delivery reference, up to 500 characters.
    pub reference: Option<String>,
    /// Makes retries safe: the same key with the same input replays the first result (a
    /// concurrent repeat waits for it, or is `CONFLICT` with `retryAfter` while it runs long);
    /// with a different input it is `IDEMPOTENCY_KEY_REUSED`. Keys are per shop and operation,
    /// 1 to 255 visible ASCII characters, and kept 24 hours by default.
    pub idempotency_key: Option<String>,
}

/// A correction of on-hand stock.
#[derive(InputObject)]
pub struct AdjustStockInput {
    /// The product.
    pub product_id: ID,
    /// The location.
    pub location_id: ID,
    /// Units to add (positive) or remove (negative); never below what is available.
    pub delta: i64,
    /// Why.
    pub reason: AdjustmentReason,
    /// A note, up to 500 characters.
    pub note: Option<String>,
    /// Makes retries safe (see `ReceiveStockInput.idempotencyKey`).
    pub idempotency_key: Option<String>,
}

/// Stock moved between locations: both sides or neither.
#[derive(InputObject)]
pub struct TransferStockInput {
    /// The product.
    pub product_id: ID,
    /// Taken from here (must have that much available).
    pub from_location_id: ID,
    /// Put here.
    pub to_location_id: ID,
    /// Units, 1 to 1,000,000.
    pub quantity: i64,
    /// Makes retries safe (see `ReceiveStockInput.idempotencyKey`).
    pub idempotency_key: Option<String>,
}

/// A stock level after a change.
#[derive(SimpleObject, Default)]
pub struct StockPayload {
    /// The level after the change, when it happened.
    pub stock_level: Option<StockLevelObject>,
    /// Why nothing happened (`INSUFFICIENT_STOCK`, a bad quantity), if nothing did.
    pub user_errors: Vec<UserError>,
}

/// Both levels after a transfer.
#[derive(SimpleObject, Default)]
pub struct TransferStockPayload {
    /// The source level after the transfer.
    pub from: Option<StockLevelObject>,
    /// The destination level after the transfer.
    pub to: Option<StockLevelObject>,
    /// Why nothing happened, if nothing did.
    pub user_errors: Vec<UserError>,
}

fn stock_payload(result: Result<Vec<StockLevel>, domain::DomainError>) -> Result<StockPayload, ApiError> {
    payload(
        result,
        |levels| StockPayload { stock_level: levels.into_iter().next().map(StockLevelObject), user_errors: Vec::new() },
        |e| StockPayload { stock_level: None, user_errors: e },
    )
}

fn idempotency_key(raw: Option<&str>) -> Result<Option<IdempotencyKey>, domain::Invalid> {
    raw.map(|key| IdempotencyKey::parse("idempotencyKey", key)).transpose()
}

fn rejected(invalid: domain::Invalid) -> StockPayload {
    StockPayload { stock_level: None, user_errors: vec![invalid.into()] }
}

/// Inventory mutations.
#[derive(Default)]
pub struct InventoryMutation;

#[Object]
impl InventoryMutation {
    /// Records goods arriving (`RECEIVED`). Needs `inventory:write`.
    async fn receive_stock(
        &self,
        ctx: &Context<'_>,
        input: ReceiveStockInput,
    ) -> Result<Option<StockPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let product = ProductId::from_uuid(global_id::decode(Kind::Product, &input.product_id)?);
            let location = LocationId::from_uuid(global_id::decode(Kind::Location, &input.location_id)?);
            let (quantity, reference) = match (
                parse_quantity("quantity", input.quantity, false),
                parse_note("reference", input.reference.as_deref()),
            ) {
                (Ok(quantity), Ok(reference)) => (quantity, reference),
                (Err(invalid), _) | (_, Err(invalid)) => return Ok(rejected(invalid)),
            };
            let key = match idempotency_key(input.idempotency_key.as_deref()) {
                Ok(key) => key,
                Err(invalid) => return Ok(rejected(invalid)),
            };
            let command = StockCommand::Receive { product, location, quantity, reference };
            stock_payload(inventory::change_stock(&req.services.ports, req.caller, command, key).await)
        })
        .await
    }

    /// Corrects on-hand stock either way; never below what is available (`INSUFFICIENT_STOCK`).
    /// Needs `inventory:write`.
    async fn adjust_stock(&self, ctx: &Context<'_>, input: AdjustStockInput) -> Result<Option<StockPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let product = ProductId::from_uuid(global_id::decode(Kind::Product, &input.product_id)?);
            let location = LocationId::from_uuid(global_id::decode(Kind::Location, &input.location_id)?);
            let (delta, note) =
                match (parse_quantity("delta", input.delta, true), parse_note("note", input.note.as_deref())) {
                    (Ok(delta), Ok(note)) => (delta, note),
                    (Err(invalid), _) | (_, Err(invalid)) => return Ok(rejected(invalid)),
                };
            let key = match idempotency_key(input.idempotency_key.as_deref()) {
                Ok(key) => key,
                Err(invalid) => return Ok(rejected(invalid)),
            };
            let command = StockCommand::Adjust { product, location, delta, reason: input.reason.into(), note };
            stock_payload(inventory::change_stock(&req.services.ports, req.caller, command, key).await)
        })
        .await
    }

    /// Moves stock between locations atomically: both sides or neither. Needs `inventory:write`.
    async fn transfer_stock(
        &self,
        ctx: &Context<'_>,
        input: TransferStockInput,
    ) -> Result<Option<TransferStockPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let product = ProductId::from_uuid(global_id::decode(Kind::Product, &input.product_id)?);
            let from = LocationId::from_uuid(global_id::decode(Kind::Location, &input.from_location_id)?);
            let to = LocationId::from_uuid(global_id::decode(Kind::Location, &input.to_location_id)?);
            let (quantity, key) = match (
                parse_quantity("quantity", input.quantity, false),
                idempotency_key(input.idempotency_key.as_deref()),
            ) {
                (Ok(quantity), Ok(key)) => (quantity, key),
                (Err(invalid), _) | (_, Err(invalid)) => {
                    return Ok(TransferStockPayload { user_errors: vec![invalid.into()], ..Default::default() });
                }
            };
            let command = StockCommand::Transfer { product, from, to, quantity };
            let result = inventory::change_stock(&req.services.ports, req.caller, command, key).await;
            payload(
                result,
                |levels| {
                    let mut levels = levels.into_iter().map(StockLevelObject);
                    TransferStockPayload { from: levels.next(), to: levels.next(), user_errors: Vec::new() }
                },
                |e| TransferStockPayload { user_errors: e, ..Default::default() },
            )
        })
        .await
    }
}
