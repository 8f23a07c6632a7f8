//! Keel's business rules: what may happen to a tenant's catalog, stock, orders and payments,
//! and who may make it happen.
//!
//! This crate decides; it never talks HTTP, GraphQL or SQL. Storage and cryptography are
//! reached through the port traits in [`ports`], which `persistence` and `api` implement, and
//! the API layer turns [`DomainError`] into the documented error codes.
//!
//! # Use-cases
//!
//! A use-case is one function taking the [`ports::Ports`], the caller and a command. It
//! authorizes ([`auth::authorize`]) and turns its whole command into domain values *before* it
//! opens its write transaction: raw input is parsed at the boundary (`PlaceOrder::parse`,
//! `RegisterTenant::parse`, …), every field problem is reported at once, and a check that needs
//! a stored fact (a price is read in the tenant's currency) reads it in a read-only
//! transaction first. The write transaction then holds only what must be atomic: existence
//! checks, conditional updates, compare-and-set, the writes themselves; it is committed on the
//! use-case's last line. A rejected command so never takes the writer's lock (SQLite has one
//! writer for the whole database) nor a row lock.
//!
//! # Layout
//!
//! - [`auth`]: [`auth::Actor`] (made only by authentication, or by the command line for an
//!   operator), [`auth::Caller`], [`auth::authorize`], the only public maker of a
//!   [`auth::TenantScope`], and [`auth::may_grant`]; [`auth::permissions`]:
//!   [`auth::Permission`] and roles.
//! - [`catalog`]: products and locations (`model`, `products`, `locations`).
//! - [`inventory`]: stock levels and the movement ledger (`model`, `changes`, `queries`).
//! - [`orders`]: placement with stock reservation, the status machine, expiry (`model`,
//!   `place`, `lifecycle`, `queries`, [`orders::status`]).
//! - [`identity`]: tenants, members, sessions, API keys, the audit log, login throttling.
//! - [`payments`]: payments and refunds through the processor port, their reconciliation and
//!   the processor's webhooks (`model`, `processor`, …).
//! - [`events`]: domain events and their published payloads, for the outbox; the webhook body.
//! - `outbox`: publishing events: the outbox rows and their webhook deliveries, in the
//!   change's transaction.
//! - [`webhooks`]: shops' webhook endpoints, deliveries and attempts; the SSRF rules; the
//!   delivery worker's claim, attempt and retry rules (`model`, `target`, `manage`, `queries`,
//!   `deliver`).
//! - [`feed`]: the outbox read back in order, for live subscriptions.
//! - [`idempotency`]: idempotency keys, request fingerprints, [`idempotency::idempotent`] (the
//!   one way every idempotent mutation runs) and the purge of expired keys.
//! - [`ports`]: the storage and crypto traits, one repository trait per area, and
//!   [`ports::Ports`], the bundle every use-case takes.
//! - [`page`]: Relay-style page requests, sort orders and keyset cursors.
//! - `retry`: running a whole transaction again when the database aborts it for contention
//!   (a deadlock, a serialization failure, a busy lock), for every use-case that writes.
//! - [`text`]: names, labels and notes as clients type them.
//! - [`money`]: ISO 4217 currencies.
//! - [`ids`]: typed UUIDv7 ids.
//! - [`clock`]: time as a port.
//! - [`error`]: [`DomainError`], [`Invalid`], and [`Taken`] for values that must be unique.
//!
//! Within an area, the values (`model`, or `identity` itself) import no use-case; the ports
//! import values; use-cases import ports. So no file imports one that imports it back.

pub mod auth;
pub mod catalog;
pub mod clock;
pub mod error;
pub mod events;
pub mod feed;
pub mod idempotency;
pub mod identity;
pub mod ids;
pub mod inventory;
pub mod money;
pub mod orders;
pub(crate) mod outbox;
pub mod page;
pub mod payments;
pub mod ports;
mod retry;
pub mod text;
pub mod webhooks;

pub use error::{DomainError, Invalid, Taken};
