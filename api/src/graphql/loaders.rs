//! The DataLoaders that batch nested fields: one statement per page of parents instead of one
//! per parent.
//!
//! `Order.payments` has one too ([`OrderPaymentsLoader`]).
//!
//! Each is built per request from that request's caller (see [`super::context`]), so a batch
//! never mixes tenants or callers, and each calls one domain use-case, which authorizes.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};
use domain::auth::Caller;
use domain::catalog::Product;
use domain::ids::{OrderId, ProductId};
use domain::inventory::{self, StockLevel};
use domain::orders::{self, Transition};
use domain::payments::{self, Payment};

use super::services::Services;
use crate::error::{ApiError, ErrorCode};

/// This request's DataLoader of type `T`.
///
/// # Errors
/// `INTERNAL` if the request was prepared without it (a bug, never a client's doing).
pub fn loader<'a, T: Send + Sync + 'static>(ctx: &Context<'a>) -> Result<&'a DataLoader<T>, ApiError> {
    ctx.data_opt::<DataLoader<T>>().ok_or_else(|| {
        tracing::error!("a resolver ran without its DataLoader");
        ApiError::new(ErrorCode::Internal, "internal error")
    })
}

/// Batches `Product.stockLevels`: one statement per page of products.
pub struct StockLevelsLoader {
    /// Shared services.
    pub services: Arc<Services>,
    /// The caller of this request.
    pub caller: Caller,
}

impl Loader<ProductId> for StockLevelsLoader {
    type Value = Vec<StockLevel>;
    type Error = ApiError;

    async fn load(&self, products: &[ProductId]) -> Result<HashMap<ProductId, Vec<StockLevel>>, ApiError> {
        Ok(inventory::levels_of(&self.services.ports, &self.caller, products).await?)
    }
}

/// Batches `Product.availableQuantity`: one statement per page of products.
pub struct AvailableQuantityLoader {
    /// Shared services.
    pub services: Arc<Services>,
    /// The caller of this request.
    pub caller: Caller,
}

impl Loader<ProductId> for AvailableQuantityLoader {
    type Value = i64;
    type Error = ApiError;

    async fn load(&self, products: &[ProductId]) -> Result<HashMap<ProductId, i64>, ApiError> {
        Ok(inventory::available_of(&self.services.ports, &self.caller, products).await?)
    }
}

/// Batches `Order.history` for orders that were not read with their histories.
pub struct OrderHistoryLoader {
    /// Shared services.
    pub services: Arc<Services>,
    /// The caller of this request.
    pub caller: Caller,
}

impl Loader<OrderId> for OrderHistoryLoader {
    type Value = Vec<Transition>;
    type Error = ApiError;

    async fn load(&self, ids: &[OrderId]) -> Result<HashMap<OrderId, Vec<Transition>>, ApiError> {
        Ok(orders::histories(&self.services.ports, &self.caller, ids).await?)
    }
}

/// Batches `OrderLine.product` for orders that were not read with their products.
pub struct LineProductsLoader {
    /// Shared services.
    pub services: Arc<Services>,
    /// The caller of this request.
    pub caller: Caller,
}

impl Loader<ProductId> for LineProductsLoader {
    type Value = Product;
    type Error = ApiError;

    async fn load(&self, ids: &[ProductId]) -> Result<HashMap<ProductId, Product>, ApiError> {
        Ok(orders::line_products(&self.services.ports, &self.caller, ids).await?)
    }
}

/// Batches `Order.payments` for orders that were not read with their payments.
pub struct OrderPaymentsLoader {
    /// Shared services.
    pub services: Arc<Services>,
    /// The caller of this request.
    pub caller: Caller,
}

impl Loader<OrderId> for OrderPaymentsLoader {
    type Value = Vec<Payment>;
    type Error = ApiError;

    async fn load(&self, ids: &[OrderId]) -> Result<HashMap<OrderId, Vec<Payment>>, ApiError> {
        Ok(payments::payments_of_orders(&self.services.ports, &self.caller, ids).await?)
    }
}
