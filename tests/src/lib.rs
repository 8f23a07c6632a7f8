//! The end-to-end harness: boots the real Keel server on an ephemeral port against a fresh
//! database and talks to it over HTTP, as a client would.
//!
//! The backend is SQLite (a temporary file) unless `KEEL_TEST_POSTGRES_URL` points at a
//! PostgreSQL server the harness may administer; then each [`TestApp`] gets a throwaway database
//! owned by a throwaway non-superuser role (superusers bypass row-level security), both dropped
//! when the app is dropped. Nothing here reaches into `domain` or `persistence`.
//!
//! # Layout
//!
//! - `app.rs`: [`TestApp`], one running server, and [`Client`], a GraphQL client of it.
//! - `database.rs`: [`TestDatabase`], the throwaway database behind a server.
//! - [`postgres`]: throwaway PostgreSQL databases and roles.
//! - `response.rs`: [`GqlResponse`], a parsed HTTP answer with GraphQL helpers.
//! - `fixtures.rs`: [`Shop`], a tenant and its signed-in owner, with members and API keys.
//! - [`logs`]: capturing what servers log.

mod app;
mod database;
mod fixtures;
pub mod logs;
pub mod postgres;
mod response;

pub use app::{Client, ServerTask, TestApp};
pub use database::{POSTGRES_URL_VAR, TestDatabase};
pub use fixtures::{PASSWORD, Shop};
pub use response::GqlResponse;
