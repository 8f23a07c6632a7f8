//! Row-level security for tenant tables on PostgreSQL: the second wall behind the scope filter
//! every query already carries.
//!
//! The policy compares `tenant_id` with the transaction-local setting `keel.tenant_id`, which
//! the storage layer sets at the start of every transaction. Unset (or reset to `''` after a
//! transaction), the setting matches no row, so a forgotten scope reads nothing and writes
//! nothing. `FORCE` applies the policy to the table's owner too; only superusers and roles with
//! `BYPASSRLS` escape it, so the server must not connect as one.

use sea_orm_migration::prelude::*;

/// The setting the storage layer sets per transaction with `set_config(…, true)`.
pub const TENANT_SETTING: &str = "keel.tenant_id";

/// The setting the webhook workers' claim sets per transaction: with it `on`, the policy of
/// [`enable_for_worker`] lets the claim see and update every tenant's due deliveries.
pub const WORKER_SETTING: &str = "keel.worker";

/// Enables and forces row-level security on `table` with the tenant policy.
pub async fn enable(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    let tenant = format!("NULLIF(current_setting('{TENANT_SETTING}', true), '')::uuid");
    apply(manager, table, &format!("tenant_id = {tenant}")).await
}

/// Enables and forces row-level security on `table` with the tenant policy, plus one door: a
/// transaction that set [`WORKER_SETTING`] to `on` (only the webhook workers' claim does, for
/// itself) reaches every tenant's rows. The setting is as trusted as the tenant setting: both
/// are set only by the storage layer, local to one transaction.
pub async fn enable_for_worker(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    let tenant = format!("NULLIF(current_setting('{TENANT_SETTING}', true), '')::uuid");
    let worker = format!("current_setting('{WORKER_SETTING}', true) = 'on'");
    apply(manager, table, &format!("(tenant_id = {tenant} OR {worker})")).await
}

async fn apply(manager: &SchemaManager<'_>, table: &str, rule: &str) -> Result<(), DbErr> {
    let statements = [
        format!("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"),
        format!("ALTER TABLE {table} FORCE ROW LEVEL SECURITY"),
        format!("CREATE POLICY tenant_isolation ON {table} USING ({rule}) WITH CHECK ({rule})"),
    ];
    for statement in statements {
        manager.get_connection().execute_unprepared(&statement).await?;
    }
    Ok(())
}
