//! Order numbers taken in a transaction of their own on PostgreSQL.
//!
//! A placement used to advance its shop's counter row (`order_numbers`) inside its own
//! transaction, so the row stayed locked through the placement's commit, fsync included: every
//! placement of a shop queued for the one before it to reach the disk. The function
//! `keel_next_order_number` advances the counter in the one implicit transaction of a single
//! statement, which the storage layer runs on connections of their own that commit without
//! waiting for the flush; the lock is held for that statement only. It sets the
//! row-level-security tenant for its own statement, like `keel_session_holder`, and runs with
//! the caller's rights under the same forced policy. SQLite needs no function: its writers take
//! turns anyway, and a placement advances the counter in its own transaction there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::rls::TENANT_SETTING;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let function = format!(
            r#"CREATE FUNCTION keel_next_order_number(p_tenant uuid)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
DECLARE
    taken bigint;
BEGIN
    PERFORM set_config('{TENANT_SETTING}', p_tenant::text, true);
    INSERT INTO order_numbers AS counter (tenant_id, last_number) VALUES (p_tenant, 1001)
        ON CONFLICT (tenant_id) DO UPDATE SET last_number = counter.last_number + 1
        RETURNING counter.last_number INTO taken;
    RETURN taken;
END
$$"#
        );
        manager.get_connection().execute_unprepared(&function).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared("DROP FUNCTION keel_next_order_number(uuid)").await?;
        Ok(())
    }
}
