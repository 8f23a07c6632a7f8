//! Applying one checked status change inside an open transaction: compare-and-set on the
//! status, the stock it moves (reservations released on cancellation, shipped on fulfilment),
//! the history entry and the events (`stock.changed` for every level moved, then the order's).
//! Every status change (a person's, expiry's, a payment's or a refund's) goes through
//! [`apply_transition`].

use time::OffsetDateTime;

use super::model::{Order, OrderLine, Transition};
use super::status::OrderStatus;
use crate::auth::TenantScope;
use crate::error::{DomainError, Invalid};
use crate::events::{DomainEvent, OrderEvent, OutboxEvent};
use crate::ids::{OrderTransitionId, ProductId, StockMovementId};
use crate::inventory::{Change, Reason, StockMovement, level_events};
use crate::ports::Tx;

/// Applies a checked transition inside `tx`; `Contention` when the order changed status since
/// it was read, so the caller runs again on fresh data.
pub(crate) async fn apply_transition<T: Tx>(
    tx: &T,
    scope: &TenantScope,
    mut order: Order,
    to: OrderStatus,
    reason: Option<String>,
    now: OffsetDateTime,
) -> Result<Order, DomainError> {
    let from = order.status;
    // A partially refunded order may or may not have shipped: its history says.
    let holds = match from {
        OrderStatus::PartiallyRefunded => !was_fulfilled(tx, scope, &order).await?,
        other => other.holds_reservations(),
    };
    if to == OrderStatus::Fulfilled && !holds {
        return Err(Invalid::with_code("orderId", "ILLEGAL_TRANSITION", "the order was already fulfilled").into());
    }
    if !tx.set_order_status(scope, order.id, from, to, now).await? {
        return Err(DomainError::contention(format!("order {} changed status concurrently", order.id)));
    }
    let stock = match to {
        // Nothing will ship of a cancelled or wholly refunded order: its reservations go back.
        OrderStatus::Cancelled | OrderStatus::Refunded if holds => Some(Reason::Released),
        OrderStatus::Fulfilled => Some(Reason::Shipped),
        _ => None,
    };
    let mut events = Vec::new();
    if let Some(reason) = stock {
        let mut lines: Vec<&OrderLine> = order.lines.iter().collect();
        lines.sort_by_key(|line| line.product);
        let changes: Vec<(ProductId, Change)> =
            lines.iter().map(|line| (line.product, Change::of(reason, line.quantity))).collect();
        let changed = tx.change_levels(scope, order.location, &changes, now).await?;
        let mut movements = Vec::with_capacity(lines.len());
        for ((line, (_, change)), after) in lines.into_iter().zip(changes).zip(changed) {
            let Some(after) = after else {
                return Err(DomainError::internal(format!(
                    "order {} holds a reservation its stock level does not show",
                    order.id
                )));
            };
            // Releasing or shipping a reservation never lowers available stock, so it can never
            // cross a low-stock threshold: no threshold is needed (nor read) here.
            events.extend(level_events(&after, change, reason, None, now));
            movements.push(StockMovement {
                id: StockMovementId::new(),
                product: line.product,
                location: order.location,
                change,
                reason,
                reference: Some(format!("order #{}", order.number)),
                note: None,
                actor: scope.actor(),
                created_at: now,
            });
        }
        tx.append_movements(scope, &movements).await?;
    }
    order.status = to;
    order.version += 1;
    order.updated_at = now;
    let transition = Transition {
        id: OrderTransitionId::new(),
        order: order.id,
        from: Some(from),
        to,
        reason,
        actor: scope.actor(),
        at: now,
    };
    tx.append_transition(scope, &transition).await?;
    // The stock it moved, then the order's event (ids in that order), in one statement.
    events.push(OutboxEvent::new(DomainEvent::Order(OrderEvent::of(&order)), now));
    crate::outbox::publish(tx, scope, &events).await?;
    Ok(order)
}

/// Whether `order` was ever fulfilled (its reservations became shipments).
async fn was_fulfilled<T: Tx>(tx: &T, scope: &TenantScope, order: &Order) -> Result<bool, DomainError> {
    let history = tx.transitions_of(scope, std::slice::from_ref(&order.id)).await?;
    Ok(history.iter().any(|transition| transition.to == OrderStatus::Fulfilled))
}
