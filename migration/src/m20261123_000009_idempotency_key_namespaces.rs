//! Idempotency keys get a namespace of their own, and a claim may be recorded before its result.
//!
//! A customer's keys were kept apart by an operation name `placeOrder:<customer id>`, 47
//! characters in a 32-character column: PostgreSQL refused every customer's key (SQLite ignores
//! the length). Operations are now a fixed list of short names, and whose key it is goes into
//! `namespace`: the customer's user id for a customer's own key, the tenant's id for the shop's
//! members and API keys. `result` is empty while the request that claimed the key runs, so
//! the claim can be the first write of its transaction and a concurrent duplicate waits for it.
//! The index on `(tenant_id, created_at)` serves the job that purges expired keys.
//!
//! The primary key changes, which SQLite cannot alter: the table is rebuilt on both backends
//! and its rows are kept, customers' old operation names split into operation and namespace
//! (only SQLite can hold any: PostgreSQL refused them).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{string_len, text, text_null, timestamp_with_time_zone, uuid};
use sea_orm_migration::sea_orm::DbBackend;

use crate::rls;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The operation name a customer's key was stored under before: `placeOrder:` and their id.
const OLD_CUSTOMER_PREFIX: &str = "placeOrder:";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let conn = manager.get_connection();
        set_aside(manager, "idempotency_keys_v1").await?;
        create(manager, true).await?;
        let start = OLD_CUSTOMER_PREFIX.len() + 1;
        let customer = match backend {
            DbBackend::Postgres => format!("CAST(substr(operation, {start}) AS uuid)"),
            // sea-orm stores UUIDs in SQLite as their 16 bytes.
            _ => format!("unhex(replace(substr(operation, {start}), '-', ''))"),
        };
        conn.execute_unprepared(&format!(
            "INSERT INTO idempotency_keys (tenant_id, namespace, operation, key, request_hash, result, created_at) \
             SELECT tenant_id, \
                    CASE WHEN operation LIKE '{OLD_CUSTOMER_PREFIX}%' THEN {customer} ELSE tenant_id END, \
                    CASE WHEN operation LIKE '{OLD_CUSTOMER_PREFIX}%' THEN 'placeOrder' ELSE operation END, \
                    key, request_hash, result, created_at \
             FROM idempotency_keys_v1"
        ))
        .await?;
        conn.execute_unprepared("DROP TABLE idempotency_keys_v1").await?;
        protect(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        set_aside(manager, "idempotency_keys_v2").await?;
        create(manager, false).await?;
        let customer = match manager.get_database_backend() {
            DbBackend::Postgres => "CAST(namespace AS text)",
            _ => {
                "lower(substr(hex(namespace), 1, 8) || '-' || substr(hex(namespace), 9, 4) || '-' || \
                 substr(hex(namespace), 13, 4) || '-' || substr(hex(namespace), 17, 4) || '-' || substr(hex(namespace), 21))"
            }
        };
        // Only finished requests go back: the old table has no room for a claim in progress.
        conn.execute_unprepared(&format!(
            "INSERT INTO idempotency_keys (tenant_id, operation, key, request_hash, result, created_at) \
             SELECT tenant_id, \
                    CASE WHEN namespace = tenant_id THEN operation ELSE operation || ':' || {customer} END, \
                    key, request_hash, result, created_at \
             FROM idempotency_keys_v2 WHERE result IS NOT NULL"
        ))
        .await?;
        conn.execute_unprepared("DROP TABLE idempotency_keys_v2").await?;
        protect(manager).await
    }
}

/// Renames the table to `name` for its rows to be copied out. On PostgreSQL the owner is
/// subject to the forced policy, which hides every row while no tenant is set, so the policy
/// stops applying to the owner; the migration's transaction holds the table's lock until it is
/// dropped, so no one else ever sees it unforced.
async fn set_aside(manager: &SchemaManager<'_>, name: &str) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    conn.execute_unprepared(&format!("ALTER TABLE idempotency_keys RENAME TO {name}")).await?;
    if manager.get_database_backend() == DbBackend::Postgres {
        conn.execute_unprepared(&format!("ALTER TABLE {name} NO FORCE ROW LEVEL SECURITY")).await?;
    }
    Ok(())
}

/// Gives the new table its row-level-security policy on PostgreSQL, once the rows are in.
async fn protect(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    if manager.get_database_backend() == DbBackend::Postgres {
        rls::enable(manager, "idempotency_keys").await?;
    }
    Ok(())
}

/// Creates `idempotency_keys` as this migration leaves it (`namespaced`) or as it found it,
/// still without its row-level-security policy. Constraints are named apart from those of the
/// renamed table still beside it.
async fn create(manager: &SchemaManager<'_>, namespaced: bool) -> Result<(), DbErr> {
    let suffix = if namespaced { "v2" } else { "v1" };
    let mut table = Table::create();
    table.table(IdempotencyKeys::Table).col(uuid(IdempotencyKeys::TenantId));
    let mut primary = Index::create();
    primary.name(format!("idempotency_keys_{suffix}_pkey")).col(IdempotencyKeys::TenantId);
    if namespaced {
        table.col(uuid(IdempotencyKeys::Namespace));
        primary.col(IdempotencyKeys::Namespace);
    }
    primary.col(IdempotencyKeys::Operation).col(IdempotencyKeys::Key);
    table
        .col(string_len(IdempotencyKeys::Operation, 32))
        .col(string_len(IdempotencyKeys::Key, 255))
        .col(string_len(IdempotencyKeys::RequestHash, 64))
        .col(if namespaced { text_null(IdempotencyKeys::Result) } else { text(IdempotencyKeys::Result) })
        .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
        .primary_key(&mut primary)
        .foreign_key(
            ForeignKey::create()
                .name(format!("idempotency_keys_{suffix}_tenant_fkey"))
                .from(IdempotencyKeys::Table, IdempotencyKeys::TenantId)
                .to(Tenants::Table, Tenants::Id),
        );
    manager.create_table(table.to_owned()).await?;
    if namespaced {
        manager
            .create_index(
                Index::create()
                    .name("idempotency_keys_tenant_created_idx")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::TenantId)
                    .col(IdempotencyKeys::CreatedAt)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    TenantId,
    Namespace,
    Operation,
    Key,
    RequestHash,
    Result,
    CreatedAt,
}
