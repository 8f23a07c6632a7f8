//! Products: [`CreateProduct`] and [`UpdateProduct`] checked field by field against the
//! tenant's currency, the use-cases that write them, and the reads that show customers only
//! active ones.

use super::model::{
    MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_SEARCH_CHARS, Product, ProductFilter, ProductSort, Sku,
    archived_visible_to, parse_low_stock_threshold,
};
use std::collections::HashMap;

use crate::auth::{Caller, Permission, authorize};
use crate::error::{DomainError, Invalid};
use crate::ids::ProductId;
use crate::inventory::StockLevel;
use crate::money::{Currency, Money};
use crate::page::{Page, PageRequest};
use crate::ports::{CatalogRepo, Crypto, IdentityRepo, InventoryRepo, Ports, Store, Tx};
use crate::text::parse_text;

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
    /// Low-stock threshold; `None`: no alerts.
    pub low_stock_threshold: Option<i64>,
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
    /// New low-stock threshold: `Some(None)` removes it (no alerts).
    pub low_stock_threshold: Option<Option<i64>>,
}

fn parse_description(field: &str, raw: &str) -> Result<String, Invalid> {
    if raw.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Invalid::new(field, format!("must be at most {MAX_DESCRIPTION_CHARS} characters")));
    }
    Ok(raw.trim().to_owned())
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
    low_stock_threshold: Option<i64>,
}

impl CreateProduct {
    /// Checks every field, for a tenant whose prices are in `currency`.
    fn check(&self, currency: Currency) -> Result<NewProductFields, Vec<Invalid>> {
        let sku = Sku::parse("sku", &self.sku);
        let name = parse_text("name", &self.name, MAX_NAME_CHARS);
        let description = parse_description("description", &self.description);
        let price = price_in_tenant_currency("price", &self.price_amount, &self.price_currency, currency);
        let threshold = parse_low_stock_threshold("lowStockThreshold", self.low_stock_threshold);
        match (sku, name, description, price, threshold) {
            (Ok(sku), Ok(name), Ok(description), Ok(price), Ok(low_stock_threshold)) => {
                Ok(NewProductFields { sku, name, description, price, low_stock_threshold })
            }
            (sku, name, description, price, threshold) => {
                let mut errors: Vec<Invalid> =
                    [sku.err(), name.err(), description.err()].into_iter().flatten().collect();
                errors.extend(price.err().into_iter().flatten());
                errors.extend(threshold.err());
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
        if let Some(threshold) = self.low_stock_threshold {
            match parse_low_stock_threshold("lowStockThreshold", threshold) {
                Ok(threshold) => product.low_stock_threshold = threshold,
                Err(invalid) => errors.push(invalid),
            }
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
    // Prices are read in the tenant's currency, so it is looked up first: the command is then
    // checked before the write transaction, and a rejected product never waits for the writer.
    let currency = {
        let tx = ports.store.begin_read(&scope).await?;
        let tenant = tx.tenant(&scope).await?;
        tx.commit().await?;
        tenant.currency
    };
    let fields = command.check(currency).map_err(DomainError::invalid_fields)?;
    let now = ports.clock.now();
    let product = Product {
        id: ProductId::new(),
        sku: fields.sku,
        name: fields.name,
        description: fields.description,
        price: fields.price,
        active: true,
        version: 1,
        low_stock_threshold: fields.low_stock_threshold,
        created_at: now,
        updated_at: now,
    };
    let tx = ports.store.begin(&scope).await?;
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
    // Read in its own transaction: the write below is conditional on the version read here, so
    // a change committed in between makes it a `Conflict`, never a lost update.
    let (currency, current) = {
        let tx = ports.store.begin_read(&scope).await?;
        let tenant = tx.tenant(&scope).await?;
        let current = tx.product(&scope, id).await?;
        tx.commit().await?;
        (tenant.currency, current.ok_or(DomainError::NotFound)?)
    };
    let mut changed = command.apply_to(current.clone(), currency).map_err(DomainError::invalid_fields)?;
    changed.version =
        command.expected_version.checked_add(1).ok_or_else(|| DomainError::Conflict("stale version".into()))?;
    changed.updated_at = ports.clock.now();
    let stale = || {
        DomainError::Conflict(format!(
            "the product changed since version {}; it is at version {}: refetch and retry",
            command.expected_version, current.version
        ))
    };
    if current.version != command.expected_version {
        return Err(stale());
    }
    let tx = ports.store.begin(&scope).await?;
    if !tx.update_product(&scope, &changed, command.expected_version).await? {
        return Err(stale());
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
    found.filter(|p| p.visible_to(&scope)).ok_or(DomainError::NotFound)
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
    found.filter(|p| p.visible_to(&scope)).ok_or(DomainError::NotFound)
}

/// The stock a page of products is read with: what its query selects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StockInclude {
    /// Every product's levels per location (`inventory:read`).
    pub levels: bool,
    /// Every product's available units over all locations (`catalog:read`).
    pub available: bool,
}

/// A page of products and the stock its query selected, all read in one transaction.
#[derive(Debug)]
pub struct ProductPage {
    /// The products.
    pub products: Page<Product>,
    /// Each product's levels (an empty list where none was ever recorded), when included; or
    /// the permission the caller lacks to see them, which each product's field reports.
    pub levels: Option<Result<HashMap<ProductId, Vec<StockLevel>>, Permission>>,
    /// Each product's available units (0 where no stock was ever recorded), when included.
    pub available: Option<HashMap<ProductId, i64>>,
}

/// A page of products in `sort`; customers see only active ones whatever they ask. The stock
/// `include` asks for is read in the same transaction (two statements at most, one each, for
/// the whole page), so a page costs the same few round trips however many products it holds.
///
/// # Errors
/// `Forbidden` without `catalog:read` (and without `inventory:read` for a stock filter);
/// `Invalid` on `filter.search` past [`MAX_SEARCH_CHARS`]; `Internal` when `page` was not built for `sort`'s order (a bug: cursors are checked against
/// the order when the page request is made).
pub async fn products<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    mut filter: ProductFilter,
    sort: ProductSort,
    page: &PageRequest,
    include: StockInclude,
) -> Result<ProductPage, DomainError> {
    let scope = authorize(&caller.actor, Permission::CatalogRead)?;
    if page.order != sort.key.order() {
        return Err(DomainError::internal("a product page was requested in another order than its sort"));
    }
    if filter.available_below.is_some() {
        // Filtering by stock reveals stock: it needs the permission that reads it.
        authorize(&caller.actor, Permission::InventoryRead)?;
    }
    if !archived_visible_to(&scope) {
        filter.active = Some(true);
    }
    filter.search = filter.search.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
    if filter.search.as_ref().is_some_and(|search| search.chars().nth(MAX_SEARCH_CHARS).is_some()) {
        return Err(Invalid::new("filter.search", format!("must be at most {MAX_SEARCH_CHARS} characters")).into());
    }
    let tx = ports.store.begin_read(&scope).await?;
    let products = tx.products(&scope, &filter, sort, page).await?;
    let ids: Vec<ProductId> = products.items.iter().map(|product| product.id).collect();
    let levels = match include.levels {
        false => None,
        true => match authorize(&caller.actor, Permission::InventoryRead) {
            Err(_) => Some(Err(Permission::InventoryRead)),
            Ok(_) if ids.is_empty() => Some(Ok(HashMap::new())),
            Ok(_) => {
                let mut by_product: HashMap<ProductId, Vec<StockLevel>> =
                    ids.iter().map(|id| (*id, Vec::new())).collect();
                for level in tx.stock_levels_of(&scope, &ids).await? {
                    by_product.entry(level.product).or_default().push(level);
                }
                Some(Ok(by_product))
            }
        },
    };
    let available = match include.available && !ids.is_empty() {
        false => include.available.then(HashMap::new),
        true => {
            let mut available: HashMap<ProductId, i64> = ids.iter().map(|id| (*id, 0)).collect();
            available.extend(tx.available_quantities(&scope, &ids).await?);
            Some(available)
        }
    };
    tx.commit().await?;
    Ok(ProductPage { products, levels, available })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model::MAX_LOW_STOCK_THRESHOLD;
    use crate::catalog::model::tests::{a_product, usd};

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
            low_stock_threshold: Some(-1),
        };
        let good = CreateProduct {
            sku: "tee-1".into(),
            name: " Red tee ".into(),
            description: String::new(),
            price_amount: "19.9".into(),
            price_currency: "usd".into(),
            low_stock_threshold: Some(5),
        };

        assert_eq!(
            codes(command.check(usd())),
            [
                ("sku".into(), "INVALID"),
                ("name".into(), "INVALID"),
                ("description".into(), "INVALID"),
                ("price.currencyCode".into(), "CURRENCY_MISMATCH"),
                ("price.amount".into(), "TOO_MANY_DECIMALS"),
                ("lowStockThreshold".into(), "INVALID"),
            ]
        );
        let checked = good.check(usd()).expect("valid");
        assert_eq!((checked.sku.as_str(), checked.name.as_str(), checked.price.minor()), ("TEE-1", "Red tee", 1990));
        assert_eq!(checked.low_stock_threshold, Some(5));
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
            low_stock_threshold: Some(Some(MAX_LOW_STOCK_THRESHOLD + 1)),
        };
        let good = UpdateProduct { expected_version: 1, name: Some("Blue tee".into()), ..Default::default() };
        let with_threshold = UpdateProduct { low_stock_threshold: Some(Some(0)), ..Default::default() };
        let without_threshold = UpdateProduct { low_stock_threshold: Some(None), ..Default::default() };

        assert_eq!(
            codes(bad.apply_to(product.clone(), usd())),
            [
                ("name".into(), "INVALID"),
                ("price.currencyCode".into(), "UNKNOWN_CURRENCY"),
                ("price.amount".into(), "INVALID"),
                ("lowStockThreshold".into(), "INVALID")
            ]
        );
        let changed = good.apply_to(product.clone(), usd()).expect("valid");
        assert_eq!((changed.name.as_str(), changed.price, changed.active), ("Blue tee", product.price, true));
        let alerting = with_threshold.apply_to(product.clone(), usd()).expect("valid");
        assert_eq!(alerting.low_stock_threshold, Some(0));
        assert_eq!(without_threshold.apply_to(alerting, usd()).expect("valid").low_stock_threshold, None);
    }
}
