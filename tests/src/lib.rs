//! The end-to-end harness: boots the real Keel server on an ephemeral port against a fresh
//! database and talks to it over HTTP, as a client would.
//!
//! The backend is SQLite (a temporary file) unless `KEEL_TEST_POSTGRES_URL` points at a
//! PostgreSQL server the harness may administer; then each [`TestApp`] gets a throwaway database
//! owned by a throwaway non-superuser role (superusers bypass row-level security), both dropped
//! when the app is dropped. Nothing here reaches into `domain` or `persistence`.
//!
//! Every helper the end-to-end tests share lives here, once; a helper only one test file uses
//! stays in that file.
//!
//! # Layout
//!
//! - `app.rs`: [`TestApp`], one running server, and [`Client`], a GraphQL client of it.
//! - `database.rs`: [`TestDatabase`], the throwaway database behind a server, the `keel`
//!   commands an operator runs on it, and [`postgres_admin_url`] for PostgreSQL-only tests.
//! - [`postgres`]: throwaway PostgreSQL databases and roles.
//! - `response.rs`: [`GqlResponse`], a parsed HTTP answer, read by accessors that fail loudly.
//! - `fixtures.rs`: [`Shop`] (a tenant and its owner), members, [`ApiKey`]s, products,
//!   locations, stock and orders, made through the API.
//! - `ids.rs`: global ids ([`unknown_id`], [`global_id`], [`global_id_key`]).
//! - [`logs`]: capturing what servers log.
//! - `outside.rs`: [`Outside`], a connection that changes (or reads, as [`OutboxRow`]s) the
//!   database beside a running server.

mod app;
mod database;
mod fixtures;
mod ids;
pub mod logs;
mod outside;
pub mod postgres;
mod response;

pub use app::{Client, PRODUCTION_JWT_SECRET, ServerTask, TestApp};
pub use database::{POSTGRES_URL_VAR, TestDatabase, postgres_admin_url};
pub use fixtures::{ApiKey, PASSWORD, Shop};
pub use ids::{global_id, global_id_key, unknown_id};
pub use outside::{OutboxRow, Outside};
pub use response::GqlResponse;
