//! The catalog part of the schema: money, products and locations.
//!
//! `products` takes a `sortKey` and `reverse`, turned into a `domain::catalog::ProductSort`;
//! its cursors carry the sort value, encoded in [`super::connection`].

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{
    Context, Enum, ID, InputObject, InputValueError, InputValueResult, MaybeUndefined, Object, Scalar, ScalarType,
    SimpleObject, Value,
};
use domain::DomainError;
use domain::auth::Permission;
use domain::catalog::{
    self, CreateProduct, Location, Product, ProductFilter, ProductPage, ProductSort, StockInclude, UpdateProduct,
};
use domain::ids::{LocationId, ProductId};
use domain::inventory::StockLevel;
use domain::money::Money;
use time::OffsetDateTime;

use super::connection::{connection, list_complexity, page_request, sorted_connection, sorted_page_request};
use super::context::{RequestContext, nullable};
use super::global_id::{self, Kind};
use super::inventory::StockLevelObject;
use super::loaders::{AvailableQuantityLoader, StockLevelsLoader, loader};
use crate::error::{ApiError, UserError, payload};

/// A decimal number as a string, e.g. `"12.50"`: exact, never a float. Money amounts have at
/// most as many decimals as their currency (USD 2, JPY 0, KWD 3).
pub struct Decimal(pub String);

#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(text) => Ok(Decimal(text)),
            _ => Err(InputValueError::custom("a Decimal is a string such as \"12.50\", never a JSON number")),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

/// Money as GraphQL sees it. Its fields are rendered only when selected: a page of orders holds
/// hundreds of amounts.
pub struct MoneyObject(Money);

impl From<Money> for MoneyObject {
    fn from(money: Money) -> Self {
        MoneyObject(money)
    }
}

/// An amount of money: a decimal amount and its ISO 4217 currency.
#[Object(name = "Money", serial)]
impl MoneyObject {
    /// The amount, with exactly the currency's decimals (`"12.50"`, `"1200"`, `"1.250"`).
    async fn amount(&self) -> Decimal {
        Decimal(self.0.to_string())
    }
    /// ISO 4217 code.
    async fn currency_code(&self) -> String {
        self.0.currency().code().to_owned()
    }
}

/// An amount of money, as input.
#[derive(InputObject)]
pub struct MoneyInput {
    /// The amount, at most the currency's decimals.
    pub amount: Decimal,
    /// ISO 4217 code; must be the tenant's currency.
    pub currency_code: String,
}

/// Something sold.
#[derive(Clone)]
pub struct ProductObject {
    product: Product,
    /// The stock read with the page this product is on, when it was read with a page.
    stock: Option<Arc<PageStock>>,
}

/// The stock read up front with a page of products (see [`catalog::products`]), shared by the
/// page's products: their stock fields read it instead of waiting on a DataLoader.
struct PageStock {
    levels: Option<Result<HashMap<ProductId, Vec<StockLevel>>, Permission>>,
    available: Option<HashMap<ProductId, i64>>,
}

impl ProductObject {
    /// A product read on its own: its stock fields batch through DataLoaders.
    pub fn of(product: Product) -> ProductObject {
        ProductObject { product, stock: None }
    }

    /// The product.
    pub fn product(&self) -> &Product {
        &self.product
    }
}

// Serial: read with a page, nothing here waits, and resolving the fields one after another
// saves the concurrent machinery per product. Read alone, its two stock fields wait on
// DataLoaders in turn, and products of a list still load together.
#[Object(name = "Product", serial)]
impl ProductObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id::encode(Kind::Product, self.product.id.uuid())
    }
    /// Stock-keeping unit, unique in the tenant (upper-case).
    async fn sku(&self) -> &str {
        self.product.sku.as_str()
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.product.name
    }
    /// Free text, possibly empty.
    async fn description(&self) -> &str {
        &self.product.description
    }
    /// Unit price in the tenant's currency.
    async fn price(&self) -> MoneyObject {
        self.product.price.into()
    }
    /// Whether it can be sold; archived products are inactive.
    async fn active(&self) -> bool {
        self.product.active
    }
    /// Incremented on every change; pass it as `expectedVersion` to `updateProduct`.
    async fn version(&self) -> i32 {
        self.product.version
    }
    /// When a stock change takes the available units at a location from at least this many to
    /// fewer, a `stock.low` event is written; `null`: no alerts.
    async fn low_stock_threshold(&self) -> Option<i64> {
        self.product.low_stock_threshold
    }
    /// When it was created.
    async fn created_at(&self) -> OffsetDateTime {
        self.product.created_at
    }
    /// When it last changed.
    async fn updated_at(&self) -> OffsetDateTime {
        self.product.updated_at
    }
    /// Units available to sell (`onHand - reserved`), summed over all locations; `0` when no
    /// stock was ever recorded. Needs only `catalog:read`, so shoppers can see what is in stock;
    /// where it is held (`stockLevels`) needs `inventory:read`. Loaded for a whole page of
    /// products in one statement.
    async fn available_quantity(&self, ctx: &Context<'_>) -> Result<i64, ApiError> {
        if let Some(available) = self.stock.as_ref().and_then(|stock| stock.available.as_ref()) {
            return Ok(available.get(&self.product.id).copied().unwrap_or(0));
        }
        let loader = loader::<AvailableQuantityLoader>(ctx)?;
        Ok(loader.load_one(self.product.id).await?.unwrap_or(0))
    }
    /// Stock at every location where some was ever recorded. Needs `inventory:read`; loaded
    /// for a whole page of products in one statement.
    async fn stock_levels(&self, ctx: &Context<'_>) -> Result<Vec<StockLevelObject>, ApiError> {
        if let Some(levels) = self.stock.as_ref().and_then(|stock| stock.levels.as_ref()) {
            let levels = levels.as_ref().map_err(|needed| DomainError::Forbidden { needed: *needed })?;
            let levels = levels.get(&self.product.id).map(Vec::as_slice).unwrap_or_default();
            return Ok(levels.iter().cloned().map(StockLevelObject).collect());
        }
        let loader = loader::<StockLevelsLoader>(ctx)?;
        let levels = loader.load_one(self.product.id).await?.unwrap_or_default();
        Ok(levels.into_iter().map(StockLevelObject).collect())
    }
}

/// A warehouse or shop floor that holds stock.
#[derive(Clone)]
pub struct LocationObject(pub Location);

#[Object(name = "Location")]
impl LocationObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id::encode(Kind::Location, self.0.id.uuid())
    }
    /// Short code, unique in the tenant.
    async fn code(&self) -> &str {
        self.0.code.as_str()
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// When it was created.
    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }
}

/// How to narrow a product list.
#[derive(InputObject, Default)]
pub struct ProductFilterInput {
    /// Case-insensitive text found in the name or SKU.
    pub search: Option<String>,
    /// Only active (`true`) or archived (`false`) products. Customers always see active ones.
    pub active: Option<bool>,
    /// Only products whose available stock over all locations is below this ("low stock").
    /// Needs `inventory:read`.
    pub available_below: Option<i64>,
}

/// What a product list is sorted by. Every order breaks ties by id, so pages never skip or
/// repeat a product; `reverse: true` runs it the other way.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
#[graphql(name = "ProductSortKey", remote = "domain::catalog::ProductSortKey")]
pub enum ProductSortKeyEnum {
    /// Creation time, oldest first.
    #[default]
    CreatedAt,
    /// Time of the last change, least recently changed first.
    UpdatedAt,
    /// Name, ignoring case, in code point order: digits before `a`–`z`, letters beyond ASCII
    /// (`ä`, `é`) after `z`.
    Name,
    /// SKU, in byte order: `-`, `.`, digits, letters, `_`.
    Sku,
    /// Unit price, cheapest first.
    Price,
}

/// Catalog queries.
#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// A product by id. Needs `catalog:read`; customers see active products only. An unknown
    /// id (or another tenant's) is `null` with a `NOT_FOUND` error; sibling fields still answer.
    async fn product(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ProductObject>, ApiError> {
        let req = RequestContext::of(ctx)?;
        let id = ProductId::from_uuid(global_id::decode(Kind::Product, &id)?);
        Ok(Some(ProductObject::of(catalog::product(&req.services.ports, req.caller, id).await?)))
    }

    /// A product by SKU (case-insensitive). An unknown SKU is `null` with a `NOT_FOUND` error.
    async fn product_by_sku(&self, ctx: &Context<'_>, sku: String) -> Result<Option<ProductObject>, ApiError> {
        let req = RequestContext::of(ctx)?;
        Ok(Some(ProductObject::of(catalog::product_by_sku(&req.services.ports, req.caller, &sku).await?)))
    }

    /// Products, oldest first unless `sortKey` and `reverse` say otherwise. Needs
    /// `catalog:read`; customers see active products only.
    ///
    /// Cursors belong to the `sortKey` they were read with: using one with another sort key is
    /// `BAD_USER_INPUT`. They stay valid with either `reverse`.
    #[graphql(complexity = "list_complexity(first, last, child_complexity)")]
    #[expect(clippy::too_many_arguments, reason = "the four Relay arguments, a filter and two sort arguments")]
    async fn products(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (up to 100) from the start or after `after`.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` (or any edge's cursor) to continue after.")] after: Option<String>,
        #[graphql(desc = "At most this many (up to 100) from the end or before `before`.")] last: Option<i32>,
        #[graphql(desc = "The `startCursor` (or any edge's cursor) to continue before.")] before: Option<String>,
        #[graphql(desc = "Which products; all when omitted.")] filter: Option<ProductFilterInput>,
        #[graphql(desc = "What to sort by; ties are broken by id.", default)] sort_key: ProductSortKeyEnum,
        #[graphql(desc = "Descending instead of ascending.", default)] reverse: bool,
    ) -> Result<Connection<String, ProductObject>, ApiError> {
        let req = RequestContext::of(ctx)?;
        let sort = ProductSort { key: sort_key.into(), reverse };
        let page = sorted_page_request(first, after, last, before, sort.key.order())?;
        let filter = filter.unwrap_or_default();
        let filter =
            ProductFilter { search: filter.search, active: filter.active, available_below: filter.available_below };
        let look = ctx.look_ahead();
        let (edges, nodes) = (look.field("edges").field("node"), look.field("nodes"));
        let include = StockInclude {
            levels: edges.field("stockLevels").exists() || nodes.field("stockLevels").exists(),
            available: edges.field("availableQuantity").exists() || nodes.field("availableQuantity").exists(),
        };
        let ProductPage { products, levels, available } =
            catalog::products(&req.services.ports, req.caller, filter, sort, &page, include).await?;
        let stock = Arc::new(PageStock { levels, available });
        Ok(sorted_connection(
            products,
            |p| sort.cursor_of(p),
            |product| ProductObject { product, stock: Some(stock.clone()) },
        ))
    }

    /// Locations, oldest first. Needs `inventory:read`.
    #[graphql(complexity = "list_complexity(first, last, child_complexity)")]
    async fn locations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, LocationObject>, ApiError> {
        let req = RequestContext::of(ctx)?;
        let page = page_request(first, after, last, before)?;
        let locations = catalog::locations(&req.services.ports, req.caller, &page).await?;
        Ok(connection(locations, |l| l.id.uuid(), LocationObject))
    }
}

/// Resolves `node(id:)` for a product; `node` decides which failures mean "not there".
pub async fn product_node(req: &RequestContext<'_>, id: uuid::Uuid) -> Result<ProductObject, DomainError> {
    catalog::product(&req.services.ports, req.caller, ProductId::from_uuid(id)).await.map(ProductObject::of)
}

/// Resolves `node(id:)` for a location; `node` decides which failures mean "not there".
pub async fn location_node(req: &RequestContext<'_>, id: uuid::Uuid) -> Result<LocationObject, DomainError> {
    catalog::location(&req.services.ports, req.caller, LocationId::from_uuid(id)).await.map(LocationObject)
}

/// A new product.
#[derive(InputObject)]
pub struct CreateProductInput {
    /// SKU: 1-64 of A-Z, 0-9, '-', '_' and '.'; unique in the tenant.
    pub sku: String,
    /// Name, 1-200 characters.
    pub name: String,
    /// Description, up to 10,000 characters.
    #[graphql(default)]
    pub description: String,
    /// Unit price in the tenant's currency.
    pub price: MoneyInput,
    /// Low-stock threshold, 0-1,000,000: a stock change that takes a location's available units
    /// below it writes `stock.low`. Omitted or `null`: no alerts.
    pub low_stock_threshold: Option<i64>,
}

/// Changes to a product; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateProductInput {
    /// The product.
    pub id: ID,
    /// The `version` you last read; if the product changed since, nothing changes (`CONFLICT`).
    pub expected_version: i32,
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New price.
    pub price: Option<MoneyInput>,
    /// Sell it or not.
    pub active: Option<bool>,
    /// New low-stock threshold, 0-1,000,000; `null` removes it (no alerts), omitted keeps it.
    pub low_stock_threshold: MaybeUndefined<i64>,
}

/// A product to archive (make inactive).
#[derive(InputObject)]
pub struct ArchiveProductInput {
    /// The product.
    pub id: ID,
    /// The `version` you last read.
    pub expected_version: i32,
}

/// A new location.
#[derive(InputObject)]
pub struct CreateLocationInput {
    /// Short code, unique in the tenant.
    pub code: String,
    /// Display name.
    pub name: String,
}

/// A location to rename.
#[derive(InputObject)]
pub struct UpdateLocationInput {
    /// The location.
    pub id: ID,
    /// New name.
    pub name: String,
}

/// A product after a change.
#[derive(SimpleObject, Default)]
pub struct ProductPayload {
    /// The product, when the change happened.
    pub product: Option<ProductObject>,
    /// Why nothing happened, if nothing did.
    pub user_errors: Vec<UserError>,
}

/// A location after a change.
#[derive(SimpleObject, Default)]
pub struct LocationPayload {
    /// The location, when the change happened.
    pub location: Option<LocationObject>,
    /// Why nothing happened, if nothing did.
    pub user_errors: Vec<UserError>,
}

fn product_payload(result: Result<Product, domain::DomainError>) -> Result<ProductPayload, ApiError> {
    payload(
        result,
        |p| ProductPayload { product: Some(ProductObject::of(p)), user_errors: Vec::new() },
        |e| ProductPayload { product: None, user_errors: e },
    )
}

fn location_payload(result: Result<Location, domain::DomainError>) -> Result<LocationPayload, ApiError> {
    payload(
        result,
        |l| LocationPayload { location: Some(LocationObject(l)), user_errors: Vec::new() },
        |e| LocationPayload { location: None, user_errors: e },
    )
}

/// Catalog mutations.
#[derive(Default)]
pub struct CatalogMutation;

#[Object]
impl CatalogMutation {
    /// Adds a product. Needs `catalog:write`.
    async fn create_product(
        &self,
        ctx: &Context<'_>,
        input: CreateProductInput,
    ) -> Result<Option<ProductPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let command = CreateProduct {
                sku: input.sku,
                name: input.name,
                description: input.description,
                price_amount: input.price.amount.0,
                price_currency: input.price.currency_code,
                low_stock_threshold: input.low_stock_threshold,
            };
            product_payload(catalog::create_product(&req.services.ports, req.caller, command).await)
        })
        .await
    }

    /// Changes a product still at `expectedVersion`; a stale version is `CONFLICT` and changes
    /// nothing. Needs `catalog:write`.
    async fn update_product(
        &self,
        ctx: &Context<'_>,
        input: UpdateProductInput,
    ) -> Result<Option<ProductPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let id = ProductId::from_uuid(global_id::decode(Kind::Product, &input.id)?);
            let command = UpdateProduct {
                expected_version: input.expected_version,
                name: input.name,
                description: input.description,
                price: input.price.map(|p| (p.amount.0, p.currency_code)),
                active: input.active,
                low_stock_threshold: match input.low_stock_threshold {
                    MaybeUndefined::Undefined => None,
                    MaybeUndefined::Null => Some(None),
                    MaybeUndefined::Value(threshold) => Some(Some(threshold)),
                },
            };
            product_payload(catalog::update_product(&req.services.ports, req.caller, id, command).await)
        })
        .await
    }

    /// Archives a product: it stays, inactive, and can no longer be sold. Needs `catalog:write`.
    async fn archive_product(
        &self,
        ctx: &Context<'_>,
        input: ArchiveProductInput,
    ) -> Result<Option<ProductPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let id = ProductId::from_uuid(global_id::decode(Kind::Product, &input.id)?);
            let command =
                UpdateProduct { expected_version: input.expected_version, active: Some(false), ..Default::default() };
            product_payload(catalog::update_product(&req.services.ports, req.caller, id, command).await)
        })
        .await
    }

    /// Adds a location. Needs `catalog:write`.
    async fn create_location(
        &self,
        ctx: &Context<'_>,
        input: CreateLocationInput,
    ) -> Result<Option<LocationPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            location_payload(catalog::create_location(&req.services.ports, req.caller, &input.code, &input.name).await)
        })
        .await
    }

    /// Renames a location. Needs `catalog:write`.
    async fn update_location(
        &self,
        ctx: &Context<'_>,
        input: UpdateLocationInput,
    ) -> Result<Option<LocationPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let id = LocationId::from_uuid(global_id::decode(Kind::Location, &input.id)?);
            location_payload(catalog::update_location(&req.services.ports, req.caller, id, &input.name).await)
        })
        .await
    }
}
