//! HTTP routes and the middleware every request passes through.
//!
//! `/graphql` speaks GraphQL over HTTP (and serves GraphiQL to browsers), `/healthz` and
//! `/readyz` are for orchestrators. Every response carries an `x-request-id`, taken from the
//! request when it is a sane token or generated (UUIDv7) otherwise, and every request is one
//! tracing span that records it.
//!
//! # Layout
//!
//! - [`state`]: what every handler can reach ([`AppState`]), and the readiness check.
//! - [`graphql`]: the GraphQL-over-HTTP handler (media types, status codes, parameters); it
//!   hands the schema a request and its caller, and knows nothing of the schema's areas.
//! - [`documents`]: parsed documents kept by their text.
//! - [`graphiql`]: the playground page and its bundled, offline assets.
//! - [`health`]: liveness and readiness.
//! - [`request_id`]: the request id and the per-request span.

pub mod documents;
pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod request_id;
pub mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

pub use request_id::RequestId;
pub use state::{AppState, ReadinessCheck, ReadyState};

/// Builds the router with all routes and middleware.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/graphql", get(graphql::get_graphql).post(graphql::post_graphql))
        .route("/graphiql/{asset}", get(graphiql::asset))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(health::not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn(request_id::trace_request))
        .with_state(state)
}
