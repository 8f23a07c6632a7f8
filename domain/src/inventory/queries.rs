//! Reading stock: one level, the levels and available totals of a page of products, and the
//! ledger of one level.

use std::collections::HashMap;

use super::model::{Level, StockLevel, StockMovement};
use crate::auth::{Caller, Permission, authorize};
use crate::error::DomainError;
use crate::ids::{LocationId, ProductId};
use crate::page::{Page, PageRequest};
use crate::ports::{CatalogRepo, Crypto, InventoryRepo, Ports, Store, Tx};

/// A product's level at a location (zero if stock was never recorded there).
///
/// # Errors
/// `NotFound` for unknown or foreign ids; `Forbidden` without `inventory:read`.
pub async fn stock_level<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    product: ProductId,
    location: LocationId,
) -> Result<StockLevel, DomainError> {
    let scope = authorize(&caller.actor, Permission::InventoryRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    tx.product(&scope, product).await?.ok_or(DomainError::NotFound)?;
    tx.location(&scope, location).await?.ok_or(DomainError::NotFound)?;
    let level = tx.stock_level(&scope, product, location).await?;
    tx.commit().await?;
    Ok(level.unwrap_or(StockLevel { product, location, level: Level::default(), updated_at: ports.clock.now() }))
}

/// Every recorded level of each product, for a page of products at once (one statement).
///
/// # Errors
/// `Forbidden` without `inventory:read`.
pub async fn levels_of<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    products: &[ProductId],
) -> Result<HashMap<ProductId, Vec<StockLevel>>, DomainError> {
    let scope = authorize(&caller.actor, Permission::InventoryRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let levels = tx.stock_levels_of(&scope, products).await?;
    tx.commit().await?;
    let mut by_product: HashMap<ProductId, Vec<StockLevel>> = products.iter().map(|p| (*p, Vec::new())).collect();
    for level in levels {
        by_product.entry(level.product).or_default().push(level);
    }
    Ok(by_product)
}

/// The units available to sell of each product, summed over all locations (zero where no stock
/// was ever recorded), for a page of products at once (one statement).
///
/// Unlike levels per location, this total is catalog information: a shop shows customers
/// whether, and how much of, a product is in stock, so it needs only `catalog:read`. Callers
/// pass products the caller could read; which locations hold the stock stays behind
/// `inventory:read`.
///
/// # Errors
/// `Forbidden` without `catalog:read`.
pub async fn available_of<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    products: &[ProductId],
) -> Result<HashMap<ProductId, i64>, DomainError> {
    let scope = authorize(&caller.actor, Permission::CatalogRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let sums = tx.available_quantities(&scope, products).await?;
    tx.commit().await?;
    let mut available: HashMap<ProductId, i64> = products.iter().map(|p| (*p, 0)).collect();
    available.extend(sums);
    Ok(available)
}

/// The ledger of a product at a location, newest first.
///
/// # Errors
/// `NotFound` for unknown or foreign ids; `Forbidden` without `inventory:read`.
pub async fn stock_movements<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    product: ProductId,
    location: LocationId,
    page: &PageRequest,
) -> Result<Page<StockMovement>, DomainError> {
    let scope = authorize(&caller.actor, Permission::InventoryRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    tx.product(&scope, product).await?.ok_or(DomainError::NotFound)?;
    tx.location(&scope, location).await?.ok_or(DomainError::NotFound)?;
    let movements = tx.stock_movements(&scope, product, location, page).await?;
    tx.commit().await?;
    Ok(movements)
}
