//! The query root's own fields: the server version and `node(id:)`.

use async_graphql::{Context, ID, Object};

use super::context::RequestContext;
use super::node::{self, Node};
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
    /// A failure to look (`UNAUTHENTICATED` without a credential, `SERVICE_UNAVAILABLE` or
    /// `INTERNAL` when storage fails) is an error, never a `null`.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>, ApiError> {
        node::resolve(&RequestContext::of(ctx)?, &id).await
    }
}
