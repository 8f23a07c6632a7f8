//! What every handler can reach: the schema, the services that authenticate callers, and the
//! readiness check. Built once in `app` and cloned into each request.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::documents::DocumentCache;
use crate::graphql::KeelSchema;
use crate::graphql::field_errors::FieldTypes;
use crate::graphql::services::Services;
use crate::metrics::Metrics;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The schema, built once.
    pub schema: KeelSchema,
    /// Answers whether the database is reachable and migrated.
    pub readiness: ReadinessCheck,
    /// Storage, crypto and tokens, to authenticate callers.
    pub services: Arc<Services>,
    /// Where the client address comes from: the peer, or `X-Forwarded-For` behind proxies.
    pub client_addresses: super::client_address::ClientAddresses,
    /// Documents already parsed.
    pub documents: Arc<DocumentCache>,
    /// The schema's field types, to put failed fields into `data` as the specification says.
    pub field_types: Arc<FieldTypes>,
    /// Metrics, when `/metrics` is on (nothing is recorded for it otherwise).
    pub metrics: Option<Arc<MetricsState>>,
}

/// Whether the service can take traffic, and if not, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadyState {
    /// The database is reachable and every migration applied.
    Ready,
    /// Not ready; the reason is safe to show (no credentials, no SQL).
    NotReady(String),
}

/// Checks readiness on demand; built in `app` from the database.
pub type ReadinessCheck = Arc<dyn Fn() -> BoxFuture<'static, ReadyState> + Send + Sync>;

/// Sets the gauges that are read rather than kept, before a scrape renders.
pub type Refresh = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// What `/metrics` serves.
pub struct MetricsState {
    /// The recorder's view, and the operation-name bound the GraphQL handler labels with.
    pub metrics: Arc<Metrics>,
    /// The bearer token a scrape must present, if any.
    pub token: Option<String>,
    /// Refreshes the read gauges.
    pub refresh: Refresh,
}
