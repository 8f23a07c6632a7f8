//! The order repository: orders with their lines, the status history and the per-tenant
//! number counter.

use std::future::Future;

use time::OffsetDateTime;

use crate::auth::TenantScope;
use crate::error::DomainError;
use crate::ids::OrderId;
use crate::orders::{Order, OrderFilter, OrderNumber, OrderStatus, Transition};
use crate::page::{Page, PageRequest};

/// Orders, their lines and history. Under a customer's scope,
/// every read sees only that customer's orders.
pub trait OrderRepo {
    /// The tenant's next order number (from [`OrderNumber::FIRST`]): never one another order
    /// of the tenant has or will get, and increasing in the order numbers are taken. Storage
    /// may take it outside this transaction, so that concurrent placements do not queue on the
    /// counter until each commits; then a placement that fails after numbering leaves a gap.
    fn next_order_number(&self, scope: &TenantScope) -> impl Future<Output = Result<OrderNumber, DomainError>> + Send;
    /// Stores a new order with its lines.
    fn insert_order(&self, scope: &TenantScope, order: &Order) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// An order with its lines.
    fn order(
        &self,
        scope: &TenantScope,
        id: OrderId,
    ) -> impl Future<Output = Result<Option<Order>, DomainError>> + Send;
    /// An order by number, with its lines.
    fn order_by_number(
        &self,
        scope: &TenantScope,
        number: OrderNumber,
    ) -> impl Future<Output = Result<Option<Order>, DomainError>> + Send;
    /// A page of orders matching `filter`, newest first, with their lines (a fixed number of
    /// statements whatever the page size).
    fn orders(
        &self,
        scope: &TenantScope,
        filter: &OrderFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Order>, DomainError>> + Send;
    /// Locks an order's row until the transaction ends, so that paying, cancelling and expiring
    /// one order queue behind each other; `false` for an unknown (or invisible) order. Take it
    /// before reading what the decision depends on.
    fn lock_order(&self, scope: &TenantScope, id: OrderId) -> impl Future<Output = Result<bool, DomainError>> + Send;
    /// Sets the status (and bumps the version) only if it is still `from`: `false` when it is
    /// not, with nothing written.
    fn set_order_status(
        &self,
        scope: &TenantScope,
        id: OrderId,
        from: OrderStatus,
        to: OrderStatus,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, DomainError>> + Send;
    /// Appends to an order's history.
    fn append_transition(
        &self,
        scope: &TenantScope,
        transition: &Transition,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// The history of the given orders, oldest first, in one statement.
    fn transitions_of(
        &self,
        scope: &TenantScope,
        orders: &[OrderId],
    ) -> impl Future<Output = Result<Vec<Transition>, DomainError>> + Send;
    /// Up to `limit` orders still waiting for payment that were placed before `before`, oldest
    /// first.
    fn unpaid_orders_placed_before(
        &self,
        scope: &TenantScope,
        before: OffsetDateTime,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<OrderId>, DomainError>> + Send;
}
