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
//! - `ids.rs`: global ids ([`unknown_id`], [`global_id`], [`global_id_key`], [`global_id_uuid`]).
//! - [`logs`]: capturing what servers log.
//! - `outside.rs`: [`Outside`], a connection that changes (or reads, as [`OutboxRow`]s) the
//!   database beside a running server.
//! - `child.rs`: [`ChildServer`], a server in a child process, to kill with SIGKILL.
//! - `eventually.rs`: [`eventually`], waiting for background work with a deadline.
//! - `receiver.rs`: [`Receiver`], a webhook endpoint that records what it gets ([`Received`])
//!   and answers by a [`Script`] of [`Answer`]s, and verifies Standard Webhooks signatures.
//! - `webhooks.rs`: webhook endpoints and deliveries through the API ([`CreatedEndpoint`]).

mod app;
mod child;
mod database;
mod eventually;
mod fixtures;
mod ids;
pub mod logs;
mod outside;
pub mod postgres;
mod receiver;
mod response;
mod webhooks;

pub use app::{Client, PRODUCTION_JWT_SECRET, ServerTask, TestApp};
pub use child::ChildServer;
pub use database::{POSTGRES_URL_VAR, TestDatabase, postgres_admin_url};
pub use eventually::eventually;
pub use fixtures::{ApiKey, PASSWORD, Shop};
pub use ids::{global_id, global_id_key, global_id_uuid, unknown_id};
pub use outside::{OutboxRow, Outside};
pub use receiver::{Answer, HOOK_PATH, Received, Receiver, Script};
pub use response::GqlResponse;
pub use webhooks::{CreatedEndpoint, DELIVERY_FIELDS, ENDPOINT_FIELDS, WEBHOOK_EVENT_TYPES};
