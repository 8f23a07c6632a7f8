//! The catalog repository: products and locations, always filtered by the transaction's tenant.
//!
//! Products are stored with their `sort_name` (`domain::catalog::name_sort_key` of the name),
//! written with every name change, so `NAME` sorts on an indexed column.

use domain::auth::TenantScope;
use domain::catalog::{Location, Product, ProductFilter, ProductSort, ProductSortKey, Sku, name_sort_key};
use domain::ids::{LocationId, ProductId};
use domain::money::{Currency, Money};
use domain::page::{Page, PageRequest};
use domain::ports::CatalogRepo;
use domain::{DomainError, Taken};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter};
use uuid::Uuid;

use crate::codec::corrupt;
use crate::entity::{locations, products, stock_levels};
use crate::error::{on_unique, storage_error};
use crate::page::{Keyset, keyset_page, keyset_page_by};
use crate::store::SeaTx;

fn product_from(model: products::Model) -> Result<Product, DomainError> {
    let currency = Currency::parse("currencyCode", &model.currency_code).map_err(|_| corrupt("currency"))?;
    Ok(Product {
        id: ProductId::from_uuid(model.id),
        sku: Sku::parse("sku", &model.sku).map_err(|_| corrupt("sku"))?,
        name: model.name,
        description: model.description,
        price: Money::from_minor(model.price_minor, currency),
        active: model.active,
        version: model.version,
        low_stock_threshold: model.low_stock_threshold,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

fn location_from(model: locations::Model) -> Result<Location, DomainError> {
    Ok(Location {
        id: LocationId::from_uuid(model.id),
        code: Sku::parse("code", &model.code).map_err(|_| corrupt("location code"))?,
        name: model.name,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

/// The row of `product` of `tenant`, with its sort name.
pub(crate) fn product_row(tenant: Uuid, product: &Product) -> products::Model {
    products::Model {
        tenant_id: tenant,
        id: product.id.uuid(),
        sku: product.sku.as_str().to_owned(),
        name: product.name.clone(),
        sort_name: name_sort_key(&product.name),
        description: product.description.clone(),
        price_minor: product.price.minor(),
        currency_code: product.price.currency().code().to_owned(),
        active: product.active,
        version: product.version,
        low_stock_threshold: product.low_stock_threshold,
        created_at: product.created_at,
        updated_at: product.updated_at,
    }
}

/// The row of `location` of `tenant`.
pub(crate) fn location_row(tenant: Uuid, location: &Location) -> locations::Model {
    locations::Model {
        tenant_id: tenant,
        id: location.id.uuid(),
        code: location.code.as_str().to_owned(),
        name: location.name.clone(),
        created_at: location.created_at,
        updated_at: location.updated_at,
    }
}

/// `%text%` for LIKE, with the pattern characters of `text` escaped.
fn contains_pattern(text: &str) -> LikeExpr {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

impl CatalogRepo for SeaTx {
    async fn insert_product(&self, scope: &TenantScope, product: &Product) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        products::Entity::insert(product_row(tenant, product).into_active_model())
            .exec_without_returning(&self.txn)
            .await
            .map_err(|err| on_unique(err, Taken::ProductSku))?;
        Ok(())
    }

    async fn products_by_ids(&self, scope: &TenantScope, ids: &[ProductId]) -> Result<Vec<Product>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = products::Entity::find()
            .filter(products::Column::TenantId.eq(tenant))
            .filter(products::Column::Id.is_in(ids.iter().map(|id| id.uuid())))
            .all(&self.txn)
            .await
            .map_err(storage_error)?;
        rows.into_iter().map(product_from).collect()
    }

    async fn products_by_skus(&self, scope: &TenantScope, skus: &[Sku]) -> Result<Vec<Product>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        if skus.is_empty() {
            return Ok(Vec::new());
        }
        let rows = products::Entity::find()
            .filter(products::Column::TenantId.eq(tenant))
            .filter(products::Column::Sku.is_in(skus.iter().map(|sku| sku.as_str().to_owned())))
            .all(&self.txn)
            .await
            .map_err(storage_error)?;
        rows.into_iter().map(product_from).collect()
    }

    async fn product(&self, scope: &TenantScope, id: ProductId) -> Result<Option<Product>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let found = products::Entity::find_by_id((tenant, id.uuid())).one(&self.txn).await.map_err(storage_error)?;
        found.map(product_from).transpose()
    }

    async fn product_by_sku(&self, scope: &TenantScope, sku: &Sku) -> Result<Option<Product>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let found = products::Entity::find()
            .filter(products::Column::TenantId.eq(tenant))
            .filter(products::Column::Sku.eq(sku.as_str()))
            .one(&self.txn)
            .await
            .map_err(storage_error)?;
        found.map(product_from).transpose()
    }

    async fn update_product(
        &self,
        scope: &TenantScope,
        product: &Product,
        expected_version: i32,
    ) -> Result<bool, DomainError> {
        let tenant = self.tenant_of(scope)?;
        // Check and write in one statement: a concurrent update makes this match no row.
        let updated = products::Entity::update_many()
            .col_expr(products::Column::Name, Expr::value(product.name.clone()))
            .col_expr(products::Column::SortName, Expr::value(name_sort_key(&product.name)))
            .col_expr(products::Column::Description, Expr::value(product.description.clone()))
            .col_expr(products::Column::PriceMinor, Expr::value(product.price.minor()))
            .col_expr(products::Column::Active, Expr::value(product.active))
            .col_expr(products::Column::LowStockThreshold, Expr::value(product.low_stock_threshold))
            .col_expr(products::Column::Version, Expr::value(product.version))
            .col_expr(products::Column::UpdatedAt, Expr::value(product.updated_at))
            .filter(products::Column::TenantId.eq(tenant))
            .filter(products::Column::Id.eq(product.id.uuid()))
            .filter(products::Column::Version.eq(expected_version))
            .exec(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(updated.rows_affected == 1)
    }

    async fn products(
        &self,
        scope: &TenantScope,
        filter: &ProductFilter,
        sort: ProductSort,
        page: &PageRequest,
    ) -> Result<Page<Product>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let mut select = products::Entity::find().filter(products::Column::TenantId.eq(tenant));
        if let Some(active) = filter.active {
            select = select.filter(products::Column::Active.eq(active));
        }
        if let Some(search) = &filter.search {
            select = select.filter(
                Condition::any()
                    .add(Expr::expr(Func::lower(Expr::col(products::Column::Name))).like(contains_pattern(search)))
                    .add(Expr::expr(Func::lower(Expr::col(products::Column::Sku))).like(contains_pattern(search))),
            );
        }
        if let Some(threshold) = filter.available_below {
            // Products with no stock anywhere count as zero available.
            let available = Query::select()
                .expr(Func::coalesce([
                    Expr::expr(Func::sum(
                        Expr::col(stock_levels::Column::OnHand).sub(Expr::col(stock_levels::Column::Reserved)),
                    )),
                    Expr::val(0),
                ]))
                .from(stock_levels::Entity)
                .and_where(
                    Expr::col((stock_levels::Entity, stock_levels::Column::TenantId))
                        .equals((products::Entity, products::Column::TenantId)),
                )
                .and_where(
                    Expr::col((stock_levels::Entity, stock_levels::Column::ProductId))
                        .equals((products::Entity, products::Column::Id)),
                )
                .to_owned();
            select = select.filter(SimpleExpr::SubQuery(None, Box::new(available.into())).lt(threshold));
        }
        let column = match sort.key {
            ProductSortKey::CreatedAt => products::Column::CreatedAt,
            ProductSortKey::UpdatedAt => products::Column::UpdatedAt,
            ProductSortKey::Name => products::Column::SortName,
            ProductSortKey::Sku => products::Column::Sku,
            ProductSortKey::Price => products::Column::PriceMinor,
        };
        let keyset = Keyset { sort: Some(column), id: products::Column::Id, descending: sort.reverse };
        let rows = keyset_page_by(&self.txn, select, keyset, page).await?;
        rows.try_map(product_from)
    }

    async fn insert_location(&self, scope: &TenantScope, location: &Location) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        locations::Entity::insert(location_row(tenant, location).into_active_model())
            .exec_without_returning(&self.txn)
            .await
            .map_err(|err| on_unique(err, Taken::LocationCode))?;
        Ok(())
    }

    async fn location(&self, scope: &TenantScope, id: LocationId) -> Result<Option<Location>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let found = locations::Entity::find_by_id((tenant, id.uuid())).one(&self.txn).await.map_err(storage_error)?;
        found.map(location_from).transpose()
    }

    async fn update_location(&self, scope: &TenantScope, location: &Location) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        locations::Entity::update_many()
            .col_expr(locations::Column::Name, Expr::value(location.name.clone()))
            .col_expr(locations::Column::UpdatedAt, Expr::value(location.updated_at))
            .filter(locations::Column::TenantId.eq(tenant))
            .filter(locations::Column::Id.eq(location.id.uuid()))
            .exec(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    async fn locations(&self, scope: &TenantScope, page: &PageRequest) -> Result<Page<Location>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let select = locations::Entity::find().filter(locations::Column::TenantId.eq(tenant));
        let rows = keyset_page(&self.txn, select, locations::Column::Id, page, false).await?;
        rows.try_map(location_from)
    }
}
