//! The GraphQL schema: its roots and the limits every operation is held to.
//!
//! GraphQL types live only here; they wrap domain values and never touch storage. The schema
//! is built once at startup and shared; per-request state (the caller, DataLoaders, the
//! password budget) travels as request data, never on the schema, so nothing is shared
//! across tenants.
//!
//! Imports run one way, top to bottom: the roots and [`node`] know every area; an area may use
//! another area's objects (orders show products) and the shared modules below it, never
//! [`node`]; the shared modules know no area.
//!
//! # Layout
//!
//! - [`build`] / [`sdl`]: the schema with its limits, and the SDL that `keel schema` prints.
//! - [`QueryRoot`] / [`MutationRoot`]: the roots, merged from each area's fields.
//! - [`subscription`]: the subscription root (`orderEvents`, `stockEvents`), served over
//!   WebSocket.
//! - [`query`]: root fields of no area (`apiVersion`, `node`).
//! - [`node`]: the `Node` interface and `node(id:)`, which asks the area the id belongs to.
//!
//! The areas, each with its objects, inputs, payloads, queries and mutations:
//!
//! - [`identity`]: tenants, sessions, members, API keys, the audit log.
//! - [`catalog`]: money, products (sort orders, available quantity), locations.
//! - [`inventory`]: stock levels and movements, and the mutations that change stock.
//! - [`orders`]: orders, their lines and history; placing and moving them along.
//! - [`payments`]: payments and refunds through the processor; the shop's processor settings.
//! - [`webhooks`]: webhook endpoints, their delivery log, and managing them.
//!
//! What the areas share:
//!
//! - [`global_id`]: encoding and decoding global ids (a leaf).
//! - [`actor`]: who acted (`ActorKind`, the member behind an actor).
//! - [`connection`]: Relay connections, cursors and page arguments.
//! - [`context`]: one request's data: [`context::prepare_request`] puts it on a request,
//!   [`context::RequestContext`] reads it back in a resolver.
//! - [`loaders`]: the DataLoaders behind `Product.stockLevels`, `Product.availableQuantity`,
//!   `Order.history`, `Order.payments` and `OrderLine.product`.
//! - [`services`]: [`services::Services`], shared by every request and stored on the schema.
//! - [`feed`]: [`feed::EventFeed`], the process's fan-out of outbox events to subscriptions.
//! - [`field_errors`]: after execution, failed fields answer `null` in `data` as the
//!   specification says.

pub mod actor;
pub mod catalog;
pub mod connection;
pub mod context;
pub mod feed;
pub mod field_errors;
pub mod global_id;
pub mod identity;
pub mod inventory;
pub mod loaders;
pub mod node;
pub mod orders;
pub mod payments;
pub mod query;
pub mod services;
pub mod subscription;
pub mod webhooks;

use std::sync::Arc;

use async_graphql::{MergedObject, Schema};

/// Every query field.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    query::BaseQuery,
    identity::IdentityQuery,
    catalog::CatalogQuery,
    inventory::InventoryQuery,
    orders::OrderQuery,
    payments::PaymentQuery,
    webhooks::WebhookQuery,
);

/// Every mutation field. Each takes one `input` and returns a payload with `userErrors`.
///
/// Payloads are nullable: a field that fails with a top-level error (`FORBIDDEN`,
/// `NOT_FOUND`, …) is `null`, and the results of the fields before it in the same document,
/// already committed, still arrive.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    identity::IdentityMutation,
    catalog::CatalogMutation,
    inventory::InventoryMutation,
    orders::OrderMutation,
    payments::PaymentMutation,
    webhooks::WebhookMutation,
);

/// The schema type Keel serves.
pub type KeelSchema = Schema<QueryRoot, MutationRoot, subscription::SubscriptionRoot>;

/// How much one operation may ask for.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Deepest field nesting (introspection included: GraphiQL's query nests 14 deep).
    pub max_depth: usize,
    /// Largest complexity score.
    pub max_complexity: usize,
    /// Whether `__schema` and `__type` are answered.
    pub introspection: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: 16, max_complexity: 10_000, introspection: true }
    }
}

/// Deepest nesting of fragments and lists the parser accepts, against stack exhaustion.
const MAX_RECURSIVE_DEPTH: usize = 64;
/// Most directives on one field, against directive-flooding requests.
const MAX_DIRECTIVES: usize = 16;

/// Builds the schema with the given limits; `services` is `None` only for printing the SDL.
pub fn build(limits: Limits, services: Option<Arc<services::Services>>) -> KeelSchema {
    let mut builder = Schema::build(QueryRoot::default(), MutationRoot::default(), subscription::SubscriptionRoot)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(MAX_RECURSIVE_DEPTH)
        .limit_directives(MAX_DIRECTIVES);
    if let Some(services) = services {
        builder = builder.data(services);
    }
    if limits.introspection { builder.finish() } else { builder.disable_introspection().finish() }
}

/// The public contract as SDL: what `keel schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    build(Limits::default(), None).sdl()
}
