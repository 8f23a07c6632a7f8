//! Storage for Keel: sea-orm entities and the repositories that implement `domain`'s ports, on
//! SQLite (development, tests) and PostgreSQL (production).
//!
//! Nothing here decides business rules and nothing here knows about GraphQL or HTTP. Database
//! errors are read in exactly one place, [`error::storage_error`], and leave as `DomainError`.
//!
//! # Layout
//!
//! - [`database`]: connecting, migrating and checking readiness ([`Database`]).
//! - [`error`]: the one translation from `DbErr` to `DomainError`.

pub mod database;
pub mod error;

pub use database::{Backend, ConnectError, Database, MigrationState, Readiness};
