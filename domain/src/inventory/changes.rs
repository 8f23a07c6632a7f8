//! Changing stock: a [`StockCommand`] (receive, adjust, transfer) checked from input, then
//! applied by [`change_stock`] with conditional updates, ledger lines and outbox events in one
//! transaction, optionally idempotent through [`idempotent`]. [`level_events`] gives the events
//! of any level change, here and where orders reserve, release and ship stock. Levels are changed in location order, and a
//! transaction the database aborts for contention runs again (in [`idempotent`]), so concurrent
//! transfers neither deadlock nor fail.

use time::OffsetDateTime;

use super::model::{Change, Level, Reason, StockLevel, StockMovement};
use crate::auth::{Caller, Permission, TenantScope, authorize};
use crate::error::{DomainError, Invalid};
use crate::events::{OutboxEvent, stock_events};
use crate::idempotency::{Canonical, Fingerprint, IdempotencyKey, Operation, Outcome, idempotent};
use crate::ids::{LocationId, ProductId, StockMovementId};
use crate::ports::{CatalogRepo, Crypto, InventoryRepo, Ports, Store, Tx};

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
}

impl Fingerprint for StockCommand {
    fn operation(&self) -> Operation {
        match self {
            StockCommand::Receive { .. } => Operation::ReceiveStock,
            StockCommand::Adjust { .. } => Operation::AdjustStock,
            StockCommand::Transfer { .. } => Operation::TransferStock,
        }
    }

    fn write_fields(&self, fields: &mut Canonical) {
        match self {
            StockCommand::Receive { product, location, quantity, reference } => {
                fields.id("productId", product.uuid()).id("locationId", location.uuid()).number("quantity", *quantity);
                fields.optional_text("reference", reference.as_deref());
            }
            StockCommand::Adjust { product, location, delta, reason, note } => {
                fields.id("productId", product.uuid()).id("locationId", location.uuid()).number("delta", *delta);
                fields.text("reason", reason.as_str()).optional_text("note", note.as_deref());
            }
            StockCommand::Transfer { product, from, to, quantity } => {
                fields.id("productId", product.uuid()).id("fromLocationId", from.uuid());
                fields.id("toLocationId", to.uuid()).number("quantity", *quantity);
            }
        }
    }
}

/// The levels after a change, replayed to a repeat as they were then.
impl Outcome for Vec<StockLevel> {
    fn record(&self) -> String {
        encode_levels(self)
    }

    async fn replay<T: Tx>(
        _tx: &T,
        _scope: &TenantScope,
        recorded: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<StockLevel>, DomainError> {
        decode_levels(recorded, now)
    }
}

/// Applies a stock operation: checks the product and locations exist in the tenant, changes
/// the level(s) with conditional updates and appends the movement(s), all in one transaction.
/// Returns the level(s) after the change (for a transfer: source, then destination). With an
/// idempotency key, a repeat of the same request replays the first one's levels
/// ([`idempotent`]).
///
/// # Errors
/// `Forbidden` without `inventory:write`; `NotFound` for an unknown or foreign product or
/// location; `Invalid` (on `toLocationId`) for a transfer to the location it comes from;
/// `Invalid` (`INSUFFICIENT_STOCK`) when stock would go below what is available;
/// `IdempotencyKeyReused` for a key used before with another request; `InProgress` while a
/// concurrent request with the key runs too long.
#[tracing::instrument(name = "inventory.change_stock", skip_all)]
pub async fn change_stock<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    command: StockCommand,
    key: Option<IdempotencyKey>,
) -> Result<Vec<StockLevel>, DomainError> {
    let scope = authorize(&caller.actor, Permission::InventoryWrite)?;
    command.check()?;
    idempotent(ports, &scope, key.as_ref(), &command, |tx| apply(tx, ports, &scope, &command)).await
}

/// Applies a stock operation inside `tx`; [`idempotent`] runs it again while the database
/// aborts it for contention, so a lost race never reaches the client as an error.
async fn apply<S: Store, C: Crypto>(
    tx: S::Tx,
    ports: &Ports<S, C>,
    scope: &TenantScope,
    command: &StockCommand,
) -> Result<(S::Tx, Vec<StockLevel>), DomainError> {
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
    let (product, locations) = match command {
        StockCommand::Receive { product, location, .. } | StockCommand::Adjust { product, location, .. } => {
            (*product, vec![*location])
        }
        StockCommand::Transfer { product, from, to, .. } => (*product, vec![*from, *to]),
    };
    let threshold = tx.product(scope, product).await?.ok_or(DomainError::NotFound)?.low_stock_threshold;
    for location in &locations {
        tx.location(scope, *location).await?.ok_or(DomainError::NotFound)?;
    }
    let movements = match command.clone() {
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
    let mut events = Vec::new();
    for (index, movement) in by_location {
        let Some(level) = tx.apply_movement(scope, movement).await? else {
            return Err(insufficient(if movements.len() > 1 { "quantity" } else { "delta" }));
        };
        events.extend(level_events(&level, movement.change, movement.reason, threshold, now));
        changed.push((index, level));
    }
    crate::outbox::publish(&tx, scope, &events).await?;
    changed.sort_by_key(|(index, _)| *index);
    let levels: Vec<StockLevel> = changed.into_iter().map(|(_, level)| level).collect();
    Ok((tx, levels))
}

/// The outbox events of one level change, the one place every stock change gets them from:
/// `stock.changed` for `after` (the level once `change` was applied, for `reason`), and
/// `stock.low` when the change took its available units below `threshold` (the product's
/// low-stock threshold), stamped `at`.
pub(crate) fn level_events(
    after: &StockLevel,
    change: Change,
    reason: Reason,
    threshold: Option<i64>,
    at: OffsetDateTime,
) -> impl Iterator<Item = OutboxEvent> {
    stock_events(after, change, reason, threshold).into_iter().map(move |event| OutboxEvent::new(event, at))
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

    fn fingerprint(command: &StockCommand) -> String {
        Canonical::of(command).as_str().to_owned()
    }

    #[test]
    fn every_field_of_a_stock_change_changes_its_fingerprint() {
        let (product, main, backup) = (ProductId::new(), LocationId::new(), LocationId::new());
        let receive = |product, location, quantity, reference: Option<&str>| StockCommand::Receive {
            product,
            location,
            quantity,
            reference: reference.map(str::to_owned),
        };
        let adjust = |delta, reason, note: Option<&str>| StockCommand::Adjust {
            product,
            location: main,
            delta,
            reason,
            note: note.map(str::to_owned),
        };
        let transfer = |from, to, quantity| StockCommand::Transfer { product, from, to, quantity };
        let commands = [
            receive(product, main, 5, Some("PO-1")),
            receive(ProductId::new(), main, 5, Some("PO-1")),
            receive(product, backup, 5, Some("PO-1")),
            receive(product, main, 6, Some("PO-1")),
            receive(product, main, 5, Some("PO-2")),
            receive(product, main, 5, Some("")),
            receive(product, main, 5, None),
            adjust(-1, Reason::Adjusted, Some("damaged")),
            adjust(1, Reason::Adjusted, Some("damaged")),
            adjust(-1, Reason::Returned, Some("damaged")),
            adjust(-1, Reason::Adjusted, Some("lost")),
            adjust(-1, Reason::Adjusted, None),
            transfer(main, backup, 5),
            transfer(backup, main, 5),
            transfer(main, backup, 4),
            StockCommand::Transfer { product: ProductId::new(), from: main, to: backup, quantity: 5 },
        ];

        let distinct: std::collections::HashSet<String> = commands.iter().map(fingerprint).collect();
        assert_eq!(distinct.len(), commands.len(), "two stock changes share a fingerprint");
        assert_eq!(fingerprint(&commands[0]), fingerprint(&commands[0].clone()));
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
