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
//! - [`identity`], [`catalog`], [`inventory`], [`orders`], [`outbox`], [`idempotency`]: the
//!   repositories on that transaction.
//! - [`error`]: the one translation from `DbErr` to `DomainError`.
//! - `entity`: sea-orm entities, private to this crate.

pub mod catalog;
pub mod database;
mod entity;
pub mod error;
pub mod idempotency;
pub mod identity;
pub mod inventory;
pub mod orders;
pub mod outbox;
pub mod store;

pub use database::{Backend, ConnectError, Database, MigrationState, Readiness};
pub use store::SeaStore;
