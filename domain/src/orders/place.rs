//! Placing an order: [`PlaceOrder`] parsed from what the client typed, then priced from the
//! catalog, reserved line by line (all or nothing), numbered and written with its history,
//! ledger lines and event in one transaction; optionally idempotent through [`idempotent`].

use std::collections::HashMap;

use time::OffsetDateTime;

use super::model::{Order, OrderLine, Transition};
use super::status::OrderStatus;
use crate::auth::{Caller, Permission, TenantScope, authorize};
use crate::catalog::{Product, Sku};
use crate::error::{DomainError, Invalid};
use crate::events::{DomainEvent, OrderEvent, OutboxEvent};
use crate::idempotency::{Canonical, Fingerprint, IdempotencyKey, Operation, Outcome, idempotent};
use crate::identity::Email;
use crate::ids::{LocationId, OrderId, OrderTransitionId, ProductId, StockMovementId, UserId};
use crate::inventory::{Change, Reason, StockMovement, level_events};
use crate::money::Money;
use crate::page::{PageRequest, SortOrder};
use crate::ports::{CatalogRepo, Crypto, IdentityRepo, InventoryRepo, OrderRepo, Ports, Store, Tx};
use crate::text::parse_note;

/// Most lines one order may have.
pub const MAX_LINES: usize = 100;
/// Largest quantity of one line (after merging lines of the same product).
pub const MAX_LINE_QUANTITY: i64 = 10_000;

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

fn line_field(index: usize, line: &RequestedLine) -> String {
    match line.product {
        ProductRef::Id(_) => format!("lines.{index}.productId"),
        ProductRef::Sku(_) => format!("lines.{index}.sku"),
    }
}

/// Who an order is for, as far as the command and the caller tell before storage is read.
enum Buyer {
    /// A customer placing their own order, under their stored email; an email they give must
    /// be that one.
    Customer {
        /// The customer.
        customer: UserId,
        /// The email they gave, if any.
        given: Option<Email>,
    },
    /// Staff or a program placing an order for this email.
    Named(Email),
}

impl Fingerprint for PlaceOrder {
    fn operation(&self) -> Operation {
        Operation::PlaceOrder
    }

    fn write_fields(&self, fields: &mut Canonical) {
        let PlaceOrder { lines, customer_email, note, location } = self;
        fields.list("lines", lines.len());
        for RequestedLine { product, quantity } in lines {
            match product {
                ProductRef::Id(id) => fields.id("productId", id.uuid()),
                ProductRef::Sku(sku) => fields.text("sku", sku.as_str()),
            };
            fields.number("quantity", *quantity);
        }
        fields.optional_text("customerEmail", customer_email.as_ref().map(Email::as_str));
        fields.optional_text("note", note.as_deref());
        fields.optional_id("locationId", location.map(LocationId::uuid));
    }
}

/// An order placed under a key, replayed to a repeat as the order is now.
impl Outcome for Order {
    fn record(&self) -> String {
        self.id.uuid().to_string()
    }

    async fn replay<T: Tx>(
        tx: &T,
        scope: &TenantScope,
        recorded: &str,
        _now: OffsetDateTime,
    ) -> Result<Order, DomainError> {
        let id = uuid::Uuid::try_parse(recorded)
            .map_err(|_| DomainError::internal("a stored idempotent order result is not valid"))?;
        tx.order(scope, OrderId::from_uuid(id)).await?.ok_or(DomainError::NotFound)
    }
}

/// Places an order: prices the lines from the catalog, reserves stock for every line (all or
/// nothing), numbers the order and writes it with its history, ledger lines and event, in one
/// transaction. With an idempotency key, a repeat of the same request returns the order the
/// first one placed (as it is now), and concurrent repeats place it once ([`idempotent`]).
///
/// # Errors
/// `Forbidden` without `orders:write`; `Invalid` naming the line for an unknown or inactive
/// product (`UNKNOWN_PRODUCT`, `PRODUCT_INACTIVE`; customers get `UNKNOWN_PRODUCT` for an
/// archived product too, as they cannot see it) or missing stock (`INSUFFICIENT_STOCK`),
/// for an unknown location (`locationId`) or a missing customer email;
/// `IdempotencyKeyReused` for a key used before with another request; `InProgress` while a
/// concurrent request with the key runs too long.
#[tracing::instrument(name = "orders.place_order", skip_all, fields(order.id = tracing::field::Empty))]
pub async fn place_order<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    command: PlaceOrder,
    key: Option<IdempotencyKey>,
) -> Result<Order, DomainError> {
    let scope = authorize(&caller.actor, Permission::OrdersWrite)?;
    let buyer = match (scope.customer(), &command.customer_email) {
        (Some(customer), given) => Buyer::Customer { customer, given: given.clone() },
        (None, Some(email)) => Buyer::Named(email.clone()),
        (None, None) => return Err(Invalid::new("customerEmail", "required: who is this order for?").into()),
    };
    let order =
        idempotent(ports, &scope, key.as_ref(), &command, |tx| place(tx, ports, &scope, &command, &buyer)).await?;
    tracing::Span::current().record("order.id", tracing::field::display(order.id));
    Ok(order)
}

async fn place<S: Store, C: Crypto>(
    tx: S::Tx,
    ports: &Ports<S, C>,
    scope: &TenantScope,
    command: &PlaceOrder,
    buyer: &Buyer,
) -> Result<(S::Tx, Order), DomainError> {
    let now = ports.clock.now();
    let customer_email = match buyer {
        Buyer::Customer { customer, given } => {
            let me = tx.user(scope, *customer).await?.ok_or(DomainError::Unauthenticated("unknown member"))?;
            if given.as_ref().is_some_and(|email| *email != me.email) {
                return Err(Invalid::new("customerEmail", "customers place orders under their own email").into());
            }
            me.email
        }
        Buyer::Named(email) => email.clone(),
    };
    let location = match command.location {
        Some(id) => tx.location(scope, id).await?.ok_or_else(|| {
            Invalid::with_code("locationId", "UNKNOWN_LOCATION", "no location of this shop has this id")
        })?,
        None => {
            let first = tx.locations(scope, &PageRequest::first(1, SortOrder::BY_ID)).await?.items.into_iter().next();
            first.ok_or_else(|| {
                Invalid::with_code("locationId", "UNKNOWN_LOCATION", "the shop has no location to ship from yet")
            })?
        }
    };

    let (lines, thresholds) = price_lines(&tx, scope, &command.lines).await?;
    // Reserve in product order, so concurrent multi-line orders lock levels in one order, and
    // name the first line (in that order) that cannot be reserved.
    let mut by_product: Vec<&(usize, OrderLine)> = lines.iter().collect();
    by_product.sort_by_key(|(_, line)| line.product);
    let changes: Vec<(ProductId, Change)> =
        by_product.iter().map(|(_, line)| (line.product, Change::of(Reason::Reserved, line.quantity))).collect();
    let reserved = tx.change_levels(scope, location.id, &changes, now).await?;
    let mut stock_events = Vec::with_capacity(by_product.len());
    for (((index, line), (_, change)), after) in by_product.iter().zip(&changes).zip(reserved) {
        let Some(after) = after else {
            return Err(Invalid::with_code(
                &format!("lines.{index}.quantity"),
                "INSUFFICIENT_STOCK",
                format!("not enough {} available at {}", line.sku.as_str(), location.code.as_str()),
            )
            .into());
        };
        let threshold = thresholds.get(&line.product).copied().flatten();
        stock_events.extend(level_events(&after, *change, Reason::Reserved, threshold, now));
    }

    let lines: Vec<OrderLine> = lines.into_iter().map(|(_, line)| line).collect();
    let zero = Money::from_minor(0, lines[0].unit_price.currency());
    let subtotal = lines
        .iter()
        .try_fold(zero, |sum, line| sum.checked_add(line.total))
        .ok_or_else(|| Invalid::new("lines", "the order total is too large"))?;
    // Numbered once every check has passed, so a refused placement takes no number.
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
    // Its reservations' events, then the order's (ids in that order), in one statement.
    let mut events = stock_events;
    events.push(OutboxEvent::new(DomainEvent::Order(OrderEvent::of(&order)), now));
    crate::outbox::publish(&tx, scope, &events).await?;
    Ok((tx, order))
}

/// The low-stock threshold of each product of an order.
type Thresholds = HashMap<ProductId, Option<i64>>;

/// Resolves and prices the requested lines, merging lines of the same product into the first
/// of them. Returns `(index of the first requested line, line)` pairs, positions from 0, and
/// the low-stock threshold of each product.
async fn price_lines<T: Tx>(
    tx: &T,
    scope: &TenantScope,
    requested: &[RequestedLine],
) -> Result<(Vec<(usize, OrderLine)>, Thresholds), DomainError> {
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
        // To a customer an archived product is unknown: the same answer, word for word, as a
        // SKU that never existed, so a refusal never reveals one.
        let Some(product) = product.filter(|p| p.visible_to(scope)) else {
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
    let thresholds = found.iter().map(|product| (product.id, product.low_stock_threshold)).collect();
    Ok((lines, thresholds))
}

fn too_large(index: usize) -> Invalid {
    Invalid::new(&format!("lines.{index}.quantity"), "the line total is too large")
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

    fn fingerprint(command: &PlaceOrder) -> String {
        Canonical::of(command).as_str().to_owned()
    }

    fn email(raw: &str) -> Option<Email> {
        Some(Email::parse("customerEmail", raw).expect("email"))
    }

    fn sku_line(sku: &str, quantity: i64) -> RequestedLine {
        RequestedLine { product: ProductRef::Sku(Sku::parse("sku", sku).expect("sku")), quantity }
    }

    #[test]
    fn every_field_of_an_order_changes_its_fingerprint() {
        let (tee, mug) = (sku_line("TEE", 1), sku_line("MUG", 1));
        let base = PlaceOrder {
            lines: vec![tee.clone(), mug.clone()],
            customer_email: email("alice@example.test"),
            note: Some("gift".into()),
            location: Some(LocationId::new()),
        };
        let with_lines = |lines: Vec<RequestedLine>| PlaceOrder { lines, ..base.clone() };
        let variants = [
            ("the email's local part", PlaceOrder { customer_email: email("bob@example.test"), ..base.clone() }),
            ("the email's domain", PlaceOrder { customer_email: email("alice@example.org"), ..base.clone() }),
            ("no email", PlaceOrder { customer_email: None, ..base.clone() }),
            ("the note", PlaceOrder { note: Some("gifts".into()), ..base.clone() }),
            ("an empty note", PlaceOrder { note: Some(String::new()), ..base.clone() }),
            ("no note", PlaceOrder { note: None, ..base.clone() }),
            ("the location", PlaceOrder { location: Some(LocationId::new()), ..base.clone() }),
            ("no location", PlaceOrder { location: None, ..base.clone() }),
            ("a quantity", with_lines(vec![sku_line("TEE", 2), mug.clone()])),
            ("a SKU", with_lines(vec![sku_line("TEES", 1), mug.clone()])),
            (
                "a product by id",
                with_lines(vec![RequestedLine { product: ProductRef::Id(ProductId::new()), quantity: 1 }, mug.clone()]),
            ),
            ("the order of lines", with_lines(vec![mug.clone(), tee.clone()])),
            ("a line fewer", with_lines(vec![tee.clone()])),
            ("a line more", with_lines(vec![tee.clone(), mug.clone(), mug.clone()])),
        ];

        let base_fingerprint = fingerprint(&base);
        let mut seen = std::collections::HashSet::from([base_fingerprint.clone()]);
        assert_eq!(fingerprint(&base.clone()), base_fingerprint, "the same request, the same fingerprint");
        for (change, variant) in &variants {
            assert!(seen.insert(fingerprint(variant)), "changing {change} left the fingerprint as it was");
        }
    }

    #[test]
    fn an_emails_local_part_changes_the_fingerprint_though_debug_hides_it() {
        let alice = PlaceOrder {
            lines: vec![sku_line("TEE", 1)],
            customer_email: email("alice@example.test"),
            note: None,
            location: None,
        };
        let bob = PlaceOrder { customer_email: email("bob@example.test"), ..alice.clone() };

        assert_eq!(format!("{alice:?}"), format!("{bob:?}"), "Debug redacts the local part");
        assert_ne!(fingerprint(&alice), fingerprint(&bob));
    }

    #[test]
    fn line_counts_are_bounded() {
        let one = line(Some(ProductId::new()), None, 1);
        assert!(PlaceOrder::parse(&[], Some("a@b.test"), None, None).is_err());
        assert!(PlaceOrder::parse(&vec![one.clone(); MAX_LINES], Some("a@b.test"), None, None).is_ok());
        let too_many = PlaceOrder::parse(&vec![one; MAX_LINES + 1], Some("a@b.test"), None, None).expect_err("101");
        assert_eq!(too_many[0].field(), ["lines"]);
    }
}
