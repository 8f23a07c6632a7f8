//! The `Node` interface and `node(id:)`: any object by its global id.
//!
//! The one module of the schema that knows every area: each area finds its own objects by id,
//! and this one picks the area from the id's type. Ids themselves are encoded and decoded in
//! [`super::global_id`], which areas use instead of this module.

use async_graphql::{ID, Interface};

use super::catalog::{self, LocationObject, ProductObject};
use super::context::RequestContext;
use super::global_id::{Kind, decode_any, decode_stock_level};
use super::identity::api_keys::{ApiKeyObject, api_key_node};
use super::identity::audit::AuditEntryObject;
use super::identity::members::{MemberObject, member_node};
use super::identity::tenants::{TenantObject, tenant_node};
use super::inventory::{StockLevelObject, stock_level_node};
use super::orders::{OrderObject, order_node};
use crate::error::ApiError;

/// An object with a global id, fetchable with `node(id:)`.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "The object's opaque global id."))]
pub enum Node {
    /// A tenant.
    Tenant(TenantObject),
    /// A member.
    Member(MemberObject),
    /// An API key.
    ApiKey(ApiKeyObject),
    /// An audit log entry.
    AuditEntry(AuditEntryObject),
    /// A product.
    Product(ProductObject),
    /// A location.
    Location(LocationObject),
    /// A product's stock at a location.
    StockLevel(StockLevelObject),
    /// An order.
    Order(OrderObject),
}

/// Finds any object by its global id, if the caller may see it: `None` for ids that are not
/// Keel's, unknown ids, ids of other tenants and objects the caller lacks permission for, alike.
///
/// # Errors
/// Only failures that are not about the id (the caller's own tenant cannot be read).
pub async fn resolve(req: &RequestContext<'_>, id: &ID) -> Result<Option<Node>, ApiError> {
    if let Some((product, location)) = decode_stock_level(id) {
        return Ok(stock_level_node(req, product, location).await.map(Node::StockLevel));
    }
    let Some((kind, uuid)) = decode_any(id) else { return Ok(None) };
    let found = match kind {
        Kind::Tenant => tenant_node(req, uuid).await?.map(Node::Tenant),
        Kind::Member => member_node(req, uuid).await.map(Node::Member),
        Kind::ApiKey => api_key_node(req, uuid).await.map(Node::ApiKey),
        Kind::Product => catalog::product_node(req, uuid).await.map(Node::Product),
        Kind::Location => catalog::location_node(req, uuid).await.map(Node::Location),
        Kind::Order => order_node(req, uuid).await.map(Node::Order),
        // Audit entries and stock movements are read only through their lists.
        Kind::AuditEntry | Kind::StockMovement => None,
    };
    Ok(found)
}
