//! Changing stock: a [`StockCommand`] (receive, adjust, transfer) checked from input, then
//! applied by [`change_stock`] with conditional updates and ledger lines in one transaction,
//! optionally idempotent. Levels are changed in location order, and a transaction the
//! database aborts for contention runs again, so concurrent transfers neither deadlock nor fail.

use time::OffsetDateTime;

use super::model::{Change, Level, Reason, StockLevel, StockMovement};
use crate::auth::{Caller, Permission, TenantScope, authorize};
use crate::error::{DomainError, Invalid};
use crate::idempotency::{IdempotencyKey, Recorded};
use crate::identity::SecretHash;
use crate::ids::{LocationId, ProductId, StockMovementId};
use crate::ports::{CatalogRepo, Crypto, IdempotencyRepo, InventoryRepo, Ports, Store, Tx};
use crate::retry::retrying;

/// The largest quantity one stock operation may move.
pub const MAX_QUANTITY: i64 = 1_000_000;

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
    /// Checks what each field cannot tell alone: a transfer moves stock between two locations.
    fn check(&self) -> Result<(), Invalid> {
        match self {
            StockCommand::Transfer { from, to, .. } if from == to => {
                Err(Invalid::new("toLocationId", "must differ from fromLocationId"))
            }
            _ => Ok(()),
        }
    }

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
/// location; `Invalid` (on `toLocationId`) for a transfer to the location it comes from;
/// `Invalid` (`INSUFFICIENT_STOCK`) when stock would go below what is available;
/// `IdempotencyKeyReused` for a key used before with another request.
#[tracing::instrument(name = "inventory.change_stock", skip_all)]
pub async fn change_stock<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    command: StockCommand,
    key: Option<IdempotencyKey>,
) -> Result<Vec<StockLevel>, DomainError> {
    let scope = authorize(&caller.actor, Permission::InventoryWrite)?;
    command.check()?;
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

/// Applies a stock operation in one transaction, run again while the database aborts it for
/// contention, so a lost race never reaches the client as an error.
async fn apply<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    scope: &TenantScope,
    command: StockCommand,
    key: Option<(&IdempotencyKey, &SecretHash)>,
) -> Result<Vec<StockLevel>, DomainError> {
    retrying(|| apply_once(ports, scope, command.clone(), key)).await
}

async fn apply_once<S: Store, C: Crypto>(
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
            vec![
                movement(product, from, Change::of(Reason::Transferred, -quantity), Reason::Transferred, None, None),
                movement(product, to, Change::of(Reason::Transferred, quantity), Reason::Transferred, None, None),
            ]
        }
    };
    // Levels change in location order, whichever way stock moves: opposite transfers of one
    // product then lock its two rows in the same order and cannot deadlock each other.
    let mut by_location: Vec<(usize, &StockMovement)> = movements.iter().enumerate().collect();
    by_location.sort_by_key(|(_, movement)| movement.location);
    let mut changed = Vec::with_capacity(movements.len());
    for (index, movement) in by_location {
        let Some(level) = tx.apply_movement(scope, movement).await? else {
            return Err(insufficient(if movements.len() > 1 { "quantity" } else { "delta" }));
        };
        changed.push((index, level));
    }
    changed.sort_by_key(|(index, _)| *index);
    let levels: Vec<StockLevel> = changed.into_iter().map(|(_, level)| level).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

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
