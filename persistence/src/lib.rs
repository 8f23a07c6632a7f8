//! Storage for Keel: sea-orm entities and the repositories that implement `domain`'s ports, on
//! SQLite (development, tests) and PostgreSQL (production).
//!
//! Nothing here decides business rules and nothing here knows about GraphQL or HTTP. Database
//! errors are read in exactly one place, [`error::storage_error`], and leave as `DomainError`.
//!
//! # Layout
//!
//! - [`database`]: connecting, migrating and checking readiness ([`Database`]).
//! - [`store`]: [`SeaStore`], the domain's `Store`, and its tenant-confined transaction.
//! - `txn`: the connection of that transaction, which on PostgreSQL sends inserts nobody reads
//!   back with the next statement.
//! - [`identity`], [`catalog`], [`inventory`], [`orders`], [`outbox`], [`feed`],
//!   [`idempotency`], [`payments`], [`webhooks`]: the repositories on that transaction;
//!   [`webhooks`] also holds the workers' cross-tenant claim on the store.
//! - `codec`: rows to domain values and back where several repositories share it (actors,
//!   tenants, the session-holder row), and the error for a stored value that no longer parses.
//! - `page`: keyset pagination for every list.
//! - [`seed`]: whole generated shops written in bulk, for `keel seed`.
//! - [`error`]: the one translation from `DbErr` to `DomainError`.
//! - `entity`: sea-orm entities, private to this crate.

pub mod catalog;
mod codec;
pub mod database;
mod entity;
pub mod error;
pub mod feed;
pub mod idempotency;
pub mod identity;
pub mod inventory;
pub mod metrics;
pub mod orders;
pub mod outbox;
mod page;
pub mod payments;
pub mod seed;
pub mod store;
mod txn;
pub mod webhooks;

pub use database::{Backend, ConnectError, Database, MigrationState, PoolSettings, Readiness};
pub use store::SeaStore;
