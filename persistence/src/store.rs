//! [`SeaStore`]: the domain's [`Store`] on sea-orm, and [`SeaTx`], one tenant-confined
//! transaction.
//!
//! `begin` is the only place a transaction starts and, on PostgreSQL, the only place the
//! row-level-security tenant is set (`set_config('keel.tenant_id', …, true)`, local to the
//! transaction). On SQLite, write transactions are `BEGIN IMMEDIATE`, so writers queue for the
//! lock up front instead of failing when a read turns into a write.

use domain::DomainError;
use domain::auth::TenantScope;
use domain::identity::{Slug, Tenant, TenantStatus};
use domain::ids::TenantId;
use domain::page::{Direction, Page, PageRequest};
use domain::ports::{Store, Tx};
use migration::rls::TENANT_SETTING;
use sea_orm::sea_query::{Expr, ExprTrait, IntoColumnRef, SimpleExpr};
use sea_orm::{
    AccessMode, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use uuid::Uuid;

use crate::database::Database;
use crate::entity::tenants;
use crate::error::storage_error;

/// The domain's storage, on one connection pool.
#[derive(Clone, Debug)]
pub struct SeaStore {
    database: Database,
}

impl SeaStore {
    /// Storage over `database`.
    pub fn new(database: Database) -> Self {
        SeaStore { database }
    }

    async fn open(&self, scope: &TenantScope, write: bool) -> Result<SeaTx, DomainError> {
        let conn = self.database.connection();
        let options = TransactionOptions {
            isolation_level: None,
            access_mode: (!write).then_some(AccessMode::ReadOnly),
            sqlite_transaction_mode: Some(if write {
                SqliteTransactionMode::Immediate
            } else {
                SqliteTransactionMode::Deferred
            }),
        };
        let txn = conn.begin_with_options(options).await.map_err(storage_error)?;
        if txn.get_database_backend() == DbBackend::Postgres {
            let set = Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!("SELECT set_config('{TENANT_SETTING}', $1, true)"),
                [scope.tenant().uuid().to_string().into()],
            );
            txn.execute_raw(set).await.map_err(storage_error)?;
        }
        Ok(SeaTx { txn, tenant: scope.tenant().uuid() })
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

    async fn tenant_by_slug(&self, slug: &Slug) -> Result<Option<Tenant>, DomainError> {
        let found = tenants::Entity::find()
            .filter(tenants::Column::Slug.eq(slug.as_str()))
            .one(self.database.connection())
            .await
            .map_err(storage_error)?;
        found.map(crate::identity::tenant_from).transpose()
    }

    async fn active_tenants(&self) -> Result<Vec<TenantId>, DomainError> {
        let ids: Vec<Uuid> = tenants::Entity::find()
            .select_only()
            .column(tenants::Column::Id)
            .filter(tenants::Column::Status.eq(TenantStatus::Active.as_str()))
            .into_tuple()
            .all(self.database.connection())
            .await
            .map_err(storage_error)?;
        Ok(ids.into_iter().map(TenantId::from_uuid).collect())
    }

    async fn set_tenant_status(&self, slug: &Slug, status: TenantStatus) -> Result<bool, DomainError> {
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
    pub(crate) txn: DatabaseTransaction,
    tenant: Uuid,
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

/// Reads one page of `select` by keyset on `id`, in ascending or (`newest_first`) descending
/// id order, and finds whether rows exist on either side.
pub(crate) async fn keyset_page<E>(
    txn: &DatabaseTransaction,
    select: Select<E>,
    id: E::Column,
    request: &PageRequest,
    newest_first: bool,
) -> Result<Page<E::Model>, DomainError>
where
    E: EntityTrait,
    E::Column: IntoColumnRef + Copy,
{
    let forward = request.direction == Direction::Forward;
    // Reading "forward" in a descending list means walking ids downwards, and vice versa.
    let ascending = forward != newest_first;
    let beyond =
        |cursor: Uuid| -> SimpleExpr { if ascending { Expr::col(id).gt(cursor) } else { Expr::col(id).lt(cursor) } };
    let behind =
        |cursor: Uuid| -> SimpleExpr { if ascending { Expr::col(id).lte(cursor) } else { Expr::col(id).gte(cursor) } };
    let mut query = select.clone();
    if let Some(cursor) = request.cursor {
        query = query.filter(beyond(cursor));
    }
    query = if ascending { query.order_by_asc(id) } else { query.order_by_desc(id) };
    let limit = u64::try_from(request.limit).unwrap_or(u64::MAX);
    let mut rows = query.limit(limit.saturating_add(1)).all(txn).await.map_err(storage_error)?;
    let more = rows.len() > request.limit;
    rows.truncate(request.limit);
    let before_cursor = match request.cursor {
        Some(cursor) => select.filter(behind(cursor)).limit(1).one(txn).await.map_err(storage_error)?.is_some(),
        None => false,
    };
    if !forward {
        rows.reverse();
    }
    Ok(if forward {
        Page { items: rows, has_next: more, has_previous: before_cursor }
    } else {
        Page { items: rows, has_next: before_cursor, has_previous: more }
    })
}
