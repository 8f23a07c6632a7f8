//! A per-product low-stock threshold: `products.low_stock_threshold`, nullable (no alerts),
//! never negative. A `stock.low` event is written when a change takes a level's available units
//! from at or above it to below it. Existing products get none.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Products::Table)
                    .add_column(
                        ColumnDef::new(Products::LowStockThreshold)
                            .big_integer()
                            .null()
                            .check(Expr::col(Products::LowStockThreshold).gte(0)),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Products::Table).drop_column(Products::LowStockThreshold).to_owned())
            .await
    }
}

#[derive(Clone, Copy, DeriveIden)]
enum Products {
    Table,
    LowStockThreshold,
}
