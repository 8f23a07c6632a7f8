//! Keel's schema, one module per change, applied in order by [`Migrator`] on SQLite and
//! PostgreSQL alike.
//!
//! A migration that has landed on main is never edited: a change is a new module with `up` and
//! `down`. Tenant-owned tables lead every key and index with `tenant_id` and, on PostgreSQL,
//! ship their row-level-security policy in the same migration.
//!
//! # Layout
//!
//! - [`Migrator`]: the ordered list every `keel migrate` command and the server's start use.
//! - [`rls`]: the PostgreSQL row-level-security policy every tenant table gets.
//! - `mYYYYMMDD_NNNNNN_*`: one schema change each.

pub use sea_orm_migration::MigrationStatus;
pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_tenants;
mod m20261123_000002_create_identity;
mod m20261123_000003_create_catalog;
mod m20261123_000004_create_stock;
mod m20261123_000005_create_idempotency_keys;
mod m20261123_000006_sort_products;
mod m20261123_000007_create_orders;
mod m20261123_000008_session_check;
mod m20261123_000009_idempotency_key_namespaces;
mod m20261201_000010_create_payments;
mod m20261201_000011_product_low_stock_threshold;
mod m20261201_000012_create_webhooks;
mod m20261201_000013_order_number_function;
pub mod rls;

/// The ordered list of Keel's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_tenants::Migration),
            Box::new(m20261123_000002_create_identity::Migration),
            Box::new(m20261123_000003_create_catalog::Migration),
            Box::new(m20261123_000004_create_stock::Migration),
            Box::new(m20261123_000005_create_idempotency_keys::Migration),
            Box::new(m20261123_000006_sort_products::Migration),
            Box::new(m20261123_000007_create_orders::Migration),
            Box::new(m20261123_000008_session_check::Migration),
            Box::new(m20261123_000009_idempotency_key_namespaces::Migration),
            Box::new(m20261201_000010_create_payments::Migration),
            Box::new(m20261201_000011_product_low_stock_threshold::Migration),
            Box::new(m20261201_000012_create_webhooks::Migration),
            Box::new(m20261201_000013_order_number_function::Migration),
        ]
    }
}
