//! Identity: members, sessions with their refresh tokens, API keys and the audit log.
//!
//! Every table is tenant-owned: its primary key is `(tenant_id, id)`, its foreign keys include
//! `tenant_id` (a row can never point into another tenant), every index leads with
//! `tenant_id`, and on PostgreSQL a forced row-level-security policy confines every statement
//! to the tenant set by the transaction (`keel.tenant_id`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    string_len, string_len_null, text, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
    uuid_null,
};
use sea_orm_migration::sea_orm::DbBackend;

use crate::rls;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 5] = ["users", "sessions", "refresh_tokens", "api_keys", "audit_log"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(uuid(Users::TenantId))
                    .col(uuid(Users::Id))
                    .col(string_len(Users::Email, 254))
                    .col(text(Users::PasswordHash))
                    .col(string_len(Users::Role, 16))
                    .col(string_len(Users::Status, 16))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .primary_key(Index::create().col(Users::TenantId).col(Users::Id))
                    .foreign_key(
                        ForeignKey::create().from(Users::Table, Users::TenantId).to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("users_tenant_email_key")
                    .table(Users::Table)
                    .col(Users::TenantId)
                    .col(Users::Email)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(uuid(Sessions::TenantId))
                    .col(uuid(Sessions::Id))
                    .col(uuid(Sessions::UserId))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Sessions::RevokedAt))
                    .primary_key(Index::create().col(Sessions::TenantId).col(Sessions::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, (Sessions::TenantId, Sessions::UserId))
                            .to(Users::Table, (Users::TenantId, Users::Id)),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sessions_tenant_user_idx")
                    .table(Sessions::Table)
                    .col(Sessions::TenantId)
                    .col(Sessions::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(uuid(RefreshTokens::TenantId))
                    .col(uuid(RefreshTokens::Id))
                    .col(uuid(RefreshTokens::SessionId))
                    .col(string_len(RefreshTokens::TokenHash, 64))
                    .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::UsedAt))
                    .primary_key(Index::create().col(RefreshTokens::TenantId).col(RefreshTokens::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RefreshTokens::Table, (RefreshTokens::TenantId, RefreshTokens::SessionId))
                            .to(Sessions::Table, (Sessions::TenantId, Sessions::Id)),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("refresh_tokens_tenant_hash_key")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::TenantId)
                    .col(RefreshTokens::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(uuid(ApiKeys::TenantId))
                    .col(uuid(ApiKeys::Id))
                    .col(string_len(ApiKeys::Name, 100))
                    .col(string_len(ApiKeys::Hint, 8))
                    .col(string_len(ApiKeys::SecretHash, 64))
                    .col(text(ApiKeys::Permissions))
                    .col(string_len(ApiKeys::CreatedByKind, 16))
                    .col(uuid_null(ApiKeys::CreatedById))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .primary_key(Index::create().col(ApiKeys::TenantId).col(ApiKeys::Id))
                    .foreign_key(
                        ForeignKey::create().from(ApiKeys::Table, ApiKeys::TenantId).to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(uuid(AuditLog::TenantId))
                    .col(uuid(AuditLog::Id))
                    .col(string_len(AuditLog::ActorKind, 16))
                    .col(uuid_null(AuditLog::ActorId))
                    .col(string_len(AuditLog::Action, 32))
                    .col(text_null(AuditLog::Subject))
                    .col(string_len_null(AuditLog::ClientAddress, 64))
                    .col(timestamp_with_time_zone(AuditLog::CreatedAt))
                    .primary_key(Index::create().col(AuditLog::TenantId).col(AuditLog::Id))
                    .foreign_key(
                        ForeignKey::create().from(AuditLog::Table, AuditLog::TenantId).to(Tenants::Table, Tenants::Id),
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
    Email,
    PasswordHash,
    Role,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    TenantId,
    Id,
    UserId,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    TenantId,
    Id,
    SessionId,
    TokenHash,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    TenantId,
    Id,
    Name,
    Hint,
    SecretHash,
    Permissions,
    CreatedByKind,
    CreatedById,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    TenantId,
    Id,
    ActorKind,
    ActorId,
    Action,
    Subject,
    ClientAddress,
    CreatedAt,
}
