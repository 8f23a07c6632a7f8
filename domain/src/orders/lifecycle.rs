//! An order's life after placement: [`change_status`] on request (pay outside Keel, fulfil,
//! cancel) and [`expire_unpaid_orders`] on a schedule, both through one compare-and-set
//! transition that moves stock and records history and event. [`PaymentTimeout`] is the rule
//! of when an unpaid order expires.

use time::{Duration, OffsetDateTime};

use super::model::{Order, OrderLine, Transition};
use super::status::OrderStatus;
use crate::auth::{Caller, Permission, TenantScope, authorize, job_scope};
use crate::error::{DomainError, Invalid};
use crate::events::{DomainEvent, OrderEvent, OutboxEvent};
use crate::ids::{OrderId, OrderTransitionId, StockMovementId};
use crate::inventory::{Change, Reason, StockMovement};
use crate::ports::{Crypto, OrderRepo, Ports, Store, Tx};
use crate::retry::retrying;
use crate::text::parse_note;

/// How long an order may wait for payment before [`expire_unpaid_orders`] cancels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaymentTimeout(Duration);

impl PaymentTimeout {
    /// A timeout of `duration`.
    pub fn new(duration: Duration) -> PaymentTimeout {
        PaymentTimeout(duration)
    }

    /// When `order` will be cancelled if it is still unpaid then; `None` once it is paid or
    /// closed (or for a timeout past the end of the calendar).
    pub fn expires_at(&self, order: &Order) -> Option<OffsetDateTime> {
        if order.status != OrderStatus::PendingPayment {
            return None;
        }
        order.created_at.checked_add(self.0)
    }

    /// Orders placed before this instant and still unpaid at `now` have expired; `None` when no
    /// order can have (a timeout reaching back past the start of the calendar).
    pub fn placed_before(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        now.checked_sub(self.0)
    }
}

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

/// Cancels every order of every tenant that has waited for payment longer than `timeout`,
/// releasing its stock; returns how many it cancelled. Safe to run in several processes at
/// once: each cancellation is a compare-and-set on the status, so an order is cancelled, and
/// its stock released, exactly once.
///
/// # Errors
/// When storage fails; orders already cancelled stay cancelled.
#[tracing::instrument(name = "orders.expire_unpaid", skip_all)]
pub async fn expire_unpaid_orders<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    timeout: PaymentTimeout,
) -> Result<usize, DomainError> {
    let Some(placed_before) = timeout.placed_before(ports.clock.now()) else { return Ok(0) };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::ActorRef;
    use crate::identity::Email;
    use crate::ids::LocationId;
    use crate::money::{Currency, Money};
    use crate::orders::OrderNumber;

    fn an_order(status: OrderStatus, created_at: OffsetDateTime) -> Order {
        let total = Money::from_minor(0, Currency::parse("currencyCode", "USD").expect("usd"));
        Order {
            id: OrderId::new(),
            number: OrderNumber::FIRST,
            status,
            customer_email: Email::parse("customerEmail", "buyer@example.com").expect("email"),
            customer: None,
            note: None,
            location: LocationId::new(),
            subtotal: total,
            total,
            lines: Vec::new(),
            placed_by: ActorRef::System,
            version: 1,
            created_at,
            updated_at: created_at,
        }
    }

    #[test]
    fn only_an_unpaid_order_expires_and_it_expires_one_timeout_after_placement() {
        let placed = OffsetDateTime::UNIX_EPOCH;
        let timeout = PaymentTimeout::new(Duration::minutes(30));

        assert_eq!(
            timeout.expires_at(&an_order(OrderStatus::PendingPayment, placed)),
            Some(placed + Duration::minutes(30))
        );
        for status in OrderStatus::ALL.into_iter().filter(|s| *s != OrderStatus::PendingPayment) {
            assert_eq!(timeout.expires_at(&an_order(status, placed)), None, "{status:?}");
        }
    }

    #[test]
    fn an_order_has_expired_when_placed_more_than_one_timeout_ago() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::hours(1);

        assert_eq!(
            PaymentTimeout::new(Duration::minutes(30)).placed_before(now),
            Some(OffsetDateTime::UNIX_EPOCH + Duration::minutes(30))
        );
        assert_eq!(PaymentTimeout::new(Duration::MAX).placed_before(now), None);
        assert_eq!(PaymentTimeout::new(Duration::MAX).expires_at(&an_order(OrderStatus::PendingPayment, now)), None);
    }
}
