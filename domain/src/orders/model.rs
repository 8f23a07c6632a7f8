//! The values of an order's life: [`OrderNumber`], [`Order`] with its [`OrderLine`]s, its
//! history of [`Transition`]s, and [`OrderFilter`].
//!
//! Plain data: nothing here reads storage or decides a status change.

use time::OffsetDateTime;

use super::status::OrderStatus;
use crate::auth::ActorRef;
use crate::catalog::Sku;
use crate::identity::Email;
use crate::ids::{LocationId, OrderId, OrderTransitionId, ProductId, UserId};
use crate::money::Money;

/// A per-tenant order number, shown to people as `#1001`; numbers start at 1001.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderNumber(i64);

impl OrderNumber {
    /// The first number of every tenant.
    pub const FIRST: OrderNumber = OrderNumber(1001);

    /// Wraps a stored number.
    pub fn from_i64(number: i64) -> OrderNumber {
        OrderNumber(number)
    }

    /// Parses `1001` or `#1001`; anything else is `None` (and so matches no order).
    pub fn parse(raw: &str) -> Option<OrderNumber> {
        let digits = raw.trim().trim_start_matches('#');
        if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(OrderNumber)
    }

    /// The number.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for OrderNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One line of an order, priced when the order was placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderLine {
    /// Position in the order, from 0.
    pub position: i32,
    /// The product.
    pub product: ProductId,
    /// The product's SKU when the order was placed.
    pub sku: Sku,
    /// The product's name when the order was placed.
    pub name: String,
    /// The unit price when the order was placed.
    pub unit_price: Money,
    /// Units.
    pub quantity: i64,
    /// `unit_price × quantity`.
    pub total: Money,
}

/// An order with its lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// Its id.
    pub id: OrderId,
    /// Its number, unique in the tenant.
    pub number: OrderNumber,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// Who buys.
    pub customer_email: Email,
    /// The customer member who placed it, when a customer did.
    pub customer: Option<UserId>,
    /// A note from the buyer or staff.
    pub note: Option<String>,
    /// Where stock is reserved and shipped from.
    pub location: LocationId,
    /// Sum of the line totals.
    pub subtotal: Money,
    /// What is owed (the subtotal: taxes, shipping and discounts are not modelled yet).
    pub total: Money,
    /// The lines, by position.
    pub lines: Vec<OrderLine>,
    /// Who placed it.
    pub placed_by: ActorRef,
    /// Incremented on every status change.
    pub version: i32,
    /// When it was placed.
    pub created_at: OffsetDateTime,
    /// When its status last changed.
    pub updated_at: OffsetDateTime,
}

/// One entry of an order's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// Its id (time-ordered).
    pub id: OrderTransitionId,
    /// The order.
    pub order: OrderId,
    /// The status before; `None` for the placement itself.
    pub from: Option<OrderStatus>,
    /// The status after.
    pub to: OrderStatus,
    /// Why, in words.
    pub reason: Option<String>,
    /// Who.
    pub actor: ActorRef,
    /// When.
    pub at: OffsetDateTime,
}

/// How an order list is filtered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Only orders in one of these statuses (empty: any).
    pub statuses: Vec<OrderStatus>,
    /// Only orders of this customer email.
    pub customer_email: Option<Email>,
    /// Only orders placed at or after this time.
    pub created_from: Option<OffsetDateTime>,
    /// Only orders placed before this time.
    pub created_before: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_numbers_parse_with_or_without_a_hash() {
        assert_eq!(OrderNumber::parse("1001"), Some(OrderNumber(1001)));
        assert_eq!(OrderNumber::parse(" #1042 "), Some(OrderNumber(1042)));
        for bad in ["", "#", "10a1", "-5", "99999999999999999999"] {
            assert_eq!(OrderNumber::parse(bad), None, "{bad:?}");
        }
    }
}
