//! The catalog repository: products and locations.

use std::future::Future;

use crate::auth::TenantScope;
use crate::catalog::{Location, Product, ProductFilter, ProductSort, Sku};
use crate::error::DomainError;
use crate::ids::{LocationId, ProductId};
use crate::page::{Page, PageRequest};

/// Products and locations.
pub trait CatalogRepo {
    /// Adds a product. A taken SKU is `Invalid` (`TAKEN`).
    fn insert_product(
        &self,
        scope: &TenantScope,
        product: &Product,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// A product by id.
    fn product(
        &self,
        scope: &TenantScope,
        id: ProductId,
    ) -> impl Future<Output = Result<Option<Product>, DomainError>> + Send;
    /// The products with these ids (unknown ids are left out), in one statement.
    fn products_by_ids(
        &self,
        scope: &TenantScope,
        ids: &[ProductId],
    ) -> impl Future<Output = Result<Vec<Product>, DomainError>> + Send;
    /// The products with these SKUs (unknown SKUs are left out), in one statement.
    fn products_by_skus(
        &self,
        scope: &TenantScope,
        skus: &[Sku],
    ) -> impl Future<Output = Result<Vec<Product>, DomainError>> + Send;
    /// A product by SKU.
    fn product_by_sku(
        &self,
        scope: &TenantScope,
        sku: &Sku,
    ) -> impl Future<Output = Result<Option<Product>, DomainError>> + Send;
    /// Stores `product` only if the stored version is still `expected_version` (one conditional
    /// UPDATE); `false` when it is not.
    fn update_product(
        &self,
        scope: &TenantScope,
        product: &Product,
        expected_version: i32,
    ) -> impl Future<Output = Result<bool, DomainError>> + Send;
    /// A page of products matching `filter` (its search already lower-cased), in `sort` with
    /// the id breaking ties, by keyset from `page.cursor` (which fits `sort`'s order).
    fn products(
        &self,
        scope: &TenantScope,
        filter: &ProductFilter,
        sort: ProductSort,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Product>, DomainError>> + Send;
    /// Adds a location. A taken code is `Invalid` (`TAKEN`).
    fn insert_location(
        &self,
        scope: &TenantScope,
        location: &Location,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// A location by id.
    fn location(
        &self,
        scope: &TenantScope,
        id: LocationId,
    ) -> impl Future<Output = Result<Option<Location>, DomainError>> + Send;
    /// Stores a location's name.
    fn update_location(
        &self,
        scope: &TenantScope,
        location: &Location,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// A page of locations, oldest first.
    fn locations(
        &self,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Location>, DomainError>> + Send;
}
