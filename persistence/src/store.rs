//! [`SeaStore`]: the domain's [`Store`] on sea-orm, and [`SeaTx`], one tenant-confined
//! transaction.
//!
//! `begin` is the only place a transaction starts and, on PostgreSQL, the only place the
//! row-level-security tenant is set (`set_config('keel.tenant_id', …, true)`, local to the
//! transaction). On SQLite, write transactions are `BEGIN IMMEDIATE`, so writers take the lock up
//! front instead of failing when a read turns into a write, and a process's writers queue for it
//! in arrival order.

use std::sync::Arc;

use domain::DomainError;
use domain::auth::TenantScope;
use domain::identity::{Slug, Tenant, TenantStatus};
use domain::ids::{SessionId, TenantId, UserId};
use domain::page::{Direction, Page, PageRequest, SortValue};
use domain::ports::{SessionHolder, Store, Tx};
use migration::rls::TENANT_SETTING;
use sea_orm::sea_query::{Expr, ExprTrait, IntoColumnRef, SimpleExpr};
use sea_orm::{
    AccessMode, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, Order, QueryFilter,
    QueryOrder, QuerySelect, Select, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait, Value,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::database::{Backend, Database};
use crate::entity::tenants;
use crate::error::storage_error;
use crate::identity::{session_holder_from, session_holder_query};

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
            access_mode: (!write && !postgres).then_some(AccessMode::ReadOnly),
            sqlite_transaction_mode: Some(if write {
                SqliteTransactionMode::Immediate
            } else {
                SqliteTransactionMode::Deferred
            }),
        };
        let txn = conn.begin_with_options(options).await.map_err(storage_error)?;
        if postgres {
            let read_only = if write { "" } else { ", set_config('transaction_read_only', 'on', true)" };
            let set = Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!("SELECT set_config('{TENANT_SETTING}', $1, true){read_only}"),
                [scope.tenant().uuid().to_string().into()],
            );
            txn.execute_raw(set).await.map_err(storage_error)?;
        }
        Ok(SeaTx { txn, tenant: scope.tenant().uuid(), _turn: turn })
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

/// The columns a list is ordered by: an optional sort column, then the id, which breaks ties;
/// both ascending, or both descending.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Keyset<C> {
    /// The sort column; `None` for lists ordered by id alone.
    pub sort: Option<C>,
    /// The id column.
    pub id: C,
    /// Whether the list runs from the highest `(sort, id)` down.
    pub descending: bool,
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
    keyset_page_by(txn, select, Keyset { sort: None, id, descending: newest_first }, request).await
}

/// A position in a keyset: the sort column with the item's value in it (none for lists ordered
/// by id alone), and the item's id.
type Position<C> = (Option<(C, Value)>, Uuid);

/// Rows past `position` upwards (or downwards), excluding it (or, `inclusive`, including it).
fn past<C: IntoColumnRef + Copy>(id: C, (sort, cursor): &Position<C>, upwards: bool, inclusive: bool) -> SimpleExpr {
    let id_past = match (upwards, inclusive) {
        (true, false) => Expr::col(id).gt(*cursor),
        (true, true) => Expr::col(id).gte(*cursor),
        (false, false) => Expr::col(id).lt(*cursor),
        (false, true) => Expr::col(id).lte(*cursor),
    };
    let Some((sort, value)) = sort else { return id_past };
    let key = || Expr::col(*sort);
    let (seek, strictly) = if upwards {
        (key().gte(value.clone()), key().gt(value.clone()))
    } else {
        (key().lte(value.clone()), key().lt(value.clone()))
    };
    seek.and(strictly.or(key().eq(value.clone()).and(id_past)))
}

/// A cursor's sort value as a database value.
fn sql_value(value: &SortValue) -> Value {
    match value {
        SortValue::Text(text) => text.clone().into(),
        SortValue::Integer(n) => (*n).into(),
        SortValue::Time(time) => (*time).into(),
    }
}

/// Reads one page of `select` in the order of `keyset`, starting strictly beyond the request's
/// cursor, and finds whether rows exist on either side.
///
/// A position is `(sort value, id)`, compared lexicographically. "Beyond `(v, i)`" is written
/// `key >= v AND (key > v OR (key = v AND id > i))`: the same meaning on SQLite and PostgreSQL,
/// and the redundant `key >= v` gives an index on `(tenant_id, key, id)` a range to seek to, so
/// a deep page does not scan the rows before it.
pub(crate) async fn keyset_page_by<E>(
    txn: &DatabaseTransaction,
    select: Select<E>,
    keyset: Keyset<E::Column>,
    request: &PageRequest,
) -> Result<Page<E::Model>, DomainError>
where
    E: EntityTrait,
    E::Column: IntoColumnRef + Copy,
{
    let forward = request.direction == Direction::Forward;
    // Reading "forward" in a descending list means walking positions downwards, and vice versa.
    let ascending = forward != keyset.descending;
    let id = keyset.id;
    let position: Option<Position<E::Column>> = match (&request.cursor, keyset.sort) {
        (None, _) => None,
        (Some(cursor), None) => Some((None, cursor.id)),
        (Some(cursor), Some(sort)) => {
            let value = cursor
                .value
                .as_ref()
                .ok_or_else(|| DomainError::internal("a cursor without a sort value reached a sorted list"))?;
            Some((Some((sort, sql_value(value))), cursor.id))
        }
    };
    let mut query = select.clone();
    if let Some(position) = &position {
        query = query.filter(past(id, position, ascending, false));
    }
    let order = if ascending { Order::Asc } else { Order::Desc };
    if let Some(sort) = keyset.sort {
        query = query.order_by(sort, order.clone());
    }
    query = query.order_by(id, order);
    let limit = u64::try_from(request.limit).unwrap_or(u64::MAX);
    let mut rows = query.limit(limit.saturating_add(1)).all(txn).await.map_err(storage_error)?;
    let more = rows.len() > request.limit;
    rows.truncate(request.limit);
    let before_cursor = match &position {
        Some(position) => select
            .filter(past(id, position, !ascending, true))
            .limit(1)
            .one(txn)
            .await
            .map_err(storage_error)?
            .is_some(),
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
