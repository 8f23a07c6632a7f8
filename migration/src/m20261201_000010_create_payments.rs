//! Payments: an order's payments, their refunds, and each shop's processor settings. Tenant-owned
//! like every table (keys, foreign keys and indexes lead with `tenant_id`; forced row-level
//! security on PostgreSQL).
//!
//! Two partial unique indexes are storage's guarantees, not just speed: an order has at most one
//! payment that is `PENDING` or `SUCCEEDED` (so two concurrent `payOrder`s cannot both charge),
//! and a processor's reference names at most one payment (per processor) and one refund, so a
//! webhook finds exactly one row. SQLite and PostgreSQL both take `CREATE UNIQUE INDEX … WHERE`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, string_len, string_len_null, text_null, timestamp_with_time_zone, uuid, uuid_null,
};
use sea_orm_migration::sea_orm::DbBackend;

use crate::rls;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 3] = ["payments", "refunds", "payment_settings"];

/// The payment statuses that hold an order: at most one such payment per order.
const LIVE_STATUSES: [&str; 2] = ["PENDING", "SUCCEEDED"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Payments::Table)
                    .col(uuid(Payments::TenantId))
                    .col(uuid(Payments::Id))
                    .col(uuid(Payments::OrderId))
                    .col(uuid_null(Payments::CustomerId))
                    .col(big_integer(Payments::AmountMinor))
                    .col(string_len(Payments::CurrencyCode, 3))
                    .col(string_len(Payments::Processor, 16))
                    .col(string_len(Payments::Method, 255))
                    .col(string_len(Payments::Status, 16))
                    .col(string_len_null(Payments::Reference, 255))
                    .col(string_len(Payments::ProcessorKey, 255))
                    .col(string_len_null(Payments::FailureCode, 255))
                    .col(text_null(Payments::FailureMessage))
                    .col(string_len(Payments::CreatedByKind, 16))
                    .col(uuid_null(Payments::CreatedById))
                    .col(timestamp_with_time_zone(Payments::CreatedAt))
                    .col(timestamp_with_time_zone(Payments::UpdatedAt))
                    .primary_key(Index::create().col(Payments::TenantId).col(Payments::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Payments::Table, (Payments::TenantId, Payments::OrderId))
                            .to(Orders::Table, (Orders::TenantId, Orders::Id)),
                    )
                    .to_owned(),
            )
            .await?;
        let indexes = [
            // At most one live payment per order, whatever races to insert one.
            Index::create()
                .name("payments_tenant_order_live_key")
                .table(Payments::Table)
                .col(Payments::TenantId)
                .col(Payments::OrderId)
                .unique()
                .and_where(Expr::col(Payments::Status).is_in(LIVE_STATUSES))
                .to_owned(),
            Index::create()
                .name("payments_tenant_processor_reference_key")
                .table(Payments::Table)
                .col(Payments::TenantId)
                .col(Payments::Processor)
                .col(Payments::Reference)
                .unique()
                .and_where(Expr::col(Payments::Reference).is_not_null())
                .to_owned(),
            // The reconciliation job's scan: pending payments of a tenant, oldest first.
            Index::create()
                .name("payments_tenant_status_created_idx")
                .table(Payments::Table)
                .col(Payments::TenantId)
                .col(Payments::Status)
                .col(Payments::CreatedAt)
                .to_owned(),
            Index::create()
                .name("payments_tenant_order_idx")
                .table(Payments::Table)
                .col(Payments::TenantId)
                .col(Payments::OrderId)
                .col(Payments::Id)
                .to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Refunds::Table)
                    .col(uuid(Refunds::TenantId))
                    .col(uuid(Refunds::Id))
                    .col(uuid(Refunds::PaymentId))
                    .col(big_integer(Refunds::AmountMinor))
                    .col(string_len(Refunds::CurrencyCode, 3))
                    .col(text_null(Refunds::Reason))
                    .col(string_len(Refunds::Status, 16))
                    .col(string_len_null(Refunds::Reference, 255))
                    .col(string_len(Refunds::ProcessorKey, 255))
                    .col(string_len_null(Refunds::FailureCode, 255))
                    .col(text_null(Refunds::FailureMessage))
                    .col(boolean(Refunds::CancelsOrder))
                    .col(string_len(Refunds::CreatedByKind, 16))
                    .col(uuid_null(Refunds::CreatedById))
                    .col(timestamp_with_time_zone(Refunds::CreatedAt))
                    .col(timestamp_with_time_zone(Refunds::UpdatedAt))
                    .primary_key(Index::create().col(Refunds::TenantId).col(Refunds::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Refunds::Table, (Refunds::TenantId, Refunds::PaymentId))
                            .to(Payments::Table, (Payments::TenantId, Payments::Id)),
                    )
                    .to_owned(),
            )
            .await?;
        let indexes = [
            Index::create()
                .name("refunds_tenant_reference_key")
                .table(Refunds::Table)
                .col(Refunds::TenantId)
                .col(Refunds::Reference)
                .unique()
                .and_where(Expr::col(Refunds::Reference).is_not_null())
                .to_owned(),
            Index::create()
                .name("refunds_tenant_payment_idx")
                .table(Refunds::Table)
                .col(Refunds::TenantId)
                .col(Refunds::PaymentId)
                .col(Refunds::Id)
                .to_owned(),
            // The reconciliation job's scan: pending refunds of a tenant, oldest first.
            Index::create()
                .name("refunds_tenant_status_created_idx")
                .table(Refunds::Table)
                .col(Refunds::TenantId)
                .col(Refunds::Status)
                .col(Refunds::CreatedAt)
                .to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(PaymentSettings::Table)
                    .col(uuid(PaymentSettings::TenantId).primary_key())
                    .col(text_null(PaymentSettings::WebhookSecret))
                    .col(timestamp_with_time_zone(PaymentSettings::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PaymentSettings::Table, PaymentSettings::TenantId)
                            .to(Tenants::Table, Tenants::Id),
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
enum Orders {
    Table,
    TenantId,
    Id,
}

#[derive(DeriveIden)]
enum Payments {
    Table,
    TenantId,
    Id,
    OrderId,
    CustomerId,
    AmountMinor,
    CurrencyCode,
    Processor,
    Method,
    Status,
    Reference,
    ProcessorKey,
    FailureCode,
    FailureMessage,
    CreatedByKind,
    CreatedById,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Refunds {
    Table,
    TenantId,
    Id,
    PaymentId,
    AmountMinor,
    CurrencyCode,
    Reason,
    Status,
    Reference,
    ProcessorKey,
    FailureCode,
    FailureMessage,
    CancelsOrder,
    CreatedByKind,
    CreatedById,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PaymentSettings {
    Table,
    TenantId,
    WebhookSecret,
    UpdatedAt,
}
