//! An order's life after placement: [`change_status`] on request (pay outside Keel, fulfil,
//! cancel) and [`expire_unpaid_orders`] on a schedule, both through one compare-and-set
//! transition that moves stock and records history and event. [`PaymentTimeout`] is the rule
//! of when an unpaid order expires.

use time::{Duration, OffsetDateTime};

use super::model::Order;
use super::status::OrderStatus;
use super::transition::apply_transition;
use crate::auth::{Caller, Permission, TenantScope, authorize, job_scope};
use crate::error::{DomainError, Invalid};
use crate::events::{DomainEvent, OutboxEvent, PaymentEvent};
use crate::ids::{OrderId, TenantId};
use crate::payments::{PaidCancellation, cancel_paid_order, in_flight, record_manual_payment};
use crate::ports::{Crypto, OrderRepo, PaymentRepo, Ports, Store, Tx};
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
    /// Payment was taken outside Keel (cash, bank transfer): `PAID`, with a `SUCCEEDED` payment
    /// of method `MANUAL`.
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

/// A status change as its caller sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusChanged {
    /// The order that changed.
    pub id: OrderId,
    /// The order as it is now, for a caller who may read orders (`orders:read`; customers have
    /// it for their own); `None` for one who may change orders but not read them, so changing
    /// an order never shows its lines, customer or totals to someone who could not look them up.
    pub order: Option<Order>,
}

/// Moves an order to another status: checks the transition table, applies it only if the
/// order is still in the status checked, moves stock (releases reservations on cancellation,
/// ships them on fulfilment), records the history entry and the event, in one transaction.
///
/// Customers may only cancel their own unpaid orders; recording payment, fulfilling and
/// cancelling paid orders need `orders:manage`, and cancelling a paid order also
/// `payments:refund`: it refunds the payment first and cancels (releasing the stock) only when
/// the refund succeeded. Recording payment writes a `MANUAL` payment. An unpaid order with a
/// payment in flight can be neither cancelled nor marked paid (`PAYMENT_IN_PROGRESS`). The changed order comes back only to callers
/// who may read it ([`StatusChanged`]).
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
) -> Result<StatusChanged, DomainError> {
    let reason = parse_note(if change == StatusChange::MarkPaid { "reference" } else { "reason" }, reason)?;
    let scope = match change {
        StatusChange::Cancel => match authorize(&caller.actor, Permission::OrdersManage) {
            Ok(scope) => scope,
            Err(_) => authorize(&caller.actor, Permission::OrdersWrite)?,
        },
        StatusChange::MarkPaid | StatusChange::Fulfil => authorize(&caller.actor, Permission::OrdersManage)?,
    };
    let changed = match change_in_place(ports, &scope, id, change, reason.clone(), true).await? {
        Some(changed) => changed,
        // A paid order is cancelled by refunding it first.
        None => match cancel_paid_order(ports, caller, id, reason.clone()).await? {
            PaidCancellation::Cancelled(order) => *order,
            PaidCancellation::NoPayment => change_in_place(ports, &scope, id, change, reason, false)
                .await?
                .ok_or_else(|| DomainError::internal("a paid order without payment was not cancelled"))?,
        },
    };
    // Changing an order is not reading it: `orders:write` alone must not show any order's
    // contents, nor `orders:manage` alone.
    let readable = authorize(&caller.actor, Permission::OrdersRead).is_ok();
    Ok(StatusChanged { id: changed.id, order: readable.then_some(changed) })
}

/// Applies `change` to order `id` in one transaction, the order's row locked first. `None`
/// (nothing written) when the change is the cancellation of a `PAID` order and
/// `refund_first` is set: that one refunds before it cancels.
async fn change_in_place<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    scope: &TenantScope,
    id: OrderId,
    change: StatusChange,
    reason: Option<String>,
    refund_first: bool,
) -> Result<Option<Order>, DomainError> {
    let to = change.target();
    retrying(|| async {
        let tx = ports.store.begin(scope).await?;
        if !tx.lock_order(scope, id).await? {
            return Err(DomainError::NotFound);
        }
        let order = tx.order(scope, id).await?.ok_or(DomainError::NotFound)?;
        order.status.transition_to(to, "orderId")?;
        if scope.granted() != Permission::OrdersManage && order.status != OrderStatus::PendingPayment {
            return Err(Invalid::with_code(
                "orderId",
                "ILLEGAL_TRANSITION",
                format!("the order is {}; ask the shop to cancel it", order.status.as_str()),
            )
            .into());
        }
        if refund_first && change == StatusChange::Cancel && order.status == OrderStatus::Paid {
            return Ok(None);
        }
        let now = ports.clock.now();
        if order.status == OrderStatus::PendingPayment {
            // A payment in flight decides this order's fate: neither cancel nor pay it meanwhile.
            if let Some(live) = tx.live_payment_of(scope, id).await? {
                return Err(in_flight(&live));
            }
        }
        if change == StatusChange::MarkPaid {
            let payment = record_manual_payment(&tx, scope, &order, now).await?;
            crate::outbox::publish(
                &tx,
                scope,
                &[OutboxEvent::new(DomainEvent::Payment(PaymentEvent::of(&payment)), now)],
            )
            .await?;
        }
        let changed = apply_transition(&tx, scope, order, to, reason.clone(), now).await?;
        tx.commit().await?;
        Ok(Some(changed))
    })
    .await
}

/// How many expired orders one run of [`expire_unpaid_orders`] cancels per tenant at most; the
/// rest wait for the next run.
const EXPIRED_PER_TENANT_AND_RUN: u64 = 500;

/// What one run of [`expire_unpaid_orders`] did.
#[derive(Debug, Default)]
pub struct ExpiryRun {
    /// How many orders it cancelled.
    pub cancelled: usize,
    /// What it could not do; each is tried again by the next run.
    pub failures: Vec<ExpiryFailure>,
}

/// One tenant's expired orders that could not be listed, or one order that could not be
/// cancelled.
#[derive(Debug)]
pub struct ExpiryFailure {
    /// The tenant.
    pub tenant: TenantId,
    /// The order; `None` when the tenant's expired orders could not be listed.
    pub order: Option<OrderId>,
    /// Why; its source is for the log only.
    pub error: DomainError,
}

/// Cancels every order of every tenant, suspended ones included, that has waited for payment
/// longer than `timeout`, releasing its stock. Safe to run in several processes at once: each
/// cancellation is a compare-and-set on the status, so an order is cancelled, and its stock
/// released, exactly once.
///
/// Each order is its own transaction, and a failure stays its own: it is reported in the
/// returned [`ExpiryRun`] and the run goes on with the other orders and tenants.
///
/// # Errors
/// When the tenants cannot be listed; nothing was cancelled then.
#[tracing::instrument(name = "orders.expire_unpaid", skip_all)]
pub async fn expire_unpaid_orders<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    timeout: PaymentTimeout,
) -> Result<ExpiryRun, DomainError> {
    let mut run = ExpiryRun::default();
    let Some(placed_before) = timeout.placed_before(ports.clock.now()) else { return Ok(run) };
    for tenant in ports.store.all_tenants().await? {
        let scope = job_scope(tenant);
        let expired = match expired_orders(ports, &scope, placed_before).await {
            Ok(ids) => ids,
            Err(error) => {
                run.failures.push(ExpiryFailure { tenant, order: None, error });
                continue;
            }
        };
        for id in expired {
            match expire_order(ports, &scope, id).await {
                Ok(cancelled) => run.cancelled += usize::from(cancelled),
                Err(error) => run.failures.push(ExpiryFailure { tenant, order: Some(id), error }),
            }
        }
    }
    if run.cancelled > 0 {
        tracing::info!(cancelled = run.cancelled, "cancelled unpaid orders past the payment timeout");
    }
    Ok(run)
}

/// The oldest of a tenant's orders placed before `placed_before` and still unpaid.
async fn expired_orders<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    scope: &TenantScope,
    placed_before: OffsetDateTime,
) -> Result<Vec<OrderId>, DomainError> {
    let tx = ports.store.begin_read(scope).await?;
    let ids = tx.unpaid_orders_placed_before(scope, placed_before, EXPIRED_PER_TENANT_AND_RUN).await?;
    tx.commit().await?;
    Ok(ids)
}

/// Cancels one expired order in its own transaction; `false` when it was paid or cancelled
/// since it was listed.
async fn expire_order<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    scope: &TenantScope,
    id: OrderId,
) -> Result<bool, DomainError> {
    retrying(|| async {
        let tx = ports.store.begin(scope).await?;
        if !tx.lock_order(scope, id).await? {
            return Ok(false);
        }
        let Some(order) = tx.order(scope, id).await? else { return Ok(false) };
        // Paid or cancelled by someone else since it was listed: nothing to do. A payment in
        // flight (its outcome not known yet) keeps the order until it settles.
        if order.status != OrderStatus::PendingPayment || tx.live_payment_of(scope, id).await?.is_some() {
            return Ok(false);
        }
        let reason = Some("payment not received in time".to_owned());
        apply_transition(&tx, scope, order, OrderStatus::Cancelled, reason, ports.clock.now()).await?;
        tx.commit().await?;
        Ok(true)
    })
    .await
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
