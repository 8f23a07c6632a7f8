//! Orders: placement with an all-or-nothing stock reservation, the status state machine with
//! its history, and the expiry of unpaid orders.
//!
//! Rules: lines are priced from the catalog at placement and the prices are kept on the lines;
//! every line's stock is reserved in the same transaction as the order, with the conditional
//! updates of [`crate::inventory`], so a placement either reserves everything or nothing and
//! nothing is ever oversold. A status changes only along [`OrderStatus::can_become`], and only
//! if the stored status is still the one checked (compare-and-set), so two concurrent changes
//! (a person cancelling while the expiry job runs) cannot both release the same stock. Every
//! change appends to the order's history and writes an event to the outbox in the same
//! transaction.
//!
//! Transactions that the database aborts for contention (deadlock, serialization failure) are
//! run again here, so no such error reaches a client; levels are always locked in product
//! order, which keeps deadlocks rare to begin with.
//!
//! # Layout
//!
//! - [`status`]: [`OrderStatus`] and its transition table.
//! - this module: orders, lines, history, events; the use-cases.

pub mod status;

use std::collections::HashMap;
use std::future::Future;

use time::OffsetDateTime;

use crate::auth::{ActorRef, Caller, Permission, TenantScope, authorize, job_scope};
use crate::catalog::{Product, Sku};
use crate::error::{DomainError, Invalid};
use crate::idempotency::{IdempotencyKey, Recorded};
use crate::identity::Email;
use crate::ids::{EventId, LocationId, OrderId, OrderTransitionId, ProductId, StockMovementId, UserId};
use crate::inventory::{Change, Reason, StockMovement};
use crate::money::Money;
use crate::page::{Page, PageRequest};
use crate::ports::{CatalogRepo, Crypto, IdempotencyRepo, IdentityRepo, InventoryRepo, OrderRepo, Ports, Store, Tx};
use crate::text::parse_note;

pub use status::OrderStatus;

/// Most lines one order may have.
pub const MAX_LINES: usize = 100;
/// Largest quantity of one line (after merging lines of the same product).
pub const MAX_LINE_QUANTITY: i64 = 10_000;
/// How many times a transaction aborted by contention is run again before giving up.
const ATTEMPTS: usize = 8;

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

/// A domain event, written to the outbox in the transaction of the change it reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderEvent {
    /// Its id (time-ordered).
    pub id: EventId,
    /// `order.placed`, `order.paid`, `order.fulfilled`, `order.cancelled`.
    pub kind: &'static str,
    /// The order.
    pub order: OrderId,
    /// Its number.
    pub number: OrderNumber,
    /// Its status after the change.
    pub status: OrderStatus,
    /// Its total.
    pub total: Money,
    /// When.
    pub at: OffsetDateTime,
}

impl OrderEvent {
    fn of(order: &Order, at: OffsetDateTime) -> OrderEvent {
        let kind = match order.status {
            OrderStatus::PendingPayment => "order.placed",
            OrderStatus::Paid => "order.paid",
            OrderStatus::Fulfilled => "order.fulfilled",
            OrderStatus::Cancelled => "order.cancelled",
            OrderStatus::PartiallyRefunded => "order.partially_refunded",
            OrderStatus::Refunded => "order.refunded",
        };
        OrderEvent {
            id: EventId::new(),
            kind,
            order: order.id,
            number: order.number,
            status: order.status,
            total: order.total,
            at,
        }
    }
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

/// Which product a requested line is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ProductRef {
    /// By id.
    Id(ProductId),
    /// By SKU.
    Sku(Sku),
}

/// A requested line, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestedLine {
    /// Which product.
    pub product: ProductRef,
    /// Units, 1 to [`MAX_LINE_QUANTITY`].
    pub quantity: i64,
}

/// A line as typed by the client.
#[derive(Clone, Debug, Default)]
pub struct RawLine {
    /// A product id, already decoded (`None` if not given).
    pub product: Option<ProductId>,
    /// A SKU (`None` if not given).
    pub sku: Option<String>,
    /// Units.
    pub quantity: i64,
}

/// `placeOrder`, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaceOrder {
    /// The lines, in the client's order.
    pub lines: Vec<RequestedLine>,
    /// Who buys (required unless a customer places their own order).
    pub customer_email: Option<Email>,
    /// A note.
    pub note: Option<String>,
    /// Where to reserve stock (default: the tenant's first location).
    pub location: Option<LocationId>,
}

impl PlaceOrder {
    /// Checks the input; every problem is reported, each naming its field (`lines.2.quantity`).
    ///
    /// # Errors
    /// Every `Invalid` found: no lines or more than [`MAX_LINES`], a line naming both or neither
    /// of product id and SKU, a quantity outside 1 to [`MAX_LINE_QUANTITY`], a malformed email,
    /// SKU or note.
    pub fn parse(
        lines: &[RawLine],
        customer_email: Option<&str>,
        note: Option<&str>,
        location: Option<LocationId>,
    ) -> Result<PlaceOrder, Vec<Invalid>> {
        let mut problems = Vec::new();
        if lines.is_empty() || lines.len() > MAX_LINES {
            problems.push(Invalid::new("lines", format!("an order has 1 to {MAX_LINES} lines")));
        }
        let mut parsed = Vec::with_capacity(lines.len());
        for (index, line) in lines.iter().enumerate().take(MAX_LINES) {
            let product = match (line.product, line.sku.as_deref()) {
                (Some(id), None) => Some(ProductRef::Id(id)),
                (None, Some(sku)) => match Sku::parse(&format!("lines.{index}.sku"), sku) {
                    Ok(sku) => Some(ProductRef::Sku(sku)),
                    Err(invalid) => {
                        problems.push(invalid);
                        None
                    }
                },
                _ => {
                    problems.push(Invalid::new(
                        &format!("lines.{index}.productId"),
                        "give either productId or sku, exactly one",
                    ));
                    None
                }
            };
            if !(1..=MAX_LINE_QUANTITY).contains(&line.quantity) {
                problems.push(Invalid::new(
                    &format!("lines.{index}.quantity"),
                    format!("must be between 1 and {MAX_LINE_QUANTITY}"),
                ));
            }
            if let Some(product) = product {
                parsed.push(RequestedLine { product, quantity: line.quantity });
            }
        }
        let customer_email = match customer_email.map(str::trim).filter(|e| !e.is_empty()) {
            Some(raw) => Email::parse("customerEmail", raw).map_err(|invalid| problems.push(invalid)).ok(),
            None => None,
        };
        let note = parse_note("note", note).map_err(|invalid| problems.push(invalid)).ok().flatten();
        if problems.is_empty() {
            Ok(PlaceOrder { lines: parsed, customer_email, note, location })
        } else {
            Err(problems)
        }
    }
}

/// Runs `attempt` again while the database aborts it for contention.
async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, DomainError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DomainError>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(DomainError::Contention(source)) if tries < ATTEMPTS => {
                tracing::debug!(error = %source, tries, "transaction aborted by contention; running it again");
                tries += 1;
            }
            other => return other,
        }
    }
}

fn line_field(index: usize, line: &RequestedLine) -> String {
    match line.product {
        ProductRef::Id(_) => format!("lines.{index}.productId"),
        ProductRef::Sku(_) => format!("lines.{index}.sku"),
    }
}

/// Places an order: prices the lines from the catalog, reserves stock for every line (all or
/// nothing), numbers the order and writes it with its history, ledger lines and event, in one
/// transaction. With an idempotency key, a repeat of the same request returns the order the
/// first one placed (as it is now), and concurrent repeats place it once.
///
/// # Errors
/// `Forbidden` without `orders:write`; `Invalid` naming the line for an unknown or inactive
/// product (`UNKNOWN_PRODUCT`, `PRODUCT_INACTIVE`) or missing stock (`INSUFFICIENT_STOCK`),
/// for an unknown location (`locationId`) or a missing customer email;
/// `IdempotencyKeyReused` for a key used before with another request.
#[tracing::instrument(name = "orders.place_order", skip_all, fields(order.id = tracing::field::Empty))]
pub async fn place_order<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    command: PlaceOrder,
    key: Option<IdempotencyKey>,
) -> Result<Order, DomainError> {
    let scope = authorize(&caller.actor, Permission::OrdersWrite)?;
    // Customers choose their own keys: each customer gets a namespace, so one customer's key
    // can never replay another customer's order.
    let operation = match scope.customer() {
        Some(customer) => format!("placeOrder:{customer}"),
        None => "placeOrder".to_owned(),
    };
    let fingerprint = key.as_ref().map(|_| ports.crypto.hash_secret(&format!("{command:?}")));
    let order = retrying(|| async {
        let key = key.as_ref().zip(fingerprint.as_ref());
        match place(ports, &scope, &command, &operation, key).await {
            // A concurrent request with the same key committed first: run again to replay it.
            Err(DomainError::Conflict(message)) if key.is_some() => Err(DomainError::contention(message)),
            other => other,
        }
    })
    .await?;
    tracing::Span::current().record("order.id", tracing::field::display(order.id));
    Ok(order)
}

async fn place<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    scope: &TenantScope,
    command: &PlaceOrder,
    operation: &str,
    key: Option<(&IdempotencyKey, &crate::identity::SecretHash)>,
) -> Result<Order, DomainError> {
    let now = ports.clock.now();
    let tx = ports.store.begin(scope).await?;
    if let Some((key, fingerprint)) = key
        && let Some(recorded) = tx.idempotency_record(scope, operation, key).await?
    {
        if recorded.request_hash != *fingerprint {
            return Err(DomainError::IdempotencyKeyReused);
        }
        let id = uuid::Uuid::try_parse(&recorded.result)
            .map_err(|_| DomainError::internal("a stored idempotent order result is not valid"))?;
        let order = tx.order(scope, OrderId::from_uuid(id)).await?.ok_or(DomainError::NotFound)?;
        tx.commit().await?;
        return Ok(order);
    }

    let customer_email = match (scope.customer(), &command.customer_email) {
        (Some(customer), given) => {
            let me = tx.user(scope, customer).await?.ok_or(DomainError::Unauthenticated("unknown member"))?;
            if given.as_ref().is_some_and(|email| *email != me.email) {
                return Err(Invalid::new("customerEmail", "customers place orders under their own email").into());
            }
            me.email
        }
        (None, Some(email)) => email.clone(),
        (None, None) => return Err(Invalid::new("customerEmail", "required: who is this order for?").into()),
    };
    let location = match command.location {
        Some(id) => tx.location(scope, id).await?.ok_or_else(|| {
            Invalid::with_code("locationId", "UNKNOWN_LOCATION", "no location of this shop has this id")
        })?,
        None => {
            let first = tx
                .locations(scope, &PageRequest::first(1, crate::page::SortOrder::BY_ID))
                .await?
                .items
                .into_iter()
                .next();
            first.ok_or_else(|| {
                Invalid::with_code("locationId", "UNKNOWN_LOCATION", "the shop has no location to ship from yet")
            })?
        }
    };

    let lines = price_lines(&tx, scope, &command.lines).await?;
    // Reserve in product order, so concurrent multi-line orders lock levels in one order.
    let mut by_product: Vec<&(usize, OrderLine)> = lines.iter().collect();
    by_product.sort_by_key(|(_, line)| line.product);
    for (index, line) in &by_product {
        let change = Change::of(Reason::Reserved, line.quantity);
        if !tx.change_level(scope, line.product, location.id, change, now).await? {
            return Err(Invalid::with_code(
                &format!("lines.{index}.quantity"),
                "INSUFFICIENT_STOCK",
                format!("not enough {} available at {}", line.sku.as_str(), location.code.as_str()),
            )
            .into());
        }
    }

    let lines: Vec<OrderLine> = lines.into_iter().map(|(_, line)| line).collect();
    let zero = Money::from_minor(0, lines[0].unit_price.currency());
    let subtotal = lines
        .iter()
        .try_fold(zero, |sum, line| sum.checked_add(line.total))
        .ok_or_else(|| Invalid::new("lines", "the order total is too large"))?;
    // Numbered last: the tenant's counter row stays locked only for the last few statements.
    let number = tx.next_order_number(scope).await?;
    let order = Order {
        id: OrderId::new(),
        number,
        status: OrderStatus::PendingPayment,
        customer_email,
        customer: scope.customer(),
        note: command.note.clone(),
        location: location.id,
        subtotal,
        total: subtotal,
        lines,
        placed_by: scope.actor(),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    tx.insert_order(scope, &order).await?;
    let movements: Vec<StockMovement> = order
        .lines
        .iter()
        .map(|line| StockMovement {
            id: StockMovementId::new(),
            product: line.product,
            location: order.location,
            change: Change::of(Reason::Reserved, line.quantity),
            reason: Reason::Reserved,
            reference: Some(format!("order #{}", order.number)),
            note: None,
            actor: scope.actor(),
            created_at: now,
        })
        .collect();
    tx.append_movements(scope, &movements).await?;
    let placed = Transition {
        id: OrderTransitionId::new(),
        order: order.id,
        from: None,
        to: OrderStatus::PendingPayment,
        reason: None,
        actor: scope.actor(),
        at: now,
    };
    tx.append_transition(scope, &placed).await?;
    tx.append_event(scope, &OrderEvent::of(&order, now)).await?;
    if let Some((key, fingerprint)) = key {
        let recorded = Recorded { request_hash: fingerprint.clone(), result: order.id.uuid().to_string() };
        tx.save_idempotency(scope, operation, key, &recorded, now).await?;
    }
    tx.commit().await?;
    Ok(order)
}

/// Resolves and prices the requested lines, merging lines of the same product into the first
/// of them. Returns `(index of the first requested line, line)` pairs, positions from 0.
async fn price_lines<T: Tx>(
    tx: &T,
    scope: &TenantScope,
    requested: &[RequestedLine],
) -> Result<Vec<(usize, OrderLine)>, DomainError> {
    let ids: Vec<ProductId> =
        requested.iter().filter_map(|l| if let ProductRef::Id(id) = l.product { Some(id) } else { None }).collect();
    let skus: Vec<Sku> = requested
        .iter()
        .filter_map(|l| if let ProductRef::Sku(sku) = &l.product { Some(sku.clone()) } else { None })
        .collect();
    let mut found: Vec<Product> = tx.products_by_ids(scope, &ids).await?;
    found.extend(tx.products_by_skus(scope, &skus).await?);
    let by_id: HashMap<ProductId, &Product> = found.iter().map(|p| (p.id, p)).collect();
    let by_sku: HashMap<&str, &Product> = found.iter().map(|p| (p.sku.as_str(), p)).collect();

    let mut lines: Vec<(usize, OrderLine)> = Vec::with_capacity(requested.len());
    for (index, line) in requested.iter().enumerate() {
        let product = match &line.product {
            ProductRef::Id(id) => by_id.get(id),
            ProductRef::Sku(sku) => by_sku.get(sku.as_str()),
        };
        let Some(product) = product else {
            return Err(Invalid::with_code(
                &line_field(index, line),
                "UNKNOWN_PRODUCT",
                "no product has this id or SKU",
            )
            .into());
        };
        if !product.active {
            return Err(Invalid::with_code(
                &line_field(index, line),
                "PRODUCT_INACTIVE",
                format!("{} is not for sale", product.sku.as_str()),
            )
            .into());
        }
        if let Some((first, merged)) = lines.iter_mut().find(|(_, l)| l.product == product.id) {
            merged.quantity += line.quantity;
            if merged.quantity > MAX_LINE_QUANTITY {
                return Err(Invalid::new(
                    &format!("lines.{first}.quantity"),
                    format!("lines of {} add up to more than {MAX_LINE_QUANTITY}", product.sku.as_str()),
                )
                .into());
            }
            merged.total = product.price.checked_mul(merged.quantity).ok_or_else(|| too_large(index))?;
            continue;
        }
        lines.push((
            index,
            OrderLine {
                position: i32::try_from(lines.len()).unwrap_or(i32::MAX),
                product: product.id,
                sku: product.sku.clone(),
                name: product.name.clone(),
                unit_price: product.price,
                quantity: line.quantity,
                total: product.price.checked_mul(line.quantity).ok_or_else(|| too_large(index))?,
            },
        ));
    }
    Ok(lines)
}

fn too_large(index: usize) -> Invalid {
    Invalid::new(&format!("lines.{index}.quantity"), "the line total is too large")
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
    tx.append_event(scope, &OrderEvent::of(&order, now)).await?;
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

/// What to read along with orders, in the same transaction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Include {
    /// Their histories.
    pub history: bool,
    /// The products of their lines.
    pub products: bool,
}

/// What was read along with orders; `None` where it was not asked for (or, for products, the
/// caller may not read the catalog).
#[derive(Clone, Debug, Default)]
pub struct Related {
    /// Histories by order, oldest entry first.
    pub history: Option<HashMap<OrderId, Vec<Transition>>>,
    /// Line products by id (for customers, only products still on sale).
    pub products: Option<HashMap<ProductId, Product>>,
}

/// Reads what `include` asks for about `orders`: one statement for all histories, one for all
/// products.
async fn related<T: Tx>(
    tx: &T,
    scope: &TenantScope,
    caller: &Caller,
    orders: &[Order],
    include: Include,
) -> Result<Related, DomainError> {
    let mut related = Related::default();
    if include.history {
        let ids: Vec<OrderId> = orders.iter().map(|o| o.id).collect();
        let mut by_order: HashMap<OrderId, Vec<Transition>> = ids.iter().map(|id| (*id, Vec::new())).collect();
        for transition in tx.transitions_of(scope, &ids).await? {
            by_order.entry(transition.order).or_default().push(transition);
        }
        related.history = Some(by_order);
    }
    // Line products are catalog data: without `catalog:read` they stay unloaded, and the field
    // reports the missing permission when asked.
    if include.products
        && let Ok(catalog) = authorize(&caller.actor, Permission::CatalogRead)
    {
        let mut ids: Vec<ProductId> = orders.iter().flat_map(|o| o.lines.iter().map(|l| l.product)).collect();
        ids.sort_unstable();
        ids.dedup();
        let products = tx.products_by_ids(&catalog, &ids).await?;
        let visible = products.into_iter().filter(|p| p.active || catalog.customer().is_none());
        related.products = Some(visible.map(|p| (p.id, p)).collect());
    }
    Ok(related)
}

/// One order and what `include` asks for; customers see only their own.
///
/// # Errors
/// `Forbidden` without `orders:read`; `NotFound` for an unknown, foreign or hidden order.
pub async fn order<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: OrderId,
    include: Include,
) -> Result<(Order, Related), DomainError> {
    let scope = authorize(&caller.actor, Permission::OrdersRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let found = tx.order(&scope, id).await?.ok_or(DomainError::NotFound)?;
    let related = related(&tx, &scope, caller, std::slice::from_ref(&found), include).await?;
    tx.commit().await?;
    Ok((found, related))
}

/// One order by its number (`1001` or `#1001`); customers see only their own.
///
/// # Errors
/// As [`order`].
pub async fn order_by_number<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    number: &str,
    include: Include,
) -> Result<(Order, Related), DomainError> {
    let scope = authorize(&caller.actor, Permission::OrdersRead)?;
    let number = OrderNumber::parse(number).ok_or(DomainError::NotFound)?;
    let tx = ports.store.begin_read(&scope).await?;
    let found = tx.order_by_number(&scope, number).await?.ok_or(DomainError::NotFound)?;
    let related = related(&tx, &scope, caller, std::slice::from_ref(&found), include).await?;
    tx.commit().await?;
    Ok((found, related))
}

/// A page of orders, newest first, with their lines and what `include` asks for, in one read
/// transaction of a fixed number of statements whatever the page size; customers see only
/// their own.
///
/// # Errors
/// `Forbidden` without `orders:read`.
pub async fn orders<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    filter: &OrderFilter,
    page: &PageRequest,
    include: Include,
) -> Result<(Page<Order>, Related), DomainError> {
    let scope = authorize(&caller.actor, Permission::OrdersRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let found = tx.orders(&scope, filter, page).await?;
    let related = related(&tx, &scope, caller, &found.items, include).await?;
    tx.commit().await?;
    Ok((found, related))
}

/// The histories of several orders at once (one statement), oldest entry first.
///
/// # Errors
/// `Forbidden` without `orders:read`.
pub async fn histories<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    orders: &[OrderId],
) -> Result<HashMap<OrderId, Vec<Transition>>, DomainError> {
    let scope = authorize(&caller.actor, Permission::OrdersRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let transitions = tx.transitions_of(&scope, orders).await?;
    tx.commit().await?;
    let mut by_order: HashMap<OrderId, Vec<Transition>> = HashMap::new();
    for transition in transitions {
        by_order.entry(transition.order).or_default().push(transition);
    }
    Ok(by_order)
}

/// The products of order lines, for a whole page of orders at once (one statement); customers
/// see only products still on sale, as everywhere in the catalog.
///
/// # Errors
/// `Forbidden` without `catalog:read`.
pub async fn line_products<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    ids: &[ProductId],
) -> Result<HashMap<ProductId, Product>, DomainError> {
    let scope = authorize(&caller.actor, Permission::CatalogRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let products = tx.products_by_ids(&scope, ids).await?;
    tx.commit().await?;
    let visible = products.into_iter().filter(|p| p.active || scope.customer().is_none());
    Ok(visible.map(|p| (p.id, p)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(product: Option<ProductId>, sku: Option<&str>, quantity: i64) -> RawLine {
        RawLine { product, sku: sku.map(str::to_owned), quantity }
    }

    #[test]
    fn a_valid_request_parses() {
        let id = ProductId::new();
        let parsed =
            PlaceOrder::parse(&[line(Some(id), None, 2), line(None, Some("tee-1"), 1)], Some("A@B.test"), None, None)
                .expect("valid");

        assert_eq!(parsed.lines[0], RequestedLine { product: ProductRef::Id(id), quantity: 2 });
        assert_eq!(parsed.lines[1].product, ProductRef::Sku(Sku::parse("sku", "TEE-1").expect("sku")));
        assert_eq!(parsed.customer_email.map(|e| e.as_str().to_owned()), Some("a@b.test".to_owned()));
    }

    #[test]
    fn every_problem_is_reported_with_its_line_index() {
        let refused = PlaceOrder::parse(
            &[
                line(Some(ProductId::new()), Some("TEE"), 1),
                line(None, None, 0),
                line(None, Some("bad sku!"), MAX_LINE_QUANTITY + 1),
            ],
            Some("not-an-email"),
            None,
            None,
        )
        .expect_err("invalid");

        let fields: Vec<String> = refused.iter().map(|i| i.field().join(".")).collect();
        assert_eq!(
            fields,
            [
                "lines.0.productId",
                "lines.1.productId",
                "lines.1.quantity",
                "lines.2.sku",
                "lines.2.quantity",
                "customerEmail"
            ]
        );
    }

    #[test]
    fn line_counts_are_bounded() {
        let one = line(Some(ProductId::new()), None, 1);
        assert!(PlaceOrder::parse(&[], Some("a@b.test"), None, None).is_err());
        assert!(PlaceOrder::parse(&vec![one.clone(); MAX_LINES], Some("a@b.test"), None, None).is_ok());
        let too_many = PlaceOrder::parse(&vec![one; MAX_LINES + 1], Some("a@b.test"), None, None).expect_err("101");
        assert_eq!(too_many[0].field(), ["lines"]);
    }

    #[test]
    fn order_numbers_parse_with_or_without_a_hash() {
        assert_eq!(OrderNumber::parse("1001"), Some(OrderNumber(1001)));
        assert_eq!(OrderNumber::parse(" #1042 "), Some(OrderNumber(1042)));
        for bad in ["", "#", "10a1", "-5", "99999999999999999999"] {
            assert_eq!(OrderNumber::parse(bad), None, "{bad:?}");
        }
    }
}
