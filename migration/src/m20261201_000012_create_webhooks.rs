//! Webhooks: each shop's endpoints, the delivery of each event to each endpoint listening to it,
//! and every attempt at a delivery. Tenant-owned like every table (keys and indexes lead with
//! `tenant_id`; forced row-level security on PostgreSQL).
//!
//! The delivery queue is read across tenants by the workers of every process: the one
//! statement that claims due deliveries runs in a transaction that sets `keel.worker` (see
//! [`rls::enable_for_worker`]); every other statement on the table is confined to the
//! transaction's tenant as usual. The partial index on due `PENDING` deliveries keeps the
//! claim's scan to the deliveries that wait.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, integer, integer_null, string_len, text, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid, uuid_null,
};
use sea_orm_migration::sea_orm::DbBackend;

use crate::rls;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 3] = ["webhook_endpoints", "webhook_deliveries", "webhook_attempts"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .col(uuid(WebhookEndpoints::TenantId))
                    .col(uuid(WebhookEndpoints::Id))
                    .col(text(WebhookEndpoints::Url))
                    // The event types, comma-separated, in the domain's order.
                    .col(text(WebhookEndpoints::EventTypes))
                    .col(text(WebhookEndpoints::Description))
                    .col(string_len(WebhookEndpoints::Status, 16))
                    .col(text(WebhookEndpoints::Secret))
                    .col(text_null(WebhookEndpoints::PreviousSecret))
                    .col(timestamp_with_time_zone_null(WebhookEndpoints::PreviousSecretExpiresAt))
                    .col(timestamp_with_time_zone(WebhookEndpoints::CreatedAt))
                    .col(timestamp_with_time_zone(WebhookEndpoints::UpdatedAt))
                    .primary_key(Index::create().col(WebhookEndpoints::TenantId).col(WebhookEndpoints::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookEndpoints::Table, WebhookEndpoints::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(uuid(WebhookDeliveries::TenantId))
                    .col(uuid(WebhookDeliveries::Id))
                    .col(uuid(WebhookDeliveries::EndpointId))
                    .col(uuid(WebhookDeliveries::EventId))
                    .col(string_len(WebhookDeliveries::EventType, 64))
                    .col(string_len(WebhookDeliveries::Status, 16))
                    .col(integer(WebhookDeliveries::Attempts))
                    .col(timestamp_with_time_zone_null(WebhookDeliveries::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(WebhookDeliveries::LockedUntil))
                    .col(uuid_null(WebhookDeliveries::LeaseId))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .col(timestamp_with_time_zone(WebhookDeliveries::UpdatedAt))
                    .primary_key(Index::create().col(WebhookDeliveries::TenantId).col(WebhookDeliveries::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                WebhookDeliveries::Table,
                                (WebhookDeliveries::TenantId, WebhookDeliveries::EndpointId),
                            )
                            .to(WebhookEndpoints::Table, (WebhookEndpoints::TenantId, WebhookEndpoints::Id)),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookAttempts::Table)
                    .col(uuid(WebhookAttempts::TenantId))
                    .col(uuid(WebhookAttempts::DeliveryId))
                    .col(integer(WebhookAttempts::Number))
                    .col(timestamp_with_time_zone(WebhookAttempts::AttemptedAt))
                    .col(integer_null(WebhookAttempts::HttpStatus))
                    .col(big_integer(WebhookAttempts::DurationMs))
                    .col(text_null(WebhookAttempts::Error))
                    .primary_key(
                        Index::create()
                            .col(WebhookAttempts::TenantId)
                            .col(WebhookAttempts::DeliveryId)
                            .col(WebhookAttempts::Number),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookAttempts::Table, (WebhookAttempts::TenantId, WebhookAttempts::DeliveryId))
                            .to(WebhookDeliveries::Table, (WebhookDeliveries::TenantId, WebhookDeliveries::Id)),
                    )
                    .to_owned(),
            )
            .await?;
        let indexes = [
            // Who hears of a new event: a shop's enabled endpoints.
            Index::create()
                .name("webhook_endpoints_tenant_status_idx")
                .table(WebhookEndpoints::Table)
                .col(WebhookEndpoints::TenantId)
                .col(WebhookEndpoints::Status)
                .to_owned(),
            // An endpoint's delivery log, newest first (ids are time-ordered).
            Index::create()
                .name("webhook_deliveries_tenant_endpoint_idx")
                .table(WebhookDeliveries::Table)
                .col(WebhookDeliveries::TenantId)
                .col(WebhookDeliveries::EndpointId)
                .col(WebhookDeliveries::Id)
                .to_owned(),
            // The workers' queue: waiting deliveries by when they are due, across tenants.
            Index::create()
                .name("webhook_deliveries_pending_due_idx")
                .table(WebhookDeliveries::Table)
                .col(WebhookDeliveries::NextAttemptAt)
                .and_where(Expr::col(WebhookDeliveries::Status).eq("PENDING"))
                .to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            rls::enable(manager, "webhook_endpoints").await?;
            rls::enable_for_worker(manager, "webhook_deliveries").await?;
            rls::enable(manager, "webhook_attempts").await?;
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
enum WebhookEndpoints {
    Table,
    TenantId,
    Id,
    Url,
    EventTypes,
    Description,
    Status,
    Secret,
    PreviousSecret,
    PreviousSecretExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    TenantId,
    Id,
    EndpointId,
    EventId,
    EventType,
    Status,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    LeaseId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookAttempts {
    Table,
    TenantId,
    DeliveryId,
    Number,
    AttemptedAt,
    HttpStatus,
    DurationMs,
    Error,
}
