//! The catalog: products (sku, name, description, price, active, version) and locations
//! (warehouses).
//!
//! Products change only with the version the client last saw: a stale `expected_version` is a
//! `Conflict` and changes nothing, never a lost update. Prices are in the tenant's currency.
//! A product's fields are all checked before anything is written, and every bad one is
//! reported, not only the first. Product lists are read in a [`ProductSort`]: by creation,
//! update, name (case-insensitively), SKU or price, either way, with the id breaking ties.
//!
//! # Layout
//!
//! - this module: values, records and the use-cases.

use time::OffsetDateTime;

use crate::auth::{Caller, Permission, Role, authorize};
use crate::error::{DomainError, Invalid};
use crate::ids::{LocationId, ProductId};
use crate::money::{Currency, Money};
use crate::page::{Cursor, KeyKind, Page, PageRequest, SortOrder, SortValue};
use crate::ports::{CatalogRepo, Crypto, IdentityRepo, Ports, Store, Tx};
use crate::text::parse_text;

/// A stock-keeping unit: 1–64 of `A–Z 0–9 - _ .`, stored upper-case, unique per tenant.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sku(String);

impl Sku {
    /// Parses a SKU, upper-casing it.
    ///
    /// # Errors
    /// `Invalid` on `field`.
    pub fn parse(field: &str, raw: &str) -> Result<Sku, Invalid> {
        let sku = raw.trim().to_ascii_uppercase();
        let valid = (1..=64).contains(&sku.len())
            && sku.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if valid { Ok(Sku(sku)) } else { Err(Invalid::new(field, "must be 1 to 64 of A-Z, 0-9, '-', '_' and '.'")) }
    }

    /// The SKU.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The longest product name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The longest product description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;

fn parse_description(field: &str, raw: &str) -> Result<String, Invalid> {
    if raw.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Invalid::new(field, format!("must be at most {MAX_DESCRIPTION_CHARS} characters")));
    }
    Ok(raw.trim().to_owned())
}

/// A product as sold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    /// Its id.
    pub id: ProductId,
    /// Its SKU, unique in the tenant.
    pub sku: Sku,
    /// Display name.
    pub name: String,
    /// Free text, possibly empty.
    pub description: String,
    /// Unit price, in the tenant's currency, never negative.
    pub price: Money,
    /// Whether it can be sold; archived products are inactive.
    pub active: bool,
    /// Incremented on every change; updates must name the version they saw.
    pub version: i32,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

/// A new product, as typed; the price is parsed against the tenant's currency in the use-case.
#[derive(Clone, Debug)]
pub struct CreateProduct {
    /// SKU.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Price amount, a decimal string.
    pub price_amount: String,
    /// Price currency code.
    pub price_currency: String,
}

/// Changes to a product; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct UpdateProduct {
    /// The version the client last saw.
    pub expected_version: i32,
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New price: (amount, currency code).
    pub price: Option<(String, String)>,
    /// Sell it or not.
    pub active: Option<bool>,
}

/// How a product list is filtered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProductFilter {
    /// Case-insensitive substring of the name or SKU.
    pub search: Option<String>,
    /// Only active (`true`) or inactive (`false`) products.
    pub active: Option<bool>,
    /// Only products whose available stock, summed over all locations, is below this.
    pub available_below: Option<i64>,
}

/// What product lists can be sorted by; the id breaks ties in every order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProductSortKey {
    /// When it was created (the default: oldest first).
    #[default]
    CreatedAt,
    /// When it last changed.
    UpdatedAt,
    /// Its name, case-insensitively (by [`name_sort_key`]).
    Name,
    /// Its SKU (upper-case ASCII, byte order: `-` `.` digits letters `_`).
    Sku,
    /// Its price in minor units (all prices are in the tenant's currency).
    Price,
}

impl ProductSortKey {
    /// Every key.
    pub const ALL: [ProductSortKey; 5] = [
        ProductSortKey::CreatedAt,
        ProductSortKey::UpdatedAt,
        ProductSortKey::Name,
        ProductSortKey::Sku,
        ProductSortKey::Price,
    ];

    /// The order lists sorted by this key are read in, as cursors name it.
    pub fn order(self) -> SortOrder {
        let (name, kind) = match self {
            ProductSortKey::CreatedAt => ("CREATED_AT", KeyKind::Time),
            ProductSortKey::UpdatedAt => ("UPDATED_AT", KeyKind::Time),
            ProductSortKey::Name => ("NAME", KeyKind::Text),
            ProductSortKey::Sku => ("SKU", KeyKind::Text),
            ProductSortKey::Price => ("PRICE", KeyKind::Integer),
        };
        SortOrder { name, kind }
    }

    /// The product's value under this key: what storage sorts on and cursors remember.
    pub fn value_of(self, product: &Product) -> SortValue {
        match self {
            ProductSortKey::CreatedAt => SortValue::Time(product.created_at),
            ProductSortKey::UpdatedAt => SortValue::Time(product.updated_at),
            ProductSortKey::Name => SortValue::Text(name_sort_key(&product.name)),
            ProductSortKey::Sku => SortValue::Text(product.sku.as_str().to_owned()),
            ProductSortKey::Price => SortValue::Integer(product.price.minor()),
        }
    }
}

/// How a product list is ordered: a key, ascending unless `reverse`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProductSort {
    /// What to sort by.
    pub key: ProductSortKey,
    /// Descending instead of ascending (ties then go by descending id too).
    pub reverse: bool,
}

impl ProductSort {
    /// The cursor of `product` in a list read in this sort.
    pub fn cursor_of(&self, product: &Product) -> Cursor {
        Cursor::new(self.key.order(), self.key.value_of(product), product.id.uuid())
    }
}

/// The text a name sorts by: the name lower-cased (Unicode), compared byte by byte, so "apple",
/// "Banana" and "banana" sort the same way on every backend. Storage keeps it next to the name.
pub fn name_sort_key(name: &str) -> String {
    name.to_lowercase()
}

/// A warehouse or shop floor that holds stock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// Its id.
    pub id: LocationId,
    /// Short code, unique in the tenant (`MAIN`, `BER-1`).
    pub code: Sku,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

/// Checks a price typed as `amount` and currency `code` against the tenant's currency,
/// reporting the amount and the currency separately (`{field}.amount`, `{field}.currencyCode`):
/// the amount is read in the tenant's currency, which every price is in.
fn price_in_tenant_currency(
    field: &str,
    amount: &str,
    code: &str,
    tenant_currency: Currency,
) -> Result<Money, Vec<Invalid>> {
    let currency_field = format!("{field}.currencyCode");
    let currency = Currency::parse(&currency_field, code).and_then(|currency| {
        if currency == tenant_currency {
            Ok(currency)
        } else {
            Err(Invalid::with_code(
                &currency_field,
                "CURRENCY_MISMATCH",
                format!("prices in this tenant are in {}", tenant_currency.code()),
            ))
        }
    });
    let amount_field = format!("{field}.amount");
    let price = Money::parse(&amount_field, amount, tenant_currency).and_then(|price| {
        if price.is_negative() { Err(Invalid::new(&amount_field, "must not be negative")) } else { Ok(price) }
    });
    match (currency, price) {
        (Ok(_), Ok(price)) => Ok(price),
        (currency, price) => Err([currency.err(), price.err()].into_iter().flatten().collect()),
    }
}

/// The checked fields of a new product.
#[derive(Clone, Debug, PartialEq, Eq)]
struct NewProductFields {
    sku: Sku,
    name: String,
    description: String,
    price: Money,
}

impl CreateProduct {
    /// Checks every field, for a tenant whose prices are in `currency`.
    fn check(&self, currency: Currency) -> Result<NewProductFields, Vec<Invalid>> {
        let sku = Sku::parse("sku", &self.sku);
        let name = parse_text("name", &self.name, MAX_NAME_CHARS);
        let description = parse_description("description", &self.description);
        let price = price_in_tenant_currency("price", &self.price_amount, &self.price_currency, currency);
        match (sku, name, description, price) {
            (Ok(sku), Ok(name), Ok(description), Ok(price)) => Ok(NewProductFields { sku, name, description, price }),
            (sku, name, description, price) => {
                let mut errors: Vec<Invalid> =
                    [sku.err(), name.err(), description.err()].into_iter().flatten().collect();
                errors.extend(price.err().into_iter().flatten());
                Err(errors)
            }
        }
    }
}

impl UpdateProduct {
    /// Applies the given fields to `product`, checking every one, for a tenant whose prices are
    /// in `currency`.
    fn apply_to(&self, mut product: Product, currency: Currency) -> Result<Product, Vec<Invalid>> {
        let mut errors = Vec::new();
        if let Some(name) = &self.name {
            match parse_text("name", name, MAX_NAME_CHARS) {
                Ok(name) => product.name = name,
                Err(invalid) => errors.push(invalid),
            }
        }
        if let Some(description) = &self.description {
            match parse_description("description", description) {
                Ok(description) => product.description = description,
                Err(invalid) => errors.push(invalid),
            }
        }
        if let Some((amount, code)) = &self.price {
            match price_in_tenant_currency("price", amount, code, currency) {
                Ok(price) => product.price = price,
                Err(invalid) => errors.extend(invalid),
            }
        }
        if let Some(active) = self.active {
            product.active = active;
        }
        if errors.is_empty() { Ok(product) } else { Err(errors) }
    }
}

/// Adds a product to the catalog.
///
/// # Errors
/// `Forbidden` without `catalog:write`; `Invalid`/`InvalidFields` naming every bad field at
/// once (a price in another currency or with too many decimals among them), with nothing
/// written; `Invalid` (`TAKEN`) alone for a taken SKU, which only the insert can tell.
#[tracing::instrument(name = "catalog.create_product", skip_all, fields(product.id = tracing::field::Empty))]
pub async fn create_product<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    command: CreateProduct,
) -> Result<Product, DomainError> {
    let scope = authorize(&caller.actor, Permission::CatalogWrite)?;
    let tx = ports.store.begin(&scope).await?;
    let tenant = tx.tenant(&scope).await?;
    let fields = command.check(tenant.currency).map_err(DomainError::invalid_fields)?;
    let now = ports.clock.now();
    let product = Product {
        id: ProductId::new(),
        sku: fields.sku,
        name: fields.name,
        description: fields.description,
        price: fields.price,
        active: true,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    tx.insert_product(&scope, &product).await?;
    tx.commit().await?;
    tracing::Span::current().record("product.id", tracing::field::display(product.id));
    Ok(product)
}

/// Changes a product if it is still at `expected_version`.
///
/// # Errors
/// `NotFound` for an unknown id or another tenant's; `Conflict` for a stale version (nothing
/// changes); `Invalid`/`InvalidFields` naming every bad field given, with nothing written.
#[tracing::instrument(name = "catalog.update_product", skip_all, fields(product.id = %id))]
pub async fn update_product<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: ProductId,
    command: UpdateProduct,
) -> Result<Product, DomainError> {
    let scope = authorize(&caller.actor, Permission::CatalogWrite)?;
    let tx = ports.store.begin(&scope).await?;
    let tenant = tx.tenant(&scope).await?;
    let current = tx.product(&scope, id).await?.ok_or(DomainError::NotFound)?;
    let mut changed = command.apply_to(current.clone(), tenant.currency).map_err(DomainError::invalid_fields)?;
    changed.version =
        command.expected_version.checked_add(1).ok_or_else(|| DomainError::Conflict("stale version".into()))?;
    changed.updated_at = ports.clock.now();
    if current.version != command.expected_version
        || !tx.update_product(&scope, &changed, command.expected_version).await?
    {
        return Err(DomainError::Conflict(format!(
            "the product changed since version {}; it is at version {}: refetch and retry",
            command.expected_version, current.version
        )));
    }
    tx.commit().await?;
    Ok(changed)
}

/// One product; customers see only active ones.
///
/// # Errors
/// `NotFound` for unknown, foreign or (for customers) inactive products.
pub async fn product<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: ProductId,
) -> Result<Product, DomainError> {
    let scope = authorize(&caller.actor, Permission::CatalogRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let found = tx.product(&scope, id).await?;
    tx.commit().await?;
    found.filter(|p| p.active || !is_customer(caller)).ok_or(DomainError::NotFound)
}

/// One product by SKU; customers see only active ones.
///
/// # Errors
/// `NotFound` as for [`product`].
pub async fn product_by_sku<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    sku: &str,
) -> Result<Product, DomainError> {
    let scope = authorize(&caller.actor, Permission::CatalogRead)?;
    let Ok(sku) = Sku::parse("sku", sku) else { return Err(DomainError::NotFound) };
    let tx = ports.store.begin_read(&scope).await?;
    let found = tx.product_by_sku(&scope, &sku).await?;
    tx.commit().await?;
    found.filter(|p| p.active || !is_customer(caller)).ok_or(DomainError::NotFound)
}

/// A page of products in `sort`; customers see only active ones whatever they ask.
///
/// # Errors
/// `Forbidden` without `catalog:read` (and without `inventory:read` for a stock filter);
/// `Internal` when `page` was not built for `sort`'s order (a bug: cursors are checked against
/// the order when the page request is made).
pub async fn products<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    mut filter: ProductFilter,
    sort: ProductSort,
    page: &PageRequest,
) -> Result<Page<Product>, DomainError> {
    let scope = authorize(&caller.actor, Permission::CatalogRead)?;
    if page.order != sort.key.order() {
        return Err(DomainError::internal("a product page was requested in another order than its sort"));
    }
    if filter.available_below.is_some() {
        // Filtering by stock reveals stock: it needs the permission that reads it.
        authorize(&caller.actor, Permission::InventoryRead)?;
    }
    if is_customer(caller) {
        filter.active = Some(true);
    }
    filter.search = filter.search.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
    let tx = ports.store.begin_read(&scope).await?;
    let products = tx.products(&scope, &filter, sort, page).await?;
    tx.commit().await?;
    Ok(products)
}

fn is_customer(caller: &Caller) -> bool {
    matches!(&caller.actor, crate::auth::Actor::Member(m) if m.role == Role::Customer)
}

/// Adds a location.
///
/// # Errors
/// `Forbidden` without `catalog:write`; `Invalid` for a bad or taken code (`TAKEN`) or name.
pub async fn create_location<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    code: &str,
    name: &str,
) -> Result<Location, DomainError> {
    let scope = authorize(&caller.actor, Permission::CatalogWrite)?;
    let code = Sku::parse("code", code)?;
    let name = parse_text("name", name, 200)?;
    let now = ports.clock.now();
    let location = Location { id: LocationId::new(), code, name, created_at: now, updated_at: now };
    let tx = ports.store.begin(&scope).await?;
    tx.insert_location(&scope, &location).await?;
    tx.commit().await?;
    Ok(location)
}

/// Renames a location.
///
/// # Errors
/// `NotFound` for unknown or foreign ids; `Invalid` for a bad name.
pub async fn update_location<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: LocationId,
    name: &str,
) -> Result<Location, DomainError> {
    let scope = authorize(&caller.actor, Permission::CatalogWrite)?;
    let name = parse_text("name", name, 200)?;
    let tx = ports.store.begin(&scope).await?;
    let current = tx.location(&scope, id).await?.ok_or(DomainError::NotFound)?;
    let changed = Location { name, updated_at: ports.clock.now(), ..current };
    tx.update_location(&scope, &changed).await?;
    tx.commit().await?;
    Ok(changed)
}

/// One location.
///
/// # Errors
/// `NotFound` for unknown or foreign ids; `Forbidden` without `inventory:read`.
pub async fn location<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: LocationId,
) -> Result<Location, DomainError> {
    let scope = authorize(&caller.actor, Permission::InventoryRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let found = tx.location(&scope, id).await?;
    tx.commit().await?;
    found.ok_or(DomainError::NotFound)
}

/// A page of locations, oldest first.
///
/// # Errors
/// `Forbidden` without `inventory:read`.
pub async fn locations<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    page: &PageRequest,
) -> Result<Page<Location>, DomainError> {
    let scope = authorize(&caller.actor, Permission::InventoryRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let locations = tx.locations(&scope, page).await?;
    tx.commit().await?;
    Ok(locations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_are_normalised_and_checked() {
        assert_eq!(Sku::parse("sku", " tee-blue_m.1 ").map(|s| s.0), Ok("TEE-BLUE_M.1".to_owned()));
        for bad in ["", " ", "a b", "ä", &"x".repeat(65)] {
            assert!(Sku::parse("sku", bad).is_err(), "{bad:?}");
        }
    }

    fn usd() -> Currency {
        Currency::parse("c", "USD").expect("usd")
    }

    fn codes(result: Result<impl std::fmt::Debug, Vec<Invalid>>) -> Vec<(String, &'static str)> {
        result.err().into_iter().flatten().map(|e| (e.field().join("."), e.code())).collect()
    }

    #[test]
    fn prices_must_be_in_the_tenant_currency_and_not_negative() {
        assert_eq!(price_in_tenant_currency("price", "12.50", "usd", usd()).map(|m| m.minor()), Ok(1250));
        assert_eq!(
            codes(price_in_tenant_currency("price", "12.50", "EUR", usd())),
            [("price.currencyCode".into(), "CURRENCY_MISMATCH")]
        );
        assert_eq!(codes(price_in_tenant_currency("price", "-1", "USD", usd())), [("price.amount".into(), "INVALID")]);
        assert_eq!(
            codes(price_in_tenant_currency("price", "1.999", "USD", usd())),
            [("price.amount".into(), "TOO_MANY_DECIMALS")]
        );
        assert_eq!(
            codes(price_in_tenant_currency("price", "1.999", "ABC", usd())),
            [("price.currencyCode".into(), "UNKNOWN_CURRENCY"), ("price.amount".into(), "TOO_MANY_DECIMALS")],
            "the amount is checked in the tenant's currency even when the code is wrong"
        );
    }

    #[test]
    fn a_new_product_reports_every_bad_field_at_once() {
        let command = CreateProduct {
            sku: "not a sku".into(),
            name: "  ".into(),
            description: "x".repeat(MAX_DESCRIPTION_CHARS + 1),
            price_amount: "1.999".into(),
            price_currency: "EUR".into(),
        };
        let good = CreateProduct {
            sku: "tee-1".into(),
            name: " Red tee ".into(),
            description: String::new(),
            price_amount: "19.9".into(),
            price_currency: "usd".into(),
        };

        assert_eq!(
            codes(command.check(usd())),
            [
                ("sku".into(), "INVALID"),
                ("name".into(), "INVALID"),
                ("description".into(), "INVALID"),
                ("price.currencyCode".into(), "CURRENCY_MISMATCH"),
                ("price.amount".into(), "TOO_MANY_DECIMALS"),
            ]
        );
        let checked = good.check(usd()).expect("valid");
        assert_eq!((checked.sku.as_str(), checked.name.as_str(), checked.price.minor()), ("TEE-1", "Red tee", 1990));
    }

    fn a_product() -> Product {
        let now = OffsetDateTime::UNIX_EPOCH;
        Product {
            id: ProductId::new(),
            sku: Sku::parse("sku", "TEE-1").expect("sku"),
            name: "Red Tee".into(),
            description: String::new(),
            price: Money::from_minor(1990, usd()),
            active: true,
            version: 1,
            created_at: now,
            updated_at: now + time::Duration::seconds(5),
        }
    }

    #[test]
    fn an_update_reports_every_bad_field_it_was_given_and_keeps_the_rest() {
        let product = a_product();
        let bad = UpdateProduct {
            expected_version: 1,
            name: Some(String::new()),
            description: None,
            price: Some(("abc".into(), "XYZ".into())),
            active: Some(false),
        };
        let good = UpdateProduct { expected_version: 1, name: Some("Blue tee".into()), ..Default::default() };

        assert_eq!(
            codes(bad.apply_to(product.clone(), usd())),
            [
                ("name".into(), "INVALID"),
                ("price.currencyCode".into(), "UNKNOWN_CURRENCY"),
                ("price.amount".into(), "INVALID")
            ]
        );
        let changed = good.apply_to(product.clone(), usd()).expect("valid");
        assert_eq!((changed.name.as_str(), changed.price, changed.active), ("Blue tee", product.price, true));
    }

    #[test]
    fn names_sort_case_insensitively_and_every_key_has_its_own_order() {
        let product = a_product();

        assert_eq!(name_sort_key("Äpfel & Birnen"), "äpfel & birnen");
        assert_eq!(ProductSortKey::Name.value_of(&product), SortValue::Text("red tee".into()));
        assert_eq!(ProductSortKey::Sku.value_of(&product), SortValue::Text("TEE-1".into()));
        assert_eq!(ProductSortKey::Price.value_of(&product), SortValue::Integer(1990));
        assert_eq!(ProductSortKey::UpdatedAt.value_of(&product), SortValue::Time(product.updated_at));
        let names: std::collections::HashSet<_> = ProductSortKey::ALL.iter().map(|k| k.order().name).collect();
        assert_eq!(names.len(), ProductSortKey::ALL.len(), "cursors of two keys must never be mistaken");
        for key in ProductSortKey::ALL {
            let cursor = ProductSort { key, reverse: false }.cursor_of(&product);
            assert!(cursor.fits(key.order()), "{key:?}");
            assert_eq!(cursor.id, product.id.uuid());
        }
    }
}
