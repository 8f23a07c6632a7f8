//! The query root's own fields: the server version and `node(id:)`.

use async_graphql::{Context, ID, Object};

use super::catalog::catalog_node;
use super::context::RequestContext;
use super::identity::identity_node;
use super::inventory::stock_level_node;
use super::node::{Kind, Node, decode_any, decode_stock_level};
use super::orders::order_node;
use crate::error::ApiError;

/// Fields of the query root that belong to no area.
#[derive(Default)]
pub struct BaseQuery;

#[Object]
impl BaseQuery {
    /// Version of the Keel server answering, e.g. `0.1.0`.
    async fn api_version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    /// Any object by its global id, if the caller may see it: `null` for unknown ids, ids of
    /// other tenants and objects the caller lacks permission for, alike (as Relay expects).
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>, ApiError> {
        let req = RequestContext::of(ctx)?;
        if let Some((product, location)) = decode_stock_level(&id) {
            return Ok(stock_level_node(&req, product, location).await);
        }
        let Some((kind, uuid)) = decode_any(&id) else { return Ok(None) };
        match kind {
            Kind::Product | Kind::Location => Ok(catalog_node(&req, kind, uuid).await),
            Kind::Order => Ok(order_node(&req, uuid).await),
            _ => identity_node(&req, kind, uuid).await,
        }
    }
}
