//! Orders: the per-tenant number counter, orders with their priced lines, the status history,
//! and the outbox of domain events. Tenant-owned like every table (keys, foreign keys and
//! indexes lead with `tenant_id`; forced row-level security on PostgreSQL).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, integer, string_len, string_len_null, text, text_null, timestamp_with_time_zone, uuid, uuid_null,
};
use sea_orm_migration::sea_orm::DbBackend;

use crate::rls;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 5] = ["order_numbers", "orders", "order_lines", "order_transitions", "events"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OrderNumbers::Table)
                    .col(uuid(OrderNumbers::TenantId).primary_key())
                    .col(big_integer(OrderNumbers::LastNumber))
                    .foreign_key(
                        ForeignKey::create()
                            .from(OrderNumbers::Table, OrderNumbers::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(uuid(Orders::TenantId))
                    .col(uuid(Orders::Id))
                    .col(big_integer(Orders::Number))
                    .col(string_len(Orders::Status, 24))
                    .col(string_len(Orders::CustomerEmail, 254))
                    .col(uuid_null(Orders::CustomerId))
                    .col(text_null(Orders::Note))
                    .col(uuid(Orders::LocationId))
                    .col(string_len(Orders::CurrencyCode, 3))
                    .col(big_integer(Orders::SubtotalMinor))
                    .col(big_integer(Orders::TotalMinor))
                    .col(string_len(Orders::PlacedByKind, 16))
                    .col(uuid_null(Orders::PlacedById))
                    .col(integer(Orders::Version))
                    .col(timestamp_with_time_zone(Orders::CreatedAt))
                    .col(timestamp_with_time_zone(Orders::UpdatedAt))
                    .primary_key(Index::create().col(Orders::TenantId).col(Orders::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Orders::Table, (Orders::TenantId, Orders::CustomerId))
                            .to(Users::Table, (Users::TenantId, Users::Id)),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Orders::Table, (Orders::TenantId, Orders::LocationId))
                            .to(Locations::Table, (Locations::TenantId, Locations::Id)),
                    )
                    .to_owned(),
            )
            .await?;
        let indexes = [
            Index::create()
                .name("orders_tenant_number_key")
                .table(Orders::Table)
                .col(Orders::TenantId)
                .col(Orders::Number)
                .unique()
                .to_owned(),
            // The expiry job's scan: unpaid orders of a tenant, oldest first.
            Index::create()
                .name("orders_tenant_status_created_idx")
                .table(Orders::Table)
                .col(Orders::TenantId)
                .col(Orders::Status)
                .col(Orders::CreatedAt)
                .to_owned(),
            Index::create()
                .name("orders_tenant_customer_idx")
                .table(Orders::Table)
                .col(Orders::TenantId)
                .col(Orders::CustomerId)
                .col(Orders::Id)
                .to_owned(),
            Index::create()
                .name("orders_tenant_email_idx")
                .table(Orders::Table)
                .col(Orders::TenantId)
                .col(Orders::CustomerEmail)
                .col(Orders::Id)
                .to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(OrderLines::Table)
                    .col(uuid(OrderLines::TenantId))
                    .col(uuid(OrderLines::OrderId))
                    .col(integer(OrderLines::Position))
                    .col(uuid(OrderLines::ProductId))
                    .col(string_len(OrderLines::Sku, 64))
                    .col(string_len(OrderLines::Name, 200))
                    .col(big_integer(OrderLines::UnitPriceMinor))
                    .col(big_integer(OrderLines::Quantity))
                    .col(big_integer(OrderLines::TotalMinor))
                    .primary_key(
                        Index::create().col(OrderLines::TenantId).col(OrderLines::OrderId).col(OrderLines::Position),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OrderLines::Table, (OrderLines::TenantId, OrderLines::OrderId))
                            .to(Orders::Table, (Orders::TenantId, Orders::Id)),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OrderLines::Table, (OrderLines::TenantId, OrderLines::ProductId))
                            .to(Products::Table, (Products::TenantId, Products::Id)),
                    )
                    .check(Expr::col(OrderLines::Quantity).gt(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OrderTransitions::Table)
                    .col(uuid(OrderTransitions::TenantId))
                    .col(uuid(OrderTransitions::Id))
                    .col(uuid(OrderTransitions::OrderId))
                    .col(string_len_null(OrderTransitions::FromStatus, 24))
                    .col(string_len(OrderTransitions::ToStatus, 24))
                    .col(text_null(OrderTransitions::Reason))
                    .col(string_len(OrderTransitions::ActorKind, 16))
                    .col(uuid_null(OrderTransitions::ActorId))
                    .col(timestamp_with_time_zone(OrderTransitions::CreatedAt))
                    .primary_key(Index::create().col(OrderTransitions::TenantId).col(OrderTransitions::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(OrderTransitions::Table, (OrderTransitions::TenantId, OrderTransitions::OrderId))
                            .to(Orders::Table, (Orders::TenantId, Orders::Id)),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("order_transitions_order_idx")
                    .table(OrderTransitions::Table)
                    .col(OrderTransitions::TenantId)
                    .col(OrderTransitions::OrderId)
                    .col(OrderTransitions::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(uuid(Events::TenantId))
                    .col(uuid(Events::Id))
                    .col(string_len(Events::Kind, 64))
                    .col(uuid(Events::SubjectId))
                    .col(text(Events::Payload))
                    .col(timestamp_with_time_zone(Events::CreatedAt))
                    .primary_key(Index::create().col(Events::TenantId).col(Events::Id))
                    .foreign_key(
                        ForeignKey::create().from(Events::Table, Events::TenantId).to(Tenants::Table, Tenants::Id),
                    )
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
enum Users {
    Table,
    TenantId,
    Id,
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
enum OrderNumbers {
    Table,
    TenantId,
    LastNumber,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    TenantId,
    Id,
    Number,
    Status,
    CustomerEmail,
    CustomerId,
    Note,
    LocationId,
    CurrencyCode,
    SubtotalMinor,
    TotalMinor,
    PlacedByKind,
    PlacedById,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OrderLines {
    Table,
    TenantId,
    OrderId,
    Position,
    ProductId,
    Sku,
    Name,
    UnitPriceMinor,
    Quantity,
    TotalMinor,
}

#[derive(DeriveIden)]
enum OrderTransitions {
    Table,
    TenantId,
    Id,
    OrderId,
    FromStatus,
    ToStatus,
    Reason,
    ActorKind,
    ActorId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    TenantId,
    Id,
    Kind,
    SubjectId,
    Payload,
    CreatedAt,
}
