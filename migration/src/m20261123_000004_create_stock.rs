//! Stock levels and the movement ledger. A CHECK constraint is the last wall behind the
//! conditional updates: no level can be stored negative or with more reserved than on hand.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string_len, text_null, timestamp_with_time_zone, uuid, uuid_null};
use sea_orm_migration::sea_orm::DbBackend;

use crate::rls;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 2] = ["stock_levels", "stock_movements"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StockLevels::Table)
                    .col(uuid(StockLevels::TenantId))
                    .col(uuid(StockLevels::ProductId))
                    .col(uuid(StockLevels::LocationId))
                    .col(big_integer(StockLevels::OnHand))
                    .col(big_integer(StockLevels::Reserved))
                    .col(timestamp_with_time_zone(StockLevels::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(StockLevels::TenantId)
                            .col(StockLevels::ProductId)
                            .col(StockLevels::LocationId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(StockLevels::Table, (StockLevels::TenantId, StockLevels::ProductId))
                            .to(Products::Table, (Products::TenantId, Products::Id)),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(StockLevels::Table, (StockLevels::TenantId, StockLevels::LocationId))
                            .to(Locations::Table, (Locations::TenantId, Locations::Id)),
                    )
                    .check(
                        Expr::col(StockLevels::OnHand)
                            .gte(0)
                            .and(Expr::col(StockLevels::Reserved).gte(0))
                            .and(Expr::col(StockLevels::Reserved).lte(Expr::col(StockLevels::OnHand))),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StockMovements::Table)
                    .col(uuid(StockMovements::TenantId))
                    .col(uuid(StockMovements::Id))
                    .col(uuid(StockMovements::ProductId))
                    .col(uuid(StockMovements::LocationId))
                    .col(big_integer(StockMovements::DeltaOnHand))
                    .col(big_integer(StockMovements::DeltaReserved))
                    .col(string_len(StockMovements::Reason, 16))
                    .col(text_null(StockMovements::Reference))
                    .col(text_null(StockMovements::Note))
                    .col(string_len(StockMovements::ActorKind, 16))
                    .col(uuid_null(StockMovements::ActorId))
                    .col(timestamp_with_time_zone(StockMovements::CreatedAt))
                    .primary_key(Index::create().col(StockMovements::TenantId).col(StockMovements::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                StockMovements::Table,
                                (StockMovements::TenantId, StockMovements::ProductId, StockMovements::LocationId),
                            )
                            .to(
                                StockLevels::Table,
                                (StockLevels::TenantId, StockLevels::ProductId, StockLevels::LocationId),
                            ),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("stock_movements_level_idx")
                    .table(StockMovements::Table)
                    .col(StockMovements::TenantId)
                    .col(StockMovements::ProductId)
                    .col(StockMovements::LocationId)
                    .col(StockMovements::Id)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            for table in TABLES {
                rls::enable(manager, table).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES.iter().rev() {
            manager.drop_table(Table::drop().table(Alias::new(*table)).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Products {
    Table,
    TenantId,
    Id,
}

#[derive(DeriveIden)]
enum Locations {
    Table,
    TenantId,
    Id,
}

#[derive(DeriveIden)]
enum StockLevels {
    Table,
    TenantId,
    ProductId,
    LocationId,
    OnHand,
    Reserved,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StockMovements {
    Table,
    TenantId,
    Id,
    ProductId,
    LocationId,
    DeltaOnHand,
    DeltaReserved,
    Reason,
    Reference,
    Note,
    ActorKind,
    ActorId,
    CreatedAt,
}
