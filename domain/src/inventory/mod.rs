//! Stock: levels per product and location (`on_hand`, `reserved`, `available = on_hand −
//! reserved`) and the movement ledger that explains every number.
//!
//! Rules: nothing is ever negative and `reserved` never exceeds `on_hand`; every change appends
//! a [`StockMovement`], so a level always equals the sum of its movements. Storage applies each
//! change as one conditional statement (the same conditions as [`Level::apply`]), never
//! read-then-write, so concurrent changes cannot oversell. Nothing outside this module writes
//! stock.

use time::OffsetDateTime;

use crate::auth::{ActorRef, Caller, Permission, TenantScope, authorize};
use crate::error::{DomainError, Invalid};
use crate::idempotency::{IdempotencyKey, Recorded};
use crate::identity::SecretHash;
use crate::ids::{LocationId, ProductId, StockMovementId};
use crate::page::{Page, PageRequest};
use crate::ports::{CatalogRepo, Crypto, IdempotencyRepo, InventoryRepo, Ports, Store, Tx};

/// The largest quantity one stock operation may move.
pub const MAX_QUANTITY: i64 = 1_000_000;

/// Why stock changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Goods arrived.
    Received,
    /// A count correction, damage or loss.
    Adjusted,
    /// Held for an order.
    Reserved,
    /// A hold was released (order cancelled or expired).
    Released,
    /// Left the building for an order.
    Shipped,
    /// Came back from a customer.
    Returned,
    /// Moved between locations.
    Transferred,
}

impl Reason {
    /// Every reason.
    pub const ALL: [Reason; 7] = [
        Reason::Received,
        Reason::Adjusted,
        Reason::Reserved,
        Reason::Released,
        Reason::Shipped,
        Reason::Returned,
        Reason::Transferred,
    ];

    /// Storage and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Received => "RECEIVED",
            Reason::Adjusted => "ADJUSTED",
            Reason::Reserved => "RESERVED",
            Reason::Released => "RELEASED",
            Reason::Shipped => "SHIPPED",
            Reason::Returned => "RETURNED",
            Reason::Transferred => "TRANSFERRED",
        }
    }

    /// Parses a storage name.
    pub fn parse(raw: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

/// The two numbers of a stock level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Level {
    /// Physically present.
    pub on_hand: i64,
    /// Held for orders.
    pub reserved: i64,
}

/// A change to a level, as deltas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// Change of `on_hand`.
    pub on_hand: i64,
    /// Change of `reserved`.
    pub reserved: i64,
}

impl Change {
    /// The change a reason makes for `quantity` units (`quantity` may be negative only for
    /// adjustments and transfers, which move on-hand stock either way).
    pub fn of(reason: Reason, quantity: i64) -> Change {
        match reason {
            Reason::Received | Reason::Returned | Reason::Adjusted | Reason::Transferred => {
                Change { on_hand: quantity, reserved: 0 }
            }
            Reason::Reserved => Change { on_hand: 0, reserved: quantity },
            Reason::Released => Change { on_hand: 0, reserved: -quantity },
            Reason::Shipped => Change { on_hand: -quantity, reserved: -quantity },
        }
    }
}

impl Level {
    /// `on_hand − reserved`: what can still be sold or moved.
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }

    /// The level after `change`, or `None` when it would break a rule: nothing negative,
    /// `reserved ≤ on_hand`. Storage enforces exactly these conditions in its UPDATE.
    pub fn apply(self, change: Change) -> Option<Level> {
        let on_hand = self.on_hand.checked_add(change.on_hand)?;
        let reserved = self.reserved.checked_add(change.reserved)?;
        (on_hand >= 0 && reserved >= 0 && reserved <= on_hand).then_some(Level { on_hand, reserved })
    }
}

/// A product's stock at one location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockLevel {
    /// The product.
    pub product: ProductId,
    /// The location.
    pub location: LocationId,
    /// The numbers.
    pub level: Level,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

/// One line of the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockMovement {
    /// Its id (time-ordered).
    pub id: StockMovementId,
    /// The product.
    pub product: ProductId,
    /// The location.
    pub location: LocationId,
    /// What changed.
    pub change: Change,
    /// Why.
    pub reason: Reason,
    /// What it refers to (an order number, a delivery note).
    pub reference: Option<String>,
    /// A free-text note.
    pub note: Option<String>,
    /// Who.
    pub actor: ActorRef,
    /// When.
    pub created_at: OffsetDateTime,
}

/// A stock operation, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StockCommand {
    /// Goods arrived at a location.
    Receive {
        /// Product.
        product: ProductId,
        /// Location.
        location: LocationId,
        /// Units, positive.
        quantity: i64,
        /// Delivery reference.
        reference: Option<String>,
    },
    /// A correction of on-hand stock, either way.
    Adjust {
        /// Product.
        product: ProductId,
        /// Location.
        location: LocationId,
        /// Units, non-zero.
        delta: i64,
        /// `Adjusted` or `Returned`.
        reason: Reason,
        /// Why, in words.
        note: Option<String>,
    },
    /// Stock moved between two locations, both sides or neither.
    Transfer {
        /// Product.
        product: ProductId,
        /// Taken from.
        from: LocationId,
        /// Put at.
        to: LocationId,
        /// Units, positive.
        quantity: i64,
    },
}

/// Checks a quantity field.
///
/// # Errors
/// `Invalid` on `field` outside 1..=[`MAX_QUANTITY`] (or, with `signed`, a zero or a magnitude
/// beyond it).
pub fn parse_quantity(field: &str, raw: i64, signed: bool) -> Result<i64, Invalid> {
    let magnitude = if signed { raw.checked_abs().unwrap_or(i64::MAX) } else { raw };
    if (1..=MAX_QUANTITY).contains(&magnitude) {
        Ok(raw)
    } else if signed {
        Err(Invalid::new(field, format!("must be a non-zero number between -{MAX_QUANTITY} and {MAX_QUANTITY}")))
    } else {
        Err(Invalid::new(field, format!("must be between 1 and {MAX_QUANTITY}")))
    }
}

fn insufficient(field: &str) -> DomainError {
    Invalid::with_code(field, "INSUFFICIENT_STOCK", "not enough stock available at this location").into()
}

impl StockCommand {
    /// The operation name idempotency keys are scoped to.
    fn operation(&self) -> &'static str {
        match self {
            StockCommand::Receive { .. } => "receiveStock",
            StockCommand::Adjust { .. } => "adjustStock",
            StockCommand::Transfer { .. } => "transferStock",
        }
    }
}

/// How many times a request whose idempotency key was claimed concurrently is re-run to
/// replay the winner's result.
const IDEMPOTENT_ATTEMPTS: usize = 3;

/// Applies a stock operation: checks the product and locations exist in the tenant, changes
/// the level(s) with conditional updates and appends the movement(s), all in one transaction.
/// Returns the level(s) after the change (for a transfer: source, then destination). With an
/// idempotency key, a repeat of the same request replays the first one's levels.
///
/// # Errors
/// `Forbidden` without `inventory:write`; `NotFound` for an unknown or foreign product or
/// location; `Invalid` (`INSUFFICIENT_STOCK`) when stock would go below what is available;
/// `IdempotencyKeyReused` for a key used before with another request.
#[tracing::instrument(name = "inventory.change_stock", skip_all)]
pub async fn change_stock<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    command: StockCommand,
    key: Option<IdempotencyKey>,
) -> Result<Vec<StockLevel>, DomainError> {
    let scope = authorize(&caller.actor, Permission::InventoryWrite)?;
    let Some(key) = key else { return apply(ports, &scope, command, None).await };
    let fingerprint = ports.crypto.hash_secret(&format!("{command:?}"));
    for _ in 0..IDEMPOTENT_ATTEMPTS {
        match apply(ports, &scope, command.clone(), Some((&key, &fingerprint))).await {
            // A concurrent request with the same key committed first: run again to replay it.
            Err(DomainError::Conflict(_)) => continue,
            other => return other,
        }
    }
    Err(DomainError::Conflict("a request with this idempotency key is still in progress; retry".into()))
}

async fn apply<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    scope: &TenantScope,
    command: StockCommand,
    key: Option<(&IdempotencyKey, &SecretHash)>,
) -> Result<Vec<StockLevel>, DomainError> {
    let now = ports.clock.now();
    let movement = |product, location, change, reason, reference: Option<String>, note: Option<String>| StockMovement {
        id: StockMovementId::new(),
        product,
        location,
        change,
        reason,
        reference,
        note,
        actor: scope.actor(),
        created_at: now,
    };
    let operation = command.operation();
    let tx = ports.store.begin(scope).await?;
    if let Some((key, fingerprint)) = key
        && let Some(recorded) = tx.idempotency_record(scope, operation, key).await?
    {
        return if recorded.request_hash == *fingerprint {
            decode_levels(&recorded.result, now)
        } else {
            Err(DomainError::IdempotencyKeyReused)
        };
    }
    let (product, locations) = match &command {
        StockCommand::Receive { product, location, .. } | StockCommand::Adjust { product, location, .. } => {
            (*product, vec![*location])
        }
        StockCommand::Transfer { product, from, to, .. } => (*product, vec![*from, *to]),
    };
    tx.product(scope, product).await?.ok_or(DomainError::NotFound)?;
    for location in &locations {
        tx.location(scope, *location).await?.ok_or(DomainError::NotFound)?;
    }
    let movements = match command {
        StockCommand::Receive { product, location, quantity, reference } => {
            vec![movement(product, location, Change::of(Reason::Received, quantity), Reason::Received, reference, None)]
        }
        StockCommand::Adjust { product, location, delta, reason, note } => {
            vec![movement(product, location, Change::of(reason, delta), reason, None, note)]
        }
        StockCommand::Transfer { product, from, to, quantity } => {
            if from == to {
                return Err(Invalid::new("toLocationId", "must differ from fromLocationId").into());
            }
            vec![
                movement(product, from, Change::of(Reason::Transferred, -quantity), Reason::Transferred, None, None),
                movement(product, to, Change::of(Reason::Transferred, quantity), Reason::Transferred, None, None),
            ]
        }
    };
    let mut levels = Vec::with_capacity(movements.len());
    for movement in &movements {
        let Some(level) = tx.apply_movement(scope, movement).await? else {
            return Err(insufficient(if movements.len() > 1 { "quantity" } else { "delta" }));
        };
        levels.push(level);
    }
    if let Some((key, fingerprint)) = key {
        let recorded = Recorded { request_hash: fingerprint.clone(), result: encode_levels(&levels) };
        tx.save_idempotency(scope, operation, key, &recorded, now).await?;
    }
    tx.commit().await?;
    Ok(levels)
}

/// `product:location:on_hand:reserved`, `;`-separated: the result an idempotent repeat replays.
fn encode_levels(levels: &[StockLevel]) -> String {
    let encoded: Vec<String> = levels
        .iter()
        .map(|l| format!("{}:{}:{}:{}", l.product.uuid(), l.location.uuid(), l.level.on_hand, l.level.reserved))
        .collect();
    encoded.join(";")
}

fn decode_levels(encoded: &str, now: OffsetDateTime) -> Result<Vec<StockLevel>, DomainError> {
    let corrupt = || DomainError::internal("a stored idempotent stock result is not valid");
    encoded
        .split(';')
        .map(|level| {
            let parts: Vec<&str> = level.split(':').collect();
            let [product, location, on_hand, reserved] = parts[..] else { return Err(corrupt()) };
            Ok(StockLevel {
                product: ProductId::from_uuid(uuid::Uuid::try_parse(product).map_err(|_| corrupt())?),
                location: LocationId::from_uuid(uuid::Uuid::try_parse(location).map_err(|_| corrupt())?),
                level: Level {
                    on_hand: on_hand.parse().map_err(|_| corrupt())?,
                    reserved: reserved.parse().map_err(|_| corrupt())?,
                },
                updated_at: now,
            })
        })
        .collect()
}

/// A product's level at a location (zero if stock was never recorded there).
///
/// # Errors
/// `NotFound` for unknown or foreign ids; `Forbidden` without `inventory:read`.
pub async fn stock_level<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    product: ProductId,
    location: LocationId,
) -> Result<StockLevel, DomainError> {
    let scope = authorize(&caller.actor, Permission::InventoryRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    tx.product(&scope, product).await?.ok_or(DomainError::NotFound)?;
    tx.location(&scope, location).await?.ok_or(DomainError::NotFound)?;
    let level = tx.stock_level(&scope, product, location).await?;
    tx.commit().await?;
    Ok(level.unwrap_or(StockLevel { product, location, level: Level::default(), updated_at: ports.clock.now() }))
}

/// Every recorded level of each product, for a page of products at once (one statement).
///
/// # Errors
/// `Forbidden` without `inventory:read`.
pub async fn levels_of<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    products: &[ProductId],
) -> Result<std::collections::HashMap<ProductId, Vec<StockLevel>>, DomainError> {
    let scope = authorize(&caller.actor, Permission::InventoryRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let levels = tx.stock_levels_of(&scope, products).await?;
    tx.commit().await?;
    let mut by_product: std::collections::HashMap<ProductId, Vec<StockLevel>> =
        products.iter().map(|p| (*p, Vec::new())).collect();
    for level in levels {
        by_product.entry(level.product).or_default().push(level);
    }
    Ok(by_product)
}

/// The units available to sell of each product, summed over all locations (zero where no stock
/// was ever recorded), for a page of products at once (one statement).
///
/// Unlike levels per location, this total is catalog information: a shop shows customers
/// whether, and how much of, a product is in stock, so it needs only `catalog:read`. Callers
/// pass products the caller could read; which locations hold the stock stays behind
/// `inventory:read`.
///
/// # Errors
/// `Forbidden` without `catalog:read`.
pub async fn available_of<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    products: &[ProductId],
) -> Result<std::collections::HashMap<ProductId, i64>, DomainError> {
    let scope = authorize(&caller.actor, Permission::CatalogRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let sums = tx.available_quantities(&scope, products).await?;
    tx.commit().await?;
    let mut available: std::collections::HashMap<ProductId, i64> = products.iter().map(|p| (*p, 0)).collect();
    available.extend(sums);
    Ok(available)
}

/// The ledger of a product at a location, newest first.
///
/// # Errors
/// `NotFound` for unknown or foreign ids; `Forbidden` without `inventory:read`.
pub async fn stock_movements<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    product: ProductId,
    location: LocationId,
    page: &PageRequest,
) -> Result<Page<StockMovement>, DomainError> {
    let scope = authorize(&caller.actor, Permission::InventoryRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    tx.product(&scope, product).await?.ok_or(DomainError::NotFound)?;
    tx.location(&scope, location).await?.ok_or(DomainError::NotFound)?;
    let movements = tx.stock_movements(&scope, product, location, page).await?;
    tx.commit().await?;
    Ok(movements)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_level_never_goes_negative_nor_reserves_more_than_it_holds() {
        let level = Level { on_hand: 5, reserved: 2 };

        assert_eq!(level.apply(Change::of(Reason::Adjusted, -3)), Some(Level { on_hand: 2, reserved: 2 }));
        assert_eq!(level.apply(Change::of(Reason::Adjusted, -4)), None, "only 3 available");
        assert_eq!(level.apply(Change::of(Reason::Reserved, 4)), None);
        assert_eq!(level.apply(Change::of(Reason::Released, 3)), None);
        assert_eq!(level.apply(Change::of(Reason::Shipped, 2)), Some(Level { on_hand: 3, reserved: 0 }));
        assert_eq!(level.apply(Change::of(Reason::Shipped, 3)), None);
    }

    /// Property: random sequences of receive/adjust/reserve/release/ship/return keep every level
    /// non-negative with `reserved ≤ on_hand`, and equal to the sum of the accepted movements.
    #[test]
    fn random_sequences_keep_levels_equal_to_the_sum_of_their_movements() {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % bound
        };
        for _ in 0..500 {
            let mut level = Level::default();
            let mut ledger: Vec<Change> = Vec::new();
            for _ in 0..200 {
                let reason = Reason::ALL[next(Reason::ALL.len() as u64) as usize];
                let quantity = next(20) as i64 + 1;
                let quantity = if reason == Reason::Adjusted && next(2) == 0 { -quantity } else { quantity };
                let change = Change::of(reason, quantity);

                if let Some(after) = level.apply(change) {
                    level = after;
                    ledger.push(change);
                }

                let sum = ledger.iter().fold(Level::default(), |acc, c| Level {
                    on_hand: acc.on_hand + c.on_hand,
                    reserved: acc.reserved + c.reserved,
                });
                assert_eq!(level, sum, "the level is the sum of its movements");
                assert!(level.on_hand >= 0 && level.reserved >= 0 && level.available() >= 0, "{level:?}");
            }
        }
    }

    #[test]
    fn quantities_are_bounded() {
        assert_eq!(parse_quantity("quantity", 5, false), Ok(5));
        assert!(parse_quantity("quantity", 0, false).is_err());
        assert!(parse_quantity("quantity", -1, false).is_err());
        assert!(parse_quantity("quantity", MAX_QUANTITY + 1, false).is_err());
        assert_eq!(parse_quantity("delta", -5, true), Ok(-5));
        assert!(parse_quantity("delta", 0, true).is_err());
        assert!(parse_quantity("delta", i64::MIN, true).is_err());
    }
}
