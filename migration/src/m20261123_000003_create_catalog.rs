//! The catalog: products and locations, tenant-owned like every table (keys and indexes lead
//! with `tenant_id`; forced row-level security on PostgreSQL).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, boolean, integer, string_len, text, timestamp_with_time_zone, uuid};
use sea_orm_migration::sea_orm::DbBackend;

use crate::rls;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 2] = ["products", "locations"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Products::Table)
                    .col(uuid(Products::TenantId))
                    .col(uuid(Products::Id))
                    .col(string_len(Products::Sku, 64))
                    .col(string_len(Products::Name, 200))
                    .col(text(Products::Description))
                    .col(big_integer(Products::PriceMinor))
                    .col(string_len(Products::CurrencyCode, 3))
                    .col(boolean(Products::Active))
                    .col(integer(Products::Version))
                    .col(timestamp_with_time_zone(Products::CreatedAt))
                    .col(timestamp_with_time_zone(Products::UpdatedAt))
                    .primary_key(Index::create().col(Products::TenantId).col(Products::Id))
                    .foreign_key(
                        ForeignKey::create().from(Products::Table, Products::TenantId).to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("products_tenant_sku_key")
                    .table(Products::Table)
                    .col(Products::TenantId)
                    .col(Products::Sku)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("products_tenant_active_idx")
                    .table(Products::Table)
                    .col(Products::TenantId)
                    .col(Products::Active)
                    .col(Products::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Locations::Table)
                    .col(uuid(Locations::TenantId))
                    .col(uuid(Locations::Id))
                    .col(string_len(Locations::Code, 64))
                    .col(string_len(Locations::Name, 200))
                    .col(timestamp_with_time_zone(Locations::CreatedAt))
                    .col(timestamp_with_time_zone(Locations::UpdatedAt))
                    .primary_key(Index::create().col(Locations::TenantId).col(Locations::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Locations::Table, Locations::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("locations_tenant_code_key")
                    .table(Locations::Table)
                    .col(Locations::TenantId)
                    .col(Locations::Code)
                    .unique()
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
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    TenantId,
    Id,
    Sku,
    Name,
    Description,
    PriceMinor,
    CurrencyCode,
    Active,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Locations {
    Table,
    TenantId,
    Id,
    Code,
    Name,
    CreatedAt,
    UpdatedAt,
}
