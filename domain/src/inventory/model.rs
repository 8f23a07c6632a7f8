//! The values of stock: [`Level`] and the [`Change`] a [`Reason`] makes to it, a product's
//! [`StockLevel`] at a location, and the [`StockMovement`]s of the ledger.
//!
//! [`Level::apply`] is the rule every change keeps; storage enforces the same conditions in
//! one statement.

use time::OffsetDateTime;

use crate::auth::ActorRef;
use crate::ids::{LocationId, ProductId, StockMovementId};

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
}
