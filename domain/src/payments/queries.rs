//! Reading payments: one by id, pages of them, and those of a set of orders (for the order
//! pages), each in one read transaction of a fixed number of statements. Reading payments needs
//! `orders:read`; customers see those of their own orders only.

use std::collections::HashMap;

use super::model::{Payment, PaymentFilter};
use crate::auth::{Caller, Permission, authorize};
use crate::error::DomainError;
use crate::ids::{OrderId, PaymentId};
use crate::page::{Page, PageRequest};
use crate::ports::{Crypto, PaymentRepo, Ports, Store, Tx};

/// One payment with its refunds.
///
/// # Errors
/// `Forbidden` without `orders:read`; `NotFound` for an unknown, foreign or (for customers)
/// someone else's payment.
pub async fn payment<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: PaymentId,
) -> Result<Payment, DomainError> {
    let scope = authorize(&caller.actor, Permission::OrdersRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let found = tx.payment(&scope, id).await?;
    tx.commit().await?;
    found.ok_or(DomainError::NotFound)
}

/// A page of payments matching `filter`, newest first, with their refunds.
///
/// # Errors
/// `Forbidden` without `orders:read`.
pub async fn payments<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    filter: &PaymentFilter,
    page: &PageRequest,
) -> Result<Page<Payment>, DomainError> {
    let scope = authorize(&caller.actor, Permission::OrdersRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let found = tx.payments(&scope, filter, page).await?;
    tx.commit().await?;
    Ok(found)
}

/// The payments of each of `orders`, oldest first (every order is a key, with no payments for
/// one that has none).
///
/// # Errors
/// `Forbidden` without `orders:read`.
pub async fn payments_of_orders<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    orders: &[OrderId],
) -> Result<HashMap<OrderId, Vec<Payment>>, DomainError> {
    let scope = authorize(&caller.actor, Permission::OrdersRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let found = tx.payments_of_orders(&scope, orders).await?;
    tx.commit().await?;
    Ok(group_by_order(orders, found))
}

/// `payments` grouped by order, every one of `orders` a key.
pub(crate) fn group_by_order(orders: &[OrderId], payments: Vec<Payment>) -> HashMap<OrderId, Vec<Payment>> {
    let mut by_order: HashMap<OrderId, Vec<Payment>> = orders.iter().map(|id| (*id, Vec::new())).collect();
    for payment in payments {
        by_order.entry(payment.order).or_default().push(payment);
    }
    by_order
}
