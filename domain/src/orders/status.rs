//! An order's status and the one table of transitions between statuses.
//!
//! Every status change anywhere in Keel asks [`OrderStatus::can_become`]; storage then applies
//! it only if the stored status is still the one checked (compare-and-set), so two concurrent
//! changes cannot both succeed from the same status.

use crate::error::Invalid;

/// Where an order is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Placed, stock reserved, waiting for payment (expires after the payment timeout).
    PendingPayment,
    /// Paid; stock still reserved until fulfilment.
    Paid,
    /// Shipped: reservations became shipments.
    Fulfilled,
    /// Cancelled by a person or by expiry; reservations released.
    Cancelled,
    /// Part of what was paid was refunded; an order refunded in part before it shipped still
    /// holds its stock and may still be fulfilled.
    PartiallyRefunded,
    /// Everything paid was refunded; an order refunded before it shipped released its stock.
    Refunded,
}

use OrderStatus as S;

/// Every allowed `(from, to)` pair; anything not listed is illegal.
const TRANSITIONS: &[(OrderStatus, OrderStatus)] = &[
    (S::PendingPayment, S::Paid),
    (S::PendingPayment, S::Cancelled),
    (S::Paid, S::Fulfilled),
    // The cancellation refunds the payment first and takes this edge when the refund succeeds.
    (S::Paid, S::Cancelled),
    (S::Paid, S::PartiallyRefunded),
    (S::Paid, S::Refunded),
    (S::Fulfilled, S::PartiallyRefunded),
    (S::Fulfilled, S::Refunded),
    // A second partial refund stays partially refunded, and is still recorded in the history.
    (S::PartiallyRefunded, S::PartiallyRefunded),
    (S::PartiallyRefunded, S::Refunded),
    // Refunded in part before it shipped, it may still ship (once: the transition checks the
    // history).
    (S::PartiallyRefunded, S::Fulfilled),
];

impl OrderStatus {
    /// Every status, in life order.
    pub const ALL: [OrderStatus; 6] =
        [S::PendingPayment, S::Paid, S::Fulfilled, S::Cancelled, S::PartiallyRefunded, S::Refunded];

    /// The wire and storage name, e.g. `PENDING_PAYMENT`.
    pub fn as_str(self) -> &'static str {
        match self {
            S::PendingPayment => "PENDING_PAYMENT",
            S::Paid => "PAID",
            S::Fulfilled => "FULFILLED",
            S::Cancelled => "CANCELLED",
            S::PartiallyRefunded => "PARTIALLY_REFUNDED",
            S::Refunded => "REFUNDED",
        }
    }

    /// Parses a stored name; unknown names are `None`.
    pub fn parse(raw: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether the transition table allows going from `self` to `to`.
    pub fn can_become(self, to: OrderStatus) -> bool {
        TRANSITIONS.contains(&(self, to))
    }

    /// Whether stock is still held for an order in this status (reserved, not yet shipped or
    /// released); a `PARTIALLY_REFUNDED` order holds it when it never shipped, which only its
    /// history tells, so this answers `false` for it.
    pub fn holds_reservations(self) -> bool {
        matches!(self, S::PendingPayment | S::Paid)
    }

    /// Checks the transition to `to`.
    ///
    /// # Errors
    /// `Invalid` (`ILLEGAL_TRANSITION`) on `field`, naming the current status.
    pub fn transition_to(self, to: OrderStatus, field: &str) -> Result<(), Invalid> {
        if self.can_become(to) {
            return Ok(());
        }
        Err(Invalid::with_code(
            field,
            "ILLEGAL_TRANSITION",
            format!("the order is {}; it cannot become {}", self.as_str(), to.as_str()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole table, written out: one row per current status, one column per target, in
    /// `OrderStatus::ALL` order (P = pending payment, A = paid, F = fulfilled, C = cancelled,
    /// R = partially refunded, X = refunded).
    const EXPECTED: [[bool; 6]; 6] = [
        //  P      A      F      C      R      X
        [false, true, false, true, false, false],   // PENDING_PAYMENT
        [false, false, true, true, true, true],     // PAID
        [false, false, false, false, true, true],   // FULFILLED
        [false, false, false, false, false, false], // CANCELLED
        [false, false, true, false, true, true],    // PARTIALLY_REFUNDED
        [false, false, false, false, false, false], // REFUNDED
    ];

    #[test]
    fn every_pair_of_statuses_is_allowed_or_refused_as_the_table_says() {
        for (row, from) in OrderStatus::ALL.into_iter().enumerate() {
            for (column, to) in OrderStatus::ALL.into_iter().enumerate() {
                assert_eq!(from.can_become(to), EXPECTED[row][column], "{} -> {}", from.as_str(), to.as_str());
                assert_eq!(from.transition_to(to, "id").is_ok(), EXPECTED[row][column]);
            }
        }
    }

    #[test]
    fn an_illegal_transition_names_the_current_status() {
        let refused = OrderStatus::Cancelled.transition_to(OrderStatus::Paid, "orderId").expect_err("illegal");

        assert_eq!(refused.code(), "ILLEGAL_TRANSITION");
        assert_eq!(refused.field(), ["orderId"]);
        assert!(refused.message().contains("CANCELLED"), "{}", refused.message());
    }

    #[test]
    fn cancelled_and_refunded_are_final() {
        for to in OrderStatus::ALL {
            assert!(!OrderStatus::Cancelled.can_become(to));
            assert!(!OrderStatus::Refunded.can_become(to));
        }
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(OrderStatus::parse("SHIPPED"), None);
    }

    #[test]
    fn only_unshipped_open_orders_hold_stock() {
        let holding: Vec<_> = OrderStatus::ALL.into_iter().filter(|s| s.holds_reservations()).collect();
        assert_eq!(holding, [OrderStatus::PendingPayment, OrderStatus::Paid]);
    }
}
