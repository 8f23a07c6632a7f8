//! The `Node` interface and `node(id:)`: any object by its global id.
//!
//! The one module of the schema that knows every area: each area finds its own objects by id,
//! and this one picks the area from the id's type. Ids themselves are encoded and decoded in
//! [`super::global_id`], which areas use instead of this module.

use async_graphql::{ID, Interface};
use domain::DomainError;

use super::catalog::{self, LocationObject, ProductObject};
use super::context::RequestContext;
use super::global_id::{Kind, decode_any, decode_stock_level};
use super::identity::api_keys::{ApiKeyObject, api_key_node};
use super::identity::audit::AuditEntryObject;
use super::identity::members::{MemberObject, member_node};
use super::identity::tenants::{TenantObject, tenant_node};
use super::inventory::{StockLevelObject, stock_level_node};
use super::orders::{OrderObject, order_node};
use super::payments::{PaymentObject, payment_node};
use super::webhooks::{WebhookDeliveryObject, WebhookEndpointObject, delivery_node, endpoint_node};
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
    /// A payment.
    Payment(PaymentObject),
    /// A webhook endpoint.
    WebhookEndpoint(WebhookEndpointObject),
    /// A webhook delivery.
    WebhookDelivery(WebhookDeliveryObject),
}

/// Finds any object by its global id, if the caller may see it: `None` for ids that are not
/// Keel's, unknown ids, ids of other tenants and objects the caller lacks permission for, alike.
///
/// # Errors
/// Every failure that is not about the id: `UNAUTHENTICATED` for a caller without a
/// credential, `SERVICE_UNAVAILABLE` or `INTERNAL` when storage fails (a failed read is never
/// passed off as an object that does not exist).
pub async fn resolve(req: &RequestContext<'_>, id: &ID) -> Result<Option<Node>, ApiError> {
    if let Some((product, location)) = decode_stock_level(id) {
        return visible(stock_level_node(req, product, location).await.map(Node::StockLevel));
    }
    let Some((kind, uuid)) = decode_any(id) else { return Ok(None) };
    match kind {
        Kind::Tenant => Ok(tenant_node(req, uuid).await?.map(Node::Tenant)),
        Kind::Member => visible(member_node(req, uuid).await.map(Node::Member)),
        Kind::ApiKey => visible(api_key_node(req, uuid).await.map(Node::ApiKey)),
        Kind::Product => visible(catalog::product_node(req, uuid).await.map(Node::Product)),
        Kind::Location => visible(catalog::location_node(req, uuid).await.map(Node::Location)),
        Kind::Order => visible(order_node(req, uuid).await.map(Node::Order)),
        Kind::Payment => visible(payment_node(req, uuid).await.map(Node::Payment)),
        Kind::WebhookEndpoint => visible(endpoint_node(req, uuid).await.map(Node::WebhookEndpoint)),
        Kind::WebhookDelivery => visible(delivery_node(req, uuid).await.map(Node::WebhookDelivery)),
        // Audit entries, stock movements and refunds are read only through their lists (a
        // refund, through its payment).
        Kind::AuditEntry | Kind::StockMovement | Kind::Refund => Ok(None),
    }
}

/// One area's lookup as `node` answers it. Not found (unknown, another tenant's, hidden from
/// this caller such as a customer's view of an archived product) and forbidden (a permission
/// the caller lacks) are `None` alike, so `node` never tells which; anything else is an error.
fn visible(found: Result<Node, DomainError>) -> Result<Option<Node>, ApiError> {
    match found {
        Ok(node) => Ok(Some(node)),
        Err(DomainError::NotFound | DomainError::Forbidden { .. }) => Ok(None),
        Err(other) => Err(other.into()),
    }
}
