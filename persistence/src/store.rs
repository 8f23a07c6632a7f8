//! [`SeaStore`]: the domain's [`Store`] on sea-orm, and [`SeaTx`], one tenant-confined
//! transaction.
//!
//! `begin` is the only place a request's transaction starts (`keel seed` starts its own, one per
//! shop) and, on PostgreSQL, [`confine`] is the only place the row-level-security tenant is set
//! (`set_config('keel.tenant_id', …, true)`, local to the transaction). On SQLite, write transactions are `BEGIN IMMEDIATE`, so writers take the lock up
//! front instead of failing when a read turns into a write, and a process's writers queue for it
//! in arrival order.

use std::sync::Arc;

use domain::DomainError;
use domain::auth::{OperatorConsole, TenantScope};
use domain::identity::{Slug, Tenant, TenantStatus};
use domain::ids::{SessionId, TenantId, UserId};
use domain::ports::{SessionHolder, Store, Tx};
use migration::rls::{TENANT_SETTING, WORKER_SETTING};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QuerySelect, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::codec::{session_holder_from, session_holder_query, tenant_from};
use crate::database::{Backend, Database};
use crate::entity::tenants;
use crate::error::storage_error;
use crate::metrics::acquiring;
use crate::txn::Txn;

/// The domain's storage, on one connection pool.
#[derive(Clone, Debug)]
pub struct SeaStore {
    database: Database,
    /// On SQLite, the queue of this process's write transactions (one at a time, first come
    /// first served). SQLite admits one writer anyway; without the queue, waiting writers poll
    /// the file lock with growing sleeps, which lets unlucky requests wait seconds.
    writers: Option<Arc<Semaphore>>,
}

impl SeaStore {
    /// Storage over `database`.
    pub fn new(database: Database) -> Self {
        let writers = (database.backend() == Backend::Sqlite).then(|| Arc::new(Semaphore::new(1)));
        SeaStore { database, writers }
    }

    async fn open(&self, scope: &TenantScope, write: bool) -> Result<SeaTx, DomainError> {
        let turn = match (&self.writers, write) {
            (Some(writers), true) => Some(
                writers.clone().acquire_owned().await.map_err(|_| DomainError::internal("the writer queue closed"))?,
            ),
            _ => None,
        };
        let conn = self.database.connection();
        let postgres = self.database.backend() == Backend::Postgres;
        let options = TransactionOptions {
            isolation_level: None,
            // On PostgreSQL a read transaction turns read-only in the statement that sets its
            // tenant, one round trip instead of sea-orm's separate `SET TRANSACTION READ ONLY`.
            // sea-orm cannot make a SQLite transaction read-only (it only logs a warning per
            // transaction saying so); a deferred transaction that only reads takes no write lock.
            access_mode: None,
            sqlite_transaction_mode: Some(if write {
                SqliteTransactionMode::Immediate
            } else {
                SqliteTransactionMode::Deferred
            }),
        };
        let txn = acquiring(conn.begin_with_options(options)).await.map_err(storage_error)?;
        if postgres {
            confine(&txn, scope.tenant().uuid(), write).await?;
        }
        let numbering = if write { self.database.numbering().cloned() } else { None };
        Ok(SeaTx { txn: Txn::new(txn), tenant: scope.tenant().uuid(), numbering, _turn: turn })
    }
}

/// Confines an open PostgreSQL transaction to `tenant` for row-level security (and makes it
/// read-only unless `write`), in one statement: the only way a tenant's transaction is set up.
pub(crate) async fn confine(txn: &DatabaseTransaction, tenant: Uuid, write: bool) -> Result<(), DomainError> {
    let read_only = if write { "" } else { ", set_config('transaction_read_only', 'on', true)" };
    let set = Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!("SELECT set_config('{TENANT_SETTING}', $1, true){read_only}"),
        [tenant.to_string().into()],
    );
    txn.execute_raw(set).await.map_err(storage_error)?;
    Ok(())
}

impl SeaStore {
    /// Opens the write transaction of a webhook workers' claim, with no tenant set: the caller
    /// opens the deliveries table's worker door itself, on PostgreSQL, for this transaction only.
    /// On SQLite it takes its turn in the write queue, which the returned permit holds until it
    /// is dropped after the transaction.
    pub(crate) async fn begin_worker(
        &self,
    ) -> Result<(DatabaseTransaction, Backend, Option<OwnedSemaphorePermit>), DomainError> {
        let turn = match &self.writers {
            Some(writers) => Some(
                writers.clone().acquire_owned().await.map_err(|_| DomainError::internal("the writer queue closed"))?,
            ),
            None => None,
        };
        let options = TransactionOptions {
            isolation_level: None,
            access_mode: None,
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        };
        let txn = acquiring(self.database.connection().begin_with_options(options)).await.map_err(storage_error)?;
        Ok((txn, self.database.backend(), turn))
    }
}

impl SeaStore {
    /// Opens a read-only transaction that sees every tenant's rows of the tables with the
    /// workers' door (`keel.worker`, see `migration::rls`), for operators' figures. On SQLite,
    /// which has no row-level security, it is a deferred transaction that takes no write lock.
    pub(crate) async fn begin_worker_read(&self) -> Result<DatabaseTransaction, DomainError> {
        let options = TransactionOptions {
            isolation_level: None,
            access_mode: None,
            sqlite_transaction_mode: Some(SqliteTransactionMode::Deferred),
        };
        let txn = acquiring(self.database.connection().begin_with_options(options)).await.map_err(storage_error)?;
        if self.database.backend() == Backend::Postgres {
            let set = Statement::from_string(
                DbBackend::Postgres,
                format!(
                    "SELECT set_config('{WORKER_SETTING}', 'on', true), set_config('transaction_read_only', 'on', true)"
                ),
            );
            txn.execute_raw(set).await.map_err(storage_error)?;
        }
        Ok(txn)
    }
}

impl Store for SeaStore {
    type Tx = SeaTx;

    async fn begin(&self, scope: &TenantScope) -> Result<SeaTx, DomainError> {
        self.open(scope, true).await
    }

    async fn begin_read(&self, scope: &TenantScope) -> Result<SeaTx, DomainError> {
        self.open(scope, false).await
    }

    async fn session_holder(
        &self,
        scope: &TenantScope,
        user: UserId,
        session: SessionId,
    ) -> Result<Option<SessionHolder>, DomainError> {
        let conn = self.database.connection();
        let tenant = scope.tenant().uuid();
        let row = match self.database.backend() {
            // One statement that sets the row-level-security tenant for itself alone (see the
            // migration that creates the function).
            Backend::Postgres => {
                let call = Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT role, user_status, tenant_status, revoked_at, expires_at \
                     FROM keel_session_holder($1, $2, $3)",
                    [tenant.into(), user.uuid().into(), session.uuid().into()],
                );
                conn.query_one_raw(call).await
            }
            // A single `SELECT` reads one consistent snapshot without `BEGIN … COMMIT`.
            Backend::Sqlite => conn.query_one(&session_holder_query(tenant, user, session)).await,
        }
        .map_err(storage_error)?;
        row.as_ref().map(session_holder_from).transpose()
    }

    async fn tenant_by_slug(&self, slug: &Slug) -> Result<Option<Tenant>, DomainError> {
        let found = tenants::Entity::find()
            .filter(tenants::Column::Slug.eq(slug.as_str()))
            .one(self.database.connection())
            .await
            .map_err(storage_error)?;
        found.map(tenant_from).transpose()
    }

    async fn all_tenants(&self) -> Result<Vec<TenantId>, DomainError> {
        let ids: Vec<Uuid> = tenants::Entity::find()
            .select_only()
            .column(tenants::Column::Id)
            .into_tuple()
            .all(self.database.connection())
            .await
            .map_err(storage_error)?;
        Ok(ids.into_iter().map(TenantId::from_uuid).collect())
    }

    async fn set_tenant_status(
        &self,
        _operator: &OperatorConsole,
        slug: &Slug,
        status: TenantStatus,
    ) -> Result<bool, DomainError> {
        let updated = tenants::Entity::update_many()
            .col_expr(tenants::Column::Status, Expr::value(status.as_str()))
            .filter(tenants::Column::Slug.eq(slug.as_str()))
            .exec(self.database.connection())
            .await
            .map_err(storage_error)?;
        Ok(updated.rows_affected > 0)
    }
}

/// One transaction, confined to the tenant it was opened for.
pub struct SeaTx {
    pub(crate) txn: Txn,
    tenant: Uuid,
    /// On PostgreSQL, for a write transaction, the pool that takes order numbers outside it.
    pub(crate) numbering: Option<DatabaseConnection>,
    /// This transaction's place in the SQLite writer queue, given up after the transaction
    /// ends (fields drop in order: the transaction first).
    _turn: Option<OwnedSemaphorePermit>,
}

impl SeaTx {
    /// The tenant to filter by, after checking the scope is the one the transaction (and, on
    /// PostgreSQL, its row-level security) was opened for.
    pub(crate) fn tenant_of(&self, scope: &TenantScope) -> Result<Uuid, DomainError> {
        if scope.tenant().uuid() == self.tenant {
            Ok(self.tenant)
        } else {
            Err(DomainError::internal("a repository was called with another tenant's scope than its transaction"))
        }
    }
}

impl Tx for SeaTx {
    async fn commit(self) -> Result<(), DomainError> {
        self.txn.commit().await.map_err(storage_error)
    }
}
