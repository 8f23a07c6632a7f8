//! Product sort orders: a stored sort name, byte-order text on PostgreSQL, and one index per
//! sort key, so every order pages by keyset from an index instead of scanning the tenant.
//!
//! - `sort_name` is the name lower-cased (Unicode), what `NAME` sorts by. Existing rows are
//!   filled in here with Rust's `str::to_lowercase`, the rule `domain::catalog::name_sort_key`
//!   had when this migration was written (a later change of that rule needs its own backfill).
//!   SQL's `lower()` would not do: SQLite's lowers ASCII only, PostgreSQL's follows the locale.
//! - On PostgreSQL, `sort_name` and `sku` compare in the `"C"` collation (code point order), as
//!   SQLite's default `BINARY` does, so both backends sort the same rows the same way whatever
//!   locale the database was created with.
//! - Indexes `(tenant_id, key, id)` for `created_at`, `updated_at`, `sort_name` and
//!   `price_minor`; `sku` is unique per tenant, so `products_tenant_sku_key` already serves it.
//!
//! On PostgreSQL the backfill runs inside the migration's transaction, with the forced
//! row-level-security policy lifted for the table's owner until the rows are filled in.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The indexes this migration adds: (name, sort column).
const INDEXES: [(&str, Products); 4] = [
    ("products_tenant_created_at_idx", Products::CreatedAt),
    ("products_tenant_updated_at_idx", Products::UpdatedAt),
    ("products_tenant_sort_name_idx", Products::SortName),
    ("products_tenant_price_idx", Products::PriceMinor),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        // All or nothing, and on PostgreSQL the policy is lifted only inside this transaction.
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        if postgres {
            db.execute_unprepared(r#"ALTER TABLE products ADD COLUMN sort_name text COLLATE "C" NOT NULL DEFAULT ''"#)
                .await?;
            db.execute_unprepared(r#"ALTER TABLE products ALTER COLUMN sku TYPE varchar(64) COLLATE "C""#).await?;
        } else {
            manager
                .alter_table(
                    Table::alter()
                        .table(Products::Table)
                        .add_column(ColumnDef::new(Products::SortName).text().not_null().default(""))
                        .to_owned(),
                )
                .await?;
        }
        backfill_sort_names(db, postgres).await?;
        if postgres {
            // Every writer sets it from now on; without a default, one that forgets fails loudly.
            db.execute_unprepared("ALTER TABLE products ALTER COLUMN sort_name DROP DEFAULT").await?;
        }
        for (name, column) in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Products::Table)
                        .col(Products::TenantId)
                        .col(column)
                        .col(Products::Id)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES.iter().rev() {
            manager.drop_index(Index::drop().name(*name).table(Products::Table).to_owned()).await?;
        }
        manager.alter_table(Table::alter().table(Products::Table).drop_column(Products::SortName).to_owned()).await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(r#"ALTER TABLE products ALTER COLUMN sku TYPE varchar(64) COLLATE "default""#)
                .await?;
        }
        Ok(())
    }
}

/// Sets `sort_name` of every existing product, one distinct name at a time.
async fn backfill_sort_names(db: &SchemaManagerConnection<'_>, postgres: bool) -> Result<(), DbErr> {
    let backend = if postgres { DbBackend::Postgres } else { DbBackend::Sqlite };
    if postgres {
        // The owner is subject to the forced policy, which hides every row while no tenant is
        // set; this transaction holds the table's lock until FORCE is back, so no one else
        // ever sees it unforced.
        db.execute_unprepared("ALTER TABLE products NO FORCE ROW LEVEL SECURITY").await?;
    }
    let names = db.query_all_raw(Statement::from_string(backend, "SELECT DISTINCT name FROM products")).await?;
    let update = if postgres {
        "UPDATE products SET sort_name = $1 WHERE name = $2"
    } else {
        "UPDATE products SET sort_name = ? WHERE name = ?"
    };
    for row in names {
        let name: String = row.try_get_by(0usize)?;
        let values = [name.to_lowercase().into(), name.into()];
        db.execute_raw(Statement::from_sql_and_values(backend, update, values)).await?;
    }
    if postgres {
        db.execute_unprepared("ALTER TABLE products FORCE ROW LEVEL SECURITY").await?;
    }
    Ok(())
}

#[derive(Clone, Copy, DeriveIden)]
enum Products {
    Table,
    TenantId,
    Id,
    SortName,
    PriceMinor,
    CreatedAt,
    UpdatedAt,
}
