//! An order's life after placement: [`change_status`] on request (pay outside Keel, fulfil,
//! cancel) and [`expire_unpaid_orders`] on a schedule, both through one compare-and-set
//! transition that moves stock and records history and event.

use time::OffsetDateTime;

use super::model::{Order, OrderLine, Transition};
use super::retry::retrying;
use super::status::OrderStatus;
use crate::auth::{Caller, Permission, TenantScope, authorize, job_scope};
use crate::error::{DomainError, Invalid};
use crate::events::{DomainEvent, OrderEvent, OutboxEvent};
use crate::ids::{OrderId, OrderTransitionId, StockMovementId};
use crate::inventory::{Change, Reason, StockMovement};
use crate::ports::{Crypto, OrderRepo, Ports, Store, Tx};
use crate::text::parse_note;

/// A status change someone asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusChange {
    /// Payment was taken outside Keel (cash, bank transfer): `PAID`.
    MarkPaid,
    /// Shipped: `FULFILLED`, reservations become shipments.
    Fulfil,
    /// `CANCELLED`, reservations released.
    Cancel,
}

impl StatusChange {
    fn target(self) -> OrderStatus {
        match self {
            StatusChange::MarkPaid => OrderStatus::Paid,
            StatusChange::Fulfil => OrderStatus::Fulfilled,
            StatusChange::Cancel => OrderStatus::Cancelled,
        }
    }
}

/// Moves an order to another status: checks the transition table, applies it only if the
/// order is still in the status checked, moves stock (releases reservations on cancellation,
/// ships them on fulfilment), records the history entry and the event, in one transaction.
///
/// Customers may only cancel their own unpaid orders; recording payment, fulfilling and
/// cancelling paid orders need `orders:manage`.
///
/// # Errors
/// `Forbidden` without the permission; `NotFound` for an unknown, foreign or (for customers)
/// someone else's order; `Invalid` (`ILLEGAL_TRANSITION`, on `orderId`) naming the current
/// status; `Invalid` for a reason over 500 characters.
#[tracing::instrument(name = "orders.change_status", skip_all, fields(order.id = %id, change = ?change))]
pub async fn change_status<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: OrderId,
    change: StatusChange,
    reason: Option<&str>,
) -> Result<Order, DomainError> {
    let reason = parse_note(if change == StatusChange::MarkPaid { "reference" } else { "reason" }, reason)?;
    let scope = match change {
        StatusChange::Cancel => match authorize(&caller.actor, Permission::OrdersManage) {
            Ok(scope) => scope,
            Err(_) => authorize(&caller.actor, Permission::OrdersWrite)?,
        },
        StatusChange::MarkPaid | StatusChange::Fulfil => authorize(&caller.actor, Permission::OrdersManage)?,
    };
    let to = change.target();
    retrying(|| async {
        let tx = ports.store.begin(&scope).await?;
        let order = tx.order(&scope, id).await?.ok_or(DomainError::NotFound)?;
        order.status.transition_to(to, "orderId")?;
        if scope.granted() != Permission::OrdersManage && order.status != OrderStatus::PendingPayment {
            return Err(Invalid::with_code(
                "orderId",
                "ILLEGAL_TRANSITION",
                format!("the order is {}; ask the shop to cancel it", order.status.as_str()),
            )
            .into());
        }
        let changed = apply_transition(&tx, &scope, order, to, reason.clone(), ports.clock.now()).await?;
        tx.commit().await?;
        Ok(changed)
    })
    .await
}

/// Applies a checked transition inside `tx`; `Contention` when the order changed status since
/// it was read, so the caller runs again on fresh data.
async fn apply_transition<T: Tx>(
    tx: &T,
    scope: &TenantScope,
    mut order: Order,
    to: OrderStatus,
    reason: Option<String>,
    now: OffsetDateTime,
) -> Result<Order, DomainError> {
    let from = order.status;
    if !tx.set_order_status(scope, order.id, from, to, now).await? {
        return Err(DomainError::contention(format!("order {} changed status concurrently", order.id)));
    }
    let stock = match to {
        OrderStatus::Cancelled if from.holds_reservations() => Some(Reason::Released),
        OrderStatus::Fulfilled => Some(Reason::Shipped),
        _ => None,
    };
    if let Some(reason) = stock {
        let mut lines: Vec<&OrderLine> = order.lines.iter().collect();
        lines.sort_by_key(|line| line.product);
        let mut movements = Vec::with_capacity(lines.len());
        for line in lines {
            let change = Change::of(reason, line.quantity);
            if !tx.change_level(scope, line.product, order.location, change, now).await? {
                return Err(DomainError::internal(format!(
                    "order {} holds a reservation its stock level does not show",
                    order.id
                )));
            }
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
    tx.append_event(scope, &OutboxEvent::new(DomainEvent::Order(OrderEvent::of(&order)), now)).await?;
    Ok(order)
}

/// Cancels every order of every tenant that has waited for payment since before
/// `placed_before`, releasing its stock; returns how many it cancelled. Safe to run in several
/// processes at once: each cancellation is a compare-and-set on the status, so an order is
/// cancelled, and its stock released, exactly once.
///
/// # Errors
/// When storage fails; orders already cancelled stay cancelled.
#[tracing::instrument(name = "orders.expire_unpaid", skip_all)]
pub async fn expire_unpaid_orders<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    placed_before: OffsetDateTime,
) -> Result<usize, DomainError> {
    let mut cancelled = 0;
    for tenant in ports.store.active_tenants().await? {
        let scope = job_scope(tenant);
        let expired = {
            let tx = ports.store.begin_read(&scope).await?;
            let ids = tx.unpaid_orders_placed_before(&scope, placed_before, 500).await?;
            tx.commit().await?;
            ids
        };
        for id in expired {
            let outcome = retrying(|| async {
                let tx = ports.store.begin(&scope).await?;
                let Some(order) = tx.order(&scope, id).await? else { return Ok(false) };
                // Paid or cancelled by someone else since it was listed: nothing to do.
                if order.status != OrderStatus::PendingPayment {
                    return Ok(false);
                }
                let reason = Some("payment not received in time".to_owned());
                apply_transition(&tx, &scope, order, OrderStatus::Cancelled, reason, ports.clock.now()).await?;
                tx.commit().await?;
                Ok(true)
            })
            .await?;
            cancelled += usize::from(outcome);
        }
    }
    if cancelled > 0 {
        tracing::info!(cancelled, "cancelled unpaid orders past the payment timeout");
    }
    Ok(cancelled)
}
