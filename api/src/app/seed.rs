//! `keel seed`: generated shops for demos and load tests, written in bulk.
//!
//! Each shop is made here as domain values, the way the use-cases would have made them over its
//! life (registration, an API key, locations, products, stock received, orders placed, paid,
//! fulfilled or cancelled with their ledger lines, history and payments), then handed to
//! `persistence::seed`, which writes it in one transaction of multi-row inserts. Nothing goes
//! through GraphQL or one use-case call per row: that would take hours for the sizes load
//! tests need.
//!
//! The data keeps every rule the domain keeps: line prices are product prices and totals add
//! up; every stock level is the sum of its movements and never went negative; every status
//! change is a legal transition; every `PAID` or `FULFILLED` order has one `SUCCEEDED`
//! `MANUAL` payment of its total; only orders placed within the payment timeout still await
//! payment, so the expiry job finds nothing to cancel for a while. Ids are UUIDv7 of the moment each thing
//! happened, so lists page newest first as they would in a shop that ran for weeks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use domain::auth::{ActorRef, OperatorConsole, Permission};
use domain::catalog::{Location, Product, Sku};
use domain::identity::credentials::{ApiKeyCredential, PresentedSecret};
use domain::identity::{
    ApiKey, AuditAction, AuditEntry, Email, MemberStatus, Password, PasswordHash, Slug, Tenant, TenantStatus, User,
};
use domain::ids::{
    ApiKeyId, AuditEntryId, LocationId, OrderId, OrderTransitionId, PaymentId, ProductId, StockMovementId, TenantId,
    UserId,
};
use domain::inventory::{Change, Level, Reason, StockLevel, StockMovement};
use domain::money::{Currency, Money};
use domain::orders::{Order, OrderLine, OrderNumber, OrderStatus, Transition};
use domain::payments::{Payment, PaymentMethod, PaymentStatus, ProcessorKind};
use domain::ports::Crypto;
use persistence::seed::{TenantSeed, write_tenant};
use persistence::{Backend, Database};
use time::{Duration, OffsetDateTime};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::open_database;
use crate::auth::crypto::{Argon2Crypto, HashingLimits};
use crate::config::{Environment, GlobalArgs, SeedArgs};

/// Shops written at once on PostgreSQL: one builds while others are in the database. SQLite
/// has one writer, so it writes one shop at a time.
const POSTGRES_WRITERS: u32 = 3;
/// Lines of every seeded order.
const LINES_PER_ORDER: usize = 3;
/// At most this many of a shop's orders are recent: placed within [`RECENT_WINDOW`], about
/// half of them paid by now and the others awaiting payment.
const MAX_RECENT_ORDERS: u32 = 240;
/// Recent orders were placed within this window before seeding: well inside the default
/// payment timeout (30 minutes), so none has expired when a server starts on the data.
const RECENT_WINDOW: Duration = Duration::minutes(20);
/// Orders are paid at least this long after they were placed…
const FIRST_PAYMENT_AFTER: Duration = Duration::seconds(30);
/// …and at most this long.
const LAST_PAYMENT_AFTER: Duration = Duration::minutes(20);
/// The other orders end this long before seeding, so every payment, cancellation or shipment
/// they had lies in the past.
const SETTLED_BEFORE: Duration = Duration::hours(2);
/// Mean time between two settled orders…
const MEAN_ORDER_GAP: Duration = Duration::minutes(30);
/// …unless that spreads them over more than this; then they are closer together.
const LONGEST_HISTORY: Duration = Duration::days(60);
/// The reason the expiry job gives for cancelling an order (`orders::expire_unpaid_orders`).
const EXPIRY_REASON: &str = "payment not received in time";
/// What the payment timeout is by default: seeded orders expire at this age.
const PAYMENT_TIMEOUT: Duration = Duration::minutes(30);

const CURRENCIES: [&str; 5] = ["EUR", "USD", "GBP", "CHF", "SEK"];
const SHOP_WORDS: [&str; 10] =
    ["Northwind", "Bluebird", "Harbor", "Maple", "Summit", "Copper", "Willow", "Granite", "Lakeside", "Redwood"];
const SHOP_KINDS: [&str; 8] = ["Outfitters", "Goods", "Supply", "Trading", "Home", "Market", "Studio", "Works"];
const ADJECTIVES: [&str; 16] = [
    "Classic",
    "Compact",
    "Deluxe",
    "Everyday",
    "Handmade",
    "Heavy-duty",
    "Lightweight",
    "Organic",
    "Premium",
    "Rustic",
    "Sturdy",
    "Vintage",
    "Waterproof",
    "Ergonomic",
    "Foldable",
    "Recycled",
];
const MATERIALS: [&str; 14] = [
    "Bamboo", "Canvas", "Ceramic", "Cotton", "Leather", "Linen", "Maple", "Oak", "Steel", "Walnut", "Wool", "Glass",
    "Copper", "Cork",
];
const GOODS: [&str; 20] = [
    "Backpack",
    "Bottle",
    "Chair",
    "Desk Lamp",
    "Kettle",
    "Mug",
    "Notebook",
    "Planter",
    "Scarf",
    "Shelf",
    "Stool",
    "Tote Bag",
    "Tray",
    "Wallet",
    "Blanket",
    "Cutting Board",
    "Headphones",
    "Jacket",
    "Sneakers",
    "Teapot",
];

/// Runs `keel seed`: migrates, writes the shops and prints the first shop's API key.
///
/// # Errors
/// In production; when the database cannot be opened or migrated; when a slug is taken or a
/// write fails (shops written before stay written).
pub async fn seed(global: &GlobalArgs, args: &SeedArgs, owner_password: Option<String>) -> anyhow::Result<()> {
    if global.environment == Environment::Production {
        bail!("keel seed writes made-up shops; it refuses to run with KEEL_ENV=production");
    }
    let database = open_database(global).await?;
    database.migrate_up().await.with_context(|| format!("migrating the database at {}", global.database_url))?;
    let crypto = Argon2Crypto::new(HashingLimits::for_this_machine()).map_err(anyhow::Error::new)?;
    let (password, generated) = match owner_password {
        Some(password) => (password, false),
        None => (crypto.new_secret().map_err(anyhow::Error::new)?, true),
    };
    let password = Password::parse("KEEL_OWNER_PASSWORD", &password).map_err(|invalid| anyhow!("{invalid}"))?;
    let started = Instant::now();
    // One hash for every owner: argon2 is slow on purpose, and they share the password anyway.
    let password_hash = crypto.hash_password(&password).await.map_err(anyhow::Error::new)?;
    let plan = Arc::new(Plan {
        args: args.clone(),
        seed: args.seed.unwrap_or_else(|| fastrand::u64(..)),
        now: OffsetDateTime::now_utc(),
        password_hash,
        crypto,
        database: database.clone(),
        next: AtomicU32::new(0),
    });
    let writers = match database.backend() {
        Backend::Sqlite => 1,
        Backend::Postgres => POSTGRES_WRITERS.min(args.tenants),
    };
    let mut workers = JoinSet::new();
    for _ in 0..writers {
        workers.spawn(write_shops(plan.clone()));
    }
    let mut written = Written::default();
    let mut first = None;
    while let Some(done) = workers.join_next().await {
        let (counts, credential) = done.context("a seeding task failed")??;
        written.add(&counts);
        first = first.or(credential);
    }
    database.close().await;
    let Some((slug, credential)) = first else { bail!("no shop was written") };
    println!("KEEL_TOKEN={}", credential.expose());
    println!("KEEL_TENANT={slug}");
    println!("KEEL_OWNER_EMAIL=owner@{slug}.example");
    if generated {
        println!("KEEL_OWNER_PASSWORD={}", password.expose());
    }
    println!(
        "seeded {} tenants x {} products x {} orders in {:.1} s: {} products, {} stock levels, {} stock movements, \
         {} orders, {} order lines, {} order transitions, {} payments",
        args.tenants,
        args.products,
        args.orders,
        started.elapsed().as_secs_f64(),
        written.products,
        written.stock_levels,
        written.movements,
        written.orders,
        written.lines,
        written.transitions,
        written.payments,
    );
    Ok(())
}

/// What every seeding task shares.
struct Plan {
    args: SeedArgs,
    seed: u64,
    now: OffsetDateTime,
    password_hash: PasswordHash,
    crypto: Argon2Crypto,
    database: Database,
    /// The index of the next shop to write.
    next: AtomicU32,
}

/// Rows written, by kind.
#[derive(Debug, Default)]
struct Written {
    products: usize,
    stock_levels: usize,
    movements: usize,
    orders: usize,
    lines: usize,
    transitions: usize,
    payments: usize,
}

impl Written {
    fn of(seed: &TenantSeed) -> Written {
        Written {
            products: seed.products.len(),
            stock_levels: seed.stock_levels.len(),
            movements: seed.movements.len(),
            orders: seed.orders.len(),
            lines: seed.orders.iter().map(|order| order.lines.len()).sum(),
            transitions: seed.transitions.len(),
            payments: seed.payments.len(),
        }
    }

    fn add(&mut self, other: &Written) {
        self.products += other.products;
        self.stock_levels += other.stock_levels;
        self.movements += other.movements;
        self.orders += other.orders;
        self.lines += other.lines;
        self.transitions += other.transitions;
        self.payments += other.payments;
    }
}

/// Builds and writes shops until none is left; returns what it wrote and, if it wrote the first
/// shop, that shop's slug and API key.
async fn write_shops(plan: Arc<Plan>) -> anyhow::Result<(Written, Option<(String, PresentedSecret)>)> {
    let operator = OperatorConsole::from_command_line();
    let mut written = Written::default();
    let mut first = None;
    loop {
        let index = plan.next.fetch_add(1, Ordering::Relaxed);
        if index >= plan.args.tenants {
            return Ok((written, first));
        }
        let (shop, credential) = build_shop(&plan, index)?;
        let slug = shop.tenant.slug.as_str().to_owned();
        write_tenant(&plan.database, &operator, &shop)
            .await
            .map_err(anyhow::Error::new)
            .with_context(|| format!("writing the shop {slug}"))?;
        written.add(&Written::of(&shop));
        if index == 0 {
            first = Some((slug, credential));
        }
    }
}

/// A random source for one shop, and the ids it makes.
struct Dice(fastrand::Rng);

impl Dice {
    /// A UUIDv7 of the moment `at`, its random bits from this source.
    fn id_at(&mut self, at: OffsetDateTime) -> Uuid {
        let millis = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or_default();
        let mut random = [0u8; 10];
        self.0.fill(&mut random);
        uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
    }

    fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[self.0.usize(..words.len())]
    }

    /// A duration from `low` to `high`.
    fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let (low_ms, high_ms) = (low.whole_milliseconds(), high.whole_milliseconds().max(low.whole_milliseconds()));
        let span = u64::try_from(high_ms - low_ms).unwrap_or_default();
        Duration::milliseconds(i64::try_from(low_ms).unwrap_or_default()) + millis(self.0.u64(..=span))
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        self.0.f64() < p
    }
}

fn millis(ms: u64) -> Duration {
    Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// What became of a seeded order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Unpaid,
    Paid,
    Fulfilled,
    /// Cancelled unpaid: by the expiry job, or by the owner.
    Cancelled {
        expired: bool,
    },
}

/// Builds shop number `index` (from 0) and the API key its owner created, as the client holds
/// it.
fn build_shop(plan: &Plan, index: u32) -> anyhow::Result<(TenantSeed, PresentedSecret)> {
    let mut dice = Dice(fastrand::Rng::with_seed(plan.seed ^ u64::from(index).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    let (products_wanted, orders_wanted) = (plan.args.products as usize, plan.args.orders as usize);
    let placed_at = order_times(&mut dice, plan.now, plan.args.orders);
    let oldest = placed_at.first().copied().unwrap_or(plan.now - SETTLED_BEFORE);
    let opened = oldest - Duration::days(2) - millis(u64::from(plan.args.products) * 250);

    let slug = format!("shop-{:04}", index + 1);
    let currency = Currency::parse("currencyCode", CURRENCIES[index as usize % CURRENCIES.len()])
        .map_err(|invalid| anyhow!("{invalid}"))?;
    let tenant_id = TenantId::from_uuid(dice.id_at(opened));
    let tenant = Tenant {
        id: tenant_id,
        slug: Slug::parse("slug", &slug).map_err(|invalid| anyhow!("{invalid}"))?,
        name: format!("{} {}", dice.pick(&SHOP_WORDS), dice.pick(&SHOP_KINDS)),
        currency,
        status: TenantStatus::Active,
        created_at: opened,
    };
    let owner = User {
        id: UserId::from_uuid(dice.id_at(opened)),
        tenant: tenant_id,
        email: Email::parse("email", &format!("owner@{slug}.example")).map_err(|invalid| anyhow!("{invalid}"))?,
        role: domain::auth::Role::Owner,
        status: MemberStatus::Active,
        created_at: opened,
        updated_at: opened,
    };
    let owner_ref = ActorRef::User(owner.id);

    let key_made = opened + Duration::minutes(1);
    let secret = plan.crypto.new_secret().map_err(anyhow::Error::new)?;
    let key = ApiKey {
        id: ApiKeyId::from_uuid(dice.id_at(key_made)),
        tenant: tenant_id,
        name: "Seeded integration".to_owned(),
        hint: secret.chars().skip(secret.chars().count().saturating_sub(4)).collect(),
        permissions: Permission::ALL.into_iter().filter(|p| p.grantable_to_api_keys()).collect(),
        created_by: owner_ref,
        created_at: key_made,
        last_used_at: None,
        revoked_at: None,
    };
    let credential = ApiKeyCredential::format(tenant_id, key.id, &secret);
    let key_hash = plan.crypto.hash_secret(&secret);
    let audit = vec![
        AuditEntry {
            id: AuditEntryId::from_uuid(dice.id_at(opened)),
            tenant: tenant_id,
            actor: ActorRef::Operator,
            action: AuditAction::TenantRegistered,
            subject: Some(format!("{} ({})", tenant.slug.as_str(), owner.email.as_str())),
            address: None,
            created_at: opened,
        },
        AuditEntry {
            id: AuditEntryId::from_uuid(dice.id_at(key_made)),
            tenant: tenant_id,
            actor: owner_ref,
            action: AuditAction::ApiKeyCreated,
            subject: Some(key.name.clone()),
            address: None,
            created_at: key_made,
        },
    ];

    // The first location (by id, so by creation) is where orders reserve by default.
    let locations: Vec<Location> = [("MAIN", "Main warehouse", 2), ("EAST", "East depot", 3)]
        .into_iter()
        .map(|(code, name, minutes)| {
            let at = opened + Duration::minutes(minutes);
            Ok(Location {
                id: LocationId::from_uuid(dice.id_at(at)),
                code: Sku::parse("code", code).map_err(|invalid| anyhow!("{invalid}"))?,
                name: name.to_owned(),
                created_at: at,
                updated_at: at,
            })
        })
        .collect::<anyhow::Result<_>>()?;

    let mut products = Vec::with_capacity(products_wanted);
    for n in 0..products_wanted {
        let at = opened + Duration::minutes(10) + millis(n as u64 * 250);
        let (adjective, material, good) = (dice.pick(&ADJECTIVES), dice.pick(&MATERIALS), dice.pick(&GOODS));
        products.push(Product {
            id: ProductId::from_uuid(dice.id_at(at)),
            sku: Sku::parse("sku", &format!("SKU-{:06}", n + 1)).map_err(|invalid| anyhow!("{invalid}"))?,
            name: format!("{adjective} {material} {good}"),
            description: format!(
                "A {} {} made of {}.",
                adjective.to_lowercase(),
                good.to_lowercase(),
                material.to_lowercase()
            ),
            // 0.99 to 249.99 in the shop's currency.
            price: Money::from_minor(i64::from(dice.0.u32(1..=250)) * 100 - 1, currency),
            active: true,
            version: 1,
            low_stock_threshold: dice.chance(0.8).then(|| i64::from(dice.0.u32(5..=25))),
            created_at: at,
            updated_at: at,
        });
    }

    let mut book = Ledger::new(&products, &locations);
    let mut orders = Vec::with_capacity(orders_wanted);
    let mut transitions = Vec::with_capacity(orders_wanted * 2);
    let mut payments = Vec::new();
    let recent = recent_orders(plan.args.orders) as usize;
    let customers = (plan.args.orders / 3).max(1);
    for (n, &at) in placed_at.iter().enumerate() {
        // A recent order was paid (some time before now) or still awaits payment.
        let pay_within = (plan.now - at - FIRST_PAYMENT_AFTER).min(LAST_PAYMENT_AFTER);
        let fate = if n >= orders_wanted - recent {
            if pay_within > FIRST_PAYMENT_AFTER && dice.chance(0.5) { Fate::Paid } else { Fate::Unpaid }
        } else {
            match dice.0.f64() {
                r if r < 0.78 => Fate::Paid,
                r if r < 0.91 => Fate::Fulfilled,
                _ => Fate::Cancelled { expired: dice.chance(0.6) },
            }
        };
        let placer = if dice.chance(0.7) { ActorRef::ApiKey(key.id) } else { owner_ref };
        let location = usize::from(!dice.chance(0.85));
        let mut chosen: Vec<usize> = Vec::with_capacity(LINES_PER_ORDER);
        while chosen.len() < LINES_PER_ORDER {
            let candidate = dice.0.usize(..products.len());
            if !chosen.contains(&candidate) {
                chosen.push(candidate);
            }
        }
        let lines = chosen
            .iter()
            .enumerate()
            .map(|(position, &p)| {
                let product = &products[p];
                let quantity = [1, 1, 1, 2, 2, 3][dice.0.usize(..6)];
                Ok(OrderLine {
                    position: i32::try_from(position)?,
                    product: product.id,
                    sku: product.sku.clone(),
                    name: product.name.clone(),
                    unit_price: product.price,
                    quantity,
                    total: product.price.checked_mul(quantity).ok_or_else(|| anyhow!("a line total overflows"))?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let subtotal = lines
            .iter()
            .try_fold(Money::from_minor(0, currency), |sum, line| sum.checked_add(line.total))
            .ok_or_else(|| anyhow!("an order total overflows"))?;
        let mut order = Order {
            id: OrderId::from_uuid(dice.id_at(at)),
            number: OrderNumber::from_i64(OrderNumber::FIRST.get() + i64::try_from(n)?),
            status: OrderStatus::PendingPayment,
            customer_email: Email::parse(
                "customerEmail",
                &format!("customer{:05}@example.com", dice.0.u32(1..=customers)),
            )
            .map_err(|invalid| anyhow!("{invalid}"))?,
            customer: None,
            note: dice.chance(0.05).then(|| "Please gift-wrap.".to_owned()),
            location: locations[location].id,
            subtotal,
            total: subtotal,
            lines,
            placed_by: placer,
            version: 1,
            created_at: at,
            updated_at: at,
        };
        let reference = format!("order #{}", order.number);
        let moved: Vec<(usize, i64)> = chosen.iter().zip(&order.lines).map(|(&p, l)| (p, l.quantity)).collect();
        let reserve = Entry { reason: Reason::Reserved, actor: placer, reference: &reference, at };
        book.record(&mut dice, location, &moved, &reserve);
        transitions.push(Transition {
            id: OrderTransitionId::from_uuid(dice.id_at(at)),
            order: order.id,
            from: None,
            to: OrderStatus::PendingPayment,
            reason: None,
            actor: placer,
            at,
        });

        let mut change = |dice: &mut Dice, order: &mut Order, to: OrderStatus, reason: Option<String>, actor, when| {
            transitions.push(Transition {
                id: OrderTransitionId::from_uuid(dice.id_at(when)),
                order: order.id,
                from: Some(order.status),
                to,
                reason,
                actor,
                at: when,
            });
            order.status = to;
            order.version += 1;
            order.updated_at = when;
        };
        match fate {
            Fate::Unpaid => {}
            Fate::Cancelled { expired } => {
                let (when, actor, reason) = if expired {
                    (at + PAYMENT_TIMEOUT, ActorRef::System, EXPIRY_REASON)
                } else {
                    (
                        at + dice.between(Duration::minutes(2), Duration::minutes(25)),
                        owner_ref,
                        "customer changed their mind",
                    )
                };
                let release = Entry { reason: Reason::Released, actor, reference: &reference, at: when };
                book.record(&mut dice, location, &moved, &release);
                change(&mut dice, &mut order, OrderStatus::Cancelled, Some(reason.to_owned()), actor, when);
            }
            Fate::Paid | Fate::Fulfilled => {
                let paid = at + dice.between(FIRST_PAYMENT_AFTER, pay_within);
                let payment_id = PaymentId::from_uuid(dice.id_at(paid));
                payments.push(Payment {
                    id: payment_id,
                    order: order.id,
                    customer: None,
                    amount: order.total,
                    processor: ProcessorKind::Manual,
                    method: PaymentMethod::manual(),
                    status: PaymentStatus::Succeeded,
                    reference: None,
                    processor_key: format!("keel_manual_{}", payment_id.uuid().simple()),
                    failure: None,
                    created_by: owner_ref,
                    created_at: paid,
                    updated_at: paid,
                    refunds: Vec::new(),
                });
                change(&mut dice, &mut order, OrderStatus::Paid, None, owner_ref, paid);
                let shipped = paid + dice.between(Duration::hours(1), Duration::hours(48));
                if fate == Fate::Fulfilled && shipped < plan.now - Duration::minutes(1) {
                    let ship = Entry { reason: Reason::Shipped, actor: owner_ref, reference: &reference, at: shipped };
                    book.record(&mut dice, location, &moved, &ship);
                    change(&mut dice, &mut order, OrderStatus::Fulfilled, None, owner_ref, shipped);
                }
            }
        }
        orders.push(order);
    }

    let received = opened + Duration::days(1);
    let (stock_levels, movements) = book.close(&mut dice, &products, owner_ref, received)?;
    let seed = TenantSeed {
        tenant,
        members: vec![(owner, plan.password_hash.clone())],
        api_keys: vec![(key, key_hash)],
        audit,
        locations,
        products,
        stock_levels,
        movements,
        orders,
        transitions,
        payments,
    };
    Ok((seed, credential))
}

/// How many of `orders` are recent: the newest fifth, at most [`MAX_RECENT_ORDERS`].
fn recent_orders(orders: u32) -> u32 {
    (orders / 5).min(MAX_RECENT_ORDERS)
}

/// When each of `orders` orders was placed, oldest first and each at its own millisecond: the
/// recent ones evenly within [`RECENT_WINDOW`] before `now`, the others before
/// [`SETTLED_BEFORE`] at random gaps of [`MEAN_ORDER_GAP`] on average (closer when that would
/// reach back further than [`LONGEST_HISTORY`]).
fn order_times(dice: &mut Dice, now: OffsetDateTime, orders: u32) -> Vec<OffsetDateTime> {
    let recent = recent_orders(orders);
    let settled = orders - recent;
    let history = (MEAN_ORDER_GAP * settled).min(LONGEST_HISTORY);
    let mean_gap = if settled == 0 { Duration::ZERO } else { history / settled };
    let mut times = Vec::with_capacity(orders as usize);
    let mut at = now - SETTLED_BEFORE;
    for _ in 0..settled {
        times.push(at);
        at -= dice.between(mean_gap / 5, mean_gap * 9 / 5).max(Duration::milliseconds(1));
    }
    times.reverse();
    let step = RECENT_WINDOW / (recent + 1);
    times.extend((1..=recent).map(|k| now - RECENT_WINDOW + step * k));
    times
}

/// Stock of one shop being worked out: each level's numbers, the ledger lines that moved them,
/// and when each last moved.
struct Ledger {
    product_ids: Vec<ProductId>,
    location_ids: Vec<LocationId>,
    /// Per level (`product * locations + location`): the moves so far, as a level from zero.
    levels: Vec<Level>,
    /// Per level: every unit ever reserved, released or not.
    ever_reserved: Vec<i64>,
    last_moved: Vec<Option<OffsetDateTime>>,
    movements: Vec<StockMovement>,
}

/// Why, by whom, under which reference and when stock moves.
struct Entry<'a> {
    reason: Reason,
    actor: ActorRef,
    reference: &'a str,
    at: OffsetDateTime,
}

impl Ledger {
    fn new(products: &[Product], locations: &[Location]) -> Ledger {
        let slots = products.len() * locations.len();
        Ledger {
            product_ids: products.iter().map(|p| p.id).collect(),
            location_ids: locations.iter().map(|l| l.id).collect(),
            levels: vec![Level::default(); slots],
            ever_reserved: vec![0; slots],
            last_moved: vec![None; slots],
            movements: Vec::new(),
        }
    }

    /// Records the stock an order's `lines` (`(product index, quantity)`) move at `location`
    /// for `entry`. Reservations may exceed what is on hand until [`Ledger::close`] receives,
    /// before every order, all that was ever reserved and more.
    fn record(&mut self, dice: &mut Dice, location: usize, lines: &[(usize, i64)], entry: &Entry<'_>) {
        for &(product, quantity) in lines {
            let change = Change::of(entry.reason, quantity);
            let slot = product * self.location_ids.len() + location;
            let level = &mut self.levels[slot];
            level.on_hand += change.on_hand;
            level.reserved += change.reserved;
            if entry.reason == Reason::Reserved {
                self.ever_reserved[slot] += quantity;
            }
            self.last_moved[slot] = Some(self.last_moved[slot].map_or(entry.at, |last| last.max(entry.at)));
            self.movements.push(StockMovement {
                id: StockMovementId::from_uuid(dice.id_at(entry.at)),
                product: self.product_ids[product],
                location: self.location_ids[location],
                change,
                reason: entry.reason,
                reference: Some(entry.reference.to_owned()),
                note: None,
                actor: entry.actor,
                created_at: entry.at,
            });
        }
    }

    /// Receives, at `received` (before the first order), every unit each level ever reserved
    /// plus spare stock, so that no level was ever short, and returns the levels and the whole
    /// ledger.
    ///
    /// # Errors
    /// When a level would break a rule, which would be a bug here.
    fn close(
        mut self,
        dice: &mut Dice,
        products: &[Product],
        actor: ActorRef,
        received: OffsetDateTime,
    ) -> anyhow::Result<(Vec<StockLevel>, Vec<StockMovement>)> {
        let mut receipts = Vec::with_capacity(self.levels.len());
        let mut levels = Vec::with_capacity(self.levels.len());
        for (product, item) in products.iter().enumerate() {
            for (location, &place) in self.location_ids.iter().enumerate() {
                let slot = product * self.location_ids.len() + location;
                let moved = self.levels[slot];
                let spare = if location == 0 { dice.0.i64(1_000..=5_000) } else { dice.0.i64(20..=400) };
                let change = Change::of(Reason::Received, self.ever_reserved[slot] + spare);
                let level = Level::default()
                    .apply(change)
                    .and_then(|level| level.apply(Change { on_hand: moved.on_hand, reserved: moved.reserved }))
                    .ok_or_else(|| anyhow!("seeded stock of {} breaks a rule", item.sku.as_str()))?;
                receipts.push(StockMovement {
                    id: StockMovementId::from_uuid(dice.id_at(received)),
                    product: item.id,
                    location: place,
                    change,
                    reason: Reason::Received,
                    reference: Some(format!("PO-{:06}", slot + 1)),
                    note: None,
                    actor,
                    created_at: received,
                });
                levels.push(StockLevel {
                    product: item.id,
                    location: place,
                    level,
                    updated_at: self.last_moved[slot].unwrap_or(received).max(received),
                });
            }
        }
        receipts.append(&mut self.movements);
        Ok((levels, receipts))
    }
}
