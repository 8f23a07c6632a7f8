//! The inventory repository: stock levels, changed only by conditional statements, and the
//! movement ledger.

use std::future::Future;

use time::OffsetDateTime;

use crate::auth::TenantScope;
use crate::error::DomainError;
use crate::ids::{LocationId, ProductId};
use crate::inventory::{Change, StockLevel, StockMovement};
use crate::page::{Page, PageRequest};

/// Stock levels and the movement ledger.
pub trait InventoryRepo {
    /// Applies `movement` to its level with one conditional statement (creating the level at
    /// zero first if needed) and appends it to the ledger. `None`, with nothing written, when
    /// the level would break a rule (negative, or reserved above on hand).
    fn apply_movement(
        &self,
        scope: &TenantScope,
        movement: &StockMovement,
    ) -> impl Future<Output = Result<Option<StockLevel>, DomainError>> + Send;
    /// Changes existing levels at `location`, each product's by its change (each product once),
    /// with conditional statements that lock the levels in product order, and returns each
    /// level after its change, in the order of `changes`. A level whose result would break a
    /// rule (negative, or reserved above on hand), or that does not exist, is not changed and
    /// answers `None`; the levels after it may then be left unchanged (`None`) too, and those
    /// before it changed: the caller rolls the transaction back. The caller appends the matching
    /// movements with [`InventoryRepo::append_movements`].
    fn change_levels(
        &self,
        scope: &TenantScope,
        location: LocationId,
        changes: &[(ProductId, Change)],
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<Option<StockLevel>>, DomainError>> + Send;
    /// Appends movements to the ledger in one statement (their levels were already changed).
    fn append_movements(
        &self,
        scope: &TenantScope,
        movements: &[StockMovement],
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// A level, if stock was ever recorded there.
    fn stock_level(
        &self,
        scope: &TenantScope,
        product: ProductId,
        location: LocationId,
    ) -> impl Future<Output = Result<Option<StockLevel>, DomainError>> + Send;
    /// Every recorded level of the given products, in one statement.
    fn stock_levels_of(
        &self,
        scope: &TenantScope,
        products: &[ProductId],
    ) -> impl Future<Output = Result<Vec<StockLevel>, DomainError>> + Send;
    /// The available units (`on_hand - reserved`) of each given product summed over all its
    /// locations, in one statement; products with no stock recorded anywhere are left out.
    fn available_quantities(
        &self,
        scope: &TenantScope,
        products: &[ProductId],
    ) -> impl Future<Output = Result<Vec<(ProductId, i64)>, DomainError>> + Send;
    /// The ledger of one level, newest first.
    fn stock_movements(
        &self,
        scope: &TenantScope,
        product: ProductId,
        location: LocationId,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<StockMovement>, DomainError>> + Send;
}
