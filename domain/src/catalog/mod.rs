//! The catalog: products (sku, name, description, price, active, version) and locations
//! (warehouses).
//!
//! Products change only with the version the client last saw: a stale `expected_version` is a
//! `Conflict` and changes nothing, never a lost update. Prices are in the tenant's currency.
//!
//! # Layout
//!
//! - this module: values, records and the use-cases.

use time::OffsetDateTime;

use crate::auth::{Caller, Permission, Role, authorize};
use crate::error::{DomainError, Invalid};
use crate::identity::Ports;
use crate::ids::{LocationId, ProductId};
use crate::money::Money;
use crate::page::{Page, PageRequest};
use crate::ports::{CatalogRepo, Crypto, IdentityRepo, Store, Tx};

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

fn price_in_tenant_currency(
    field: &str,
    amount: &str,
    code: &str,
    tenant_currency: crate::money::Currency,
) -> Result<Money, Invalid> {
    let currency = crate::money::Currency::parse(&format!("{field}.currencyCode"), code)?;
    if currency != tenant_currency {
        return Err(Invalid::with_code(
            &format!("{field}.currencyCode"),
            "CURRENCY_MISMATCH",
            format!("prices in this tenant are in {}", tenant_currency.code()),
        ));
    }
    let price = Money::parse(&format!("{field}.amount"), amount, currency)?;
    if price.is_negative() {
        return Err(Invalid::new(&format!("{field}.amount"), "must not be negative"));
    }
    Ok(price)
}

/// Adds a product to the catalog.
///
/// # Errors
/// `Forbidden` without `catalog:write`; `Invalid` for a bad field, a price in another currency
/// or with too many decimals, or a taken SKU (`TAKEN`).
#[tracing::instrument(name = "catalog.create_product", skip_all, fields(product.id = tracing::field::Empty))]
pub async fn create_product<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    command: CreateProduct,
) -> Result<Product, DomainError> {
    let scope = authorize(&caller.actor, Permission::CatalogWrite)?;
    let tx = ports.store.begin(&scope).await?;
    let tenant = tx.tenant(&scope).await?;
    let sku = Sku::parse("sku", &command.sku);
    let name = crate::identity::parse_text("name", &command.name, 200);
    let description = parse_description("description", &command.description);
    let price = price_in_tenant_currency("price", &command.price_amount, &command.price_currency, tenant.currency);
    let (sku, name, description, price) = match (sku, name, description, price) {
        (Ok(sku), Ok(name), Ok(description), Ok(price)) => (sku, name, description, price),
        (sku, name, description, price) => {
            let first = [sku.err(), name.err(), description.err(), price.err()].into_iter().flatten().next();
            return Err(first.map_or(DomainError::internal("no error"), DomainError::from));
        }
    };
    let now = ports.clock.now();
    let product = Product {
        id: ProductId::new(),
        sku,
        name,
        description,
        price,
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
/// changes); `Invalid` for a bad field.
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
    let mut changed = current.clone();
    if let Some(name) = &command.name {
        changed.name = crate::identity::parse_text("name", name, 200)?;
    }
    if let Some(description) = &command.description {
        changed.description = parse_description("description", description)?;
    }
    if let Some((amount, code)) = &command.price {
        changed.price = price_in_tenant_currency("price", amount, code, tenant.currency)?;
    }
    if let Some(active) = command.active {
        changed.active = active;
    }
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

/// A page of products, oldest first; customers see only active ones whatever they ask.
///
/// # Errors
/// `Forbidden` without `catalog:read`.
pub async fn products<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    mut filter: ProductFilter,
    page: &PageRequest,
) -> Result<Page<Product>, DomainError> {
    let scope = authorize(&caller.actor, Permission::CatalogRead)?;
    if filter.available_below.is_some() {
        // Filtering by stock reveals stock: it needs the permission that reads it.
        authorize(&caller.actor, Permission::InventoryRead)?;
    }
    if is_customer(caller) {
        filter.active = Some(true);
    }
    filter.search = filter.search.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
    let tx = ports.store.begin_read(&scope).await?;
    let products = tx.products(&scope, &filter, page).await?;
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
    let name = crate::identity::parse_text("name", name, 200)?;
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
    let name = crate::identity::parse_text("name", name, 200)?;
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

    #[test]
    fn prices_must_be_in_the_tenant_currency_and_not_negative() {
        let usd = crate::money::Currency::parse("c", "USD").expect("usd");

        assert_eq!(price_in_tenant_currency("price", "12.50", "usd", usd).map(|m| m.minor()), Ok(1250));
        assert_eq!(
            price_in_tenant_currency("price", "12.50", "EUR", usd).map_err(|e| e.code()),
            Err("CURRENCY_MISMATCH")
        );
        assert_eq!(
            price_in_tenant_currency("price", "-1", "USD", usd).map_err(|e| e.field().join(".")),
            Err("price.amount".to_owned())
        );
        assert_eq!(
            price_in_tenant_currency("price", "1.999", "USD", usd).map_err(|e| e.code()),
            Err("TOO_MANY_DECIMALS")
        );
    }
}
