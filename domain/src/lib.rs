//! Keel's business rules: what may happen to a tenant's catalog, stock, orders and payments,
//! and who may make it happen.
//!
//! This crate decides; it never talks HTTP, GraphQL or SQL. Storage is reached through port
//! traits that `persistence` implements, and the API layer turns [`DomainError`] into the
//! documented error codes.
//!
//! # Layout
//!
//! - [`error`]: [`DomainError`], the one error type every use-case returns, and [`Invalid`],
//!   a rejected input naming its field.

pub mod error;

pub use error::{DomainError, Invalid};
