//! Reading orders: one by id or number, pages of them, their histories and the products of
//! their lines, each in one read transaction of a fixed number of statements; customers see
//! only their own orders.

use std::collections::HashMap;

use super::model::{Order, OrderFilter, OrderNumber, Transition};
use crate::auth::{Caller, Permission, TenantScope, authorize};
use crate::catalog::Product;
use crate::error::DomainError;
use crate::ids::{OrderId, ProductId};
use crate::page::{Page, PageRequest};
use crate::payments::{Payment, group_by_order};
use crate::ports::{CatalogRepo, Crypto, OrderRepo, Ports, Store, Tx};

/// What to read along with orders, in the same transaction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Include {
    /// Their histories.
    pub history: bool,
    /// The products of their lines.
    pub products: bool,
    /// Their payments, with refunds.
    pub payments: bool,
}

/// What was read along with orders; `None` where it was not asked for (or, for products, the
/// caller may not read the catalog).
#[derive(Clone, Debug, Default)]
pub struct Related {
    /// Histories by order, oldest entry first.
    pub history: Option<HashMap<OrderId, Vec<Transition>>>,
    /// Line products by id (for customers, only products still on sale).
    pub products: Option<HashMap<ProductId, Product>>,
    /// Payments by order, oldest first, with their refunds.
    pub payments: Option<HashMap<OrderId, Vec<Payment>>>,
}

/// Reads what `include` asks for about `orders`: one statement for all histories, one for all
/// products, two for all payments and their refunds.
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
        let visible = products.into_iter().filter(|p| p.visible_to(&catalog));
        related.products = Some(visible.map(|p| (p.id, p)).collect());
    }
    if include.payments {
        let ids: Vec<OrderId> = orders.iter().map(|o| o.id).collect();
        let payments = tx.payments_of_orders(scope, &ids).await?;
        related.payments = Some(group_by_order(&ids, payments));
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
    let visible = products.into_iter().filter(|p| p.visible_to(&scope));
    Ok(visible.map(|p| (p.id, p)).collect())
}
