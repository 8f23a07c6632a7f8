//! HTTP routes and the middleware every request passes through.
//!
//! `/graphql` speaks GraphQL over HTTP (and serves GraphiQL to browsers), `/graphql/ws` GraphQL
//! over WebSocket (graphql-transport-ws, for subscriptions), `/healthz` and
//! `/readyz` are for orchestrators, `/metrics` for Prometheus, `/webhooks/payments/{processor}/{tenant}` for the payment
//! processor. Every response carries an `x-request-id`, taken from the
//! request when it is a sane token or generated (UUIDv7) otherwise, and every request is one
//! tracing span that records it.
//!
//! # Layout
//!
//! - [`state`]: what every handler can reach ([`AppState`]), and the readiness check.
//! - [`graphql`]: the GraphQL-over-HTTP handler (media types, status codes, parameters); it
//!   hands the schema a request and its caller, and knows nothing of the schema's areas.
//! - [`ws`]: GraphQL over WebSocket: the subprotocol, `connection_init` authentication and
//!   the close codes; it too hands the schema a caller and knows nothing of the areas.
//! - [`client_address`]: who sent a request, behind trusted proxies or not.
//! - [`documents`]: parsed documents kept by their text.
//! - [`graphiql`]: the playground page and its bundled, offline assets.
//! - [`health`]: liveness and readiness.
//! - [`metrics`]: Prometheus metrics at `/metrics`.
//! - [`payment_webhooks`]: the payment processor's signed webhooks, one URL per shop.
//! - [`request_id`]: the request id and the per-request span.
//! - [`request_timeout`]: the deadline for a whole request.
//! - [`serve`]: accepting connections, with the deadline for request headers.

pub mod client_address;
pub mod documents;
pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod metrics;
pub mod payment_webhooks;
pub mod request_id;
pub mod request_timeout;
pub mod serve;
pub mod state;
pub mod ws;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use request_id::RequestId;
pub use state::{AppState, ReadinessCheck, ReadyState};

/// Builds the router with all routes and middleware; a request gets `request_timeout` from
/// its head to its response.
pub fn router(state: AppState, max_body_bytes: usize, request_timeout: Duration) -> Router {
    Router::new()
        .route("/graphql", get(graphql::get_graphql).post(graphql::post_graphql))
        .route("/graphql/ws", get(ws::graphql_ws))
        .route("/graphiql/{asset}", get(graphiql::asset))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::scrape))
        .route("/webhooks/payments/{processor}/{tenant}", post(payment_webhooks::receive))
        .fallback(health::not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(request_timeout, request_timeout::limit))
        .layer(axum::middleware::from_fn(request_id::trace_request))
        .with_state(state)
}
