//! Keel's API: the GraphQL schema, the axum HTTP server around it, configuration, telemetry and
//! the `keel` command line.
//!
//! Resolvers parse input, call one domain use-case and map its result; they hold no SQL and no
//! business decisions. `persistence` is used only by [`app`], which wires the pieces together.
//!
//! Modules import one way: [`app`] wires [`http`] and [`graphql`]; [`http`] hands the schema a
//! request and its caller; [`graphql`] and [`auth`] reach the wiring only through its leaf
//! [`app::ports`]. `tests/architecture.rs` fails on any import loop between them.
//!
//! # Layout
//!
//! - [`app`]: wiring — open the database, build the schema and router, serve until shutdown;
//!   [`app::ports`], the ports use-cases run on; [`app::jobs`], background jobs.
//! - [`auth`]: credentials to actors; password hashing; access tokens.
//! - [`config`]: the `keel` command line and its `KEEL_*` variables.
//! - [`error`]: [`error::ApiError`], the documented error codes, and `userErrors` entries.
//! - [`graphql`]: the schema (query, mutation and subscription roots) and its types.
//! - [`http`]: routes — `/graphql` (GraphQL over HTTP and GraphiQL), `/healthz`, `/readyz`,
//!   `/metrics`.
//! - [`metrics`]: the Prometheus recorder every crate records through, and the bound on
//!   operation-name labels; a leaf.
//! - [`telemetry`]: log format and filtering.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod telemetry;
