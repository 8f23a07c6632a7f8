//! The access-token check in one statement on PostgreSQL.
//!
//! Every authenticated request checks that the member, their session and their tenant are still
//! active. As a read transaction that took four round trips (`BEGIN`, `set_config` for the
//! row-level-security tenant, the lookup, `COMMIT`), nearly half of a busy page's. The function
//! `keel_session_holder` sets the tenant and runs the lookup in the one implicit transaction of
//! a single statement: `set_config(…, true)` lasts until that statement ends, the lookup runs
//! under the same forced row-level-security policy as every other read (the function runs with
//! the caller's rights), and nothing is left on the pooled connection. SQLite needs no function:
//! its lookup is a single `SELECT` outside a transaction.

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
            r#"CREATE FUNCTION keel_session_holder(p_tenant uuid, p_user uuid, p_session uuid)
RETURNS TABLE (role text, user_status text, tenant_status text, revoked_at timestamptz, expires_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
#variable_conflict use_column
BEGIN
    PERFORM set_config('{TENANT_SETTING}', p_tenant::text, true);
    RETURN QUERY
        SELECT u.role::text, u.status::text, t.status::text, s.revoked_at::timestamptz, s.expires_at::timestamptz
        FROM users u
        JOIN tenants t ON t.id = u.tenant_id
        JOIN sessions s ON s.tenant_id = u.tenant_id AND s.user_id = u.id
        WHERE u.tenant_id = p_tenant AND u.id = p_user AND s.id = p_session;
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
        manager.get_connection().execute_unprepared("DROP FUNCTION keel_session_holder(uuid, uuid, uuid)").await?;
        Ok(())
    }
}
