//! Bulk writing of whole generated shops for `keel seed`: a [`TenantSeed`] (a tenant and
//! everything it owns, as domain values) goes in with multi-row `INSERT`s (up to 1,000 rows
//! each, under both backends' bind-parameter limits), in one transaction per tenant, confined
//! to that tenant exactly as the store confines its own transactions.
//!
//! Every row is built by the same function the repositories insert with, so seeded data is
//! what the use-cases would have written. Nothing here decides what the data is (the command
//! generates it) or checks it: the caller hands over a consistent shop.
//!
//! Only an operator at the command line writes here ([`OperatorConsole`]); no request can.

use domain::DomainError;
use domain::Taken;
use domain::auth::OperatorConsole;
use domain::catalog::{Location, Product};
use domain::identity::{ApiKey, AuditEntry, PasswordHash, SecretHash, Tenant, User};
use domain::inventory::{StockLevel, StockMovement};
use domain::orders::{Order, OrderNumber, Transition};
use domain::payments::Payment;
use sea_orm::{
    DatabaseTransaction, EntityTrait, IntoActiveModel, Iterable, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use uuid::Uuid;

use crate::catalog::{location_row, product_row};
use crate::database::{Backend, Database};
use crate::entity::{
    api_keys, audit_log, locations, order_lines, order_numbers, order_transitions, orders, payments, products,
    stock_levels, stock_movements, tenants, users,
};
use crate::error::{on_unique, storage_error};
use crate::identity::{api_key_row, audit_row, tenant_row, user_row};
use crate::inventory::{level_row, movement_row};
use crate::orders::{line_rows, order_row, transition_row};
use crate::payments::payment_row;
use crate::store::confine;

/// The most bind parameters one SQLite statement takes (`SQLITE_MAX_VARIABLE_NUMBER` since
/// SQLite 3.32).
const SQLITE_MAX_BINDS: usize = 32_766;
/// The most bind parameters one PostgreSQL statement takes (the protocol counts them in 16 bits).
const POSTGRES_MAX_BINDS: usize = 65_535;
/// The most rows one statement inserts, whatever the limits allow: each statement stays a
/// fraction of a second, far inside the statement timeout and the slow-statement log's second
/// on a busy machine, and full batches share one prepared statement per table.
const MAX_ROWS_PER_STATEMENT: usize = 1_000;

/// One shop and everything it owns, ready to be written: the rows of each table as the
/// use-cases would have written them over the shop's life. Ids are expected to be UUIDv7 of
/// the time each thing happened, so lists page in time order.
#[derive(Debug)]
pub struct TenantSeed {
    /// The tenant.
    pub tenant: Tenant,
    /// Its members, each with the hash of the password they sign in with.
    pub members: Vec<(User, PasswordHash)>,
    /// Its API keys, each with the hash of its secret.
    pub api_keys: Vec<(ApiKey, SecretHash)>,
    /// Its audit log.
    pub audit: Vec<AuditEntry>,
    /// Its locations.
    pub locations: Vec<Location>,
    /// Its products.
    pub products: Vec<Product>,
    /// Stock as it is now, one level per product and location.
    pub stock_levels: Vec<StockLevel>,
    /// The ledger that explains every level: per level, the movements sum to it.
    pub movements: Vec<StockMovement>,
    /// Its orders with their lines; numbers are unique and the counter continues after the
    /// highest.
    pub orders: Vec<Order>,
    /// Every order's status history.
    pub transitions: Vec<Transition>,
    /// Payments of orders, without refunds.
    pub payments: Vec<Payment>,
}

/// Writes `seed` in one transaction: everything of the tenant, or nothing.
///
/// # Errors
/// `Invalid` (`TAKEN`) when the tenant's slug is taken; `Unavailable` or `Internal` when
/// the database refuses, with nothing written.
pub async fn write_tenant(
    database: &Database,
    _operator: &OperatorConsole,
    seed: &TenantSeed,
) -> Result<(), DomainError> {
    let backend = database.backend();
    let tenant = seed.tenant.id.uuid();
    let options = TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
    };
    let txn = database.connection().begin_with_options(options).await.map_err(storage_error)?;
    if backend == Backend::Postgres {
        confine(&txn, tenant, true).await?;
    }
    // The registry of tenants is global (no tenant filter), so its one row goes in alone, where
    // a taken slug can be told apart from any other failure.
    tenants::Entity::insert(tenant_row(&seed.tenant).into_active_model())
        .exec_without_returning(&txn)
        .await
        .map_err(|err| on_unique(err, Taken::TenantSlug))?;
    // Parents before children, for the foreign keys. Rows are built before each insert, so no
    // borrowing iterator lives across an await (the future stays `Send` for any caller).
    let rows: Vec<_> = seed.members.iter().map(|(user, hash)| user_row(tenant, user, hash)).collect();
    insert_all::<users::Entity>(&txn, backend, rows).await?;
    let rows: Vec<_> = seed.api_keys.iter().map(|(key, hash)| api_key_row(tenant, key, hash)).collect();
    insert_all::<api_keys::Entity>(&txn, backend, rows).await?;
    let rows: Vec<_> = seed.audit.iter().map(|entry| audit_row(tenant, entry)).collect();
    insert_all::<audit_log::Entity>(&txn, backend, rows).await?;
    let rows: Vec<_> = seed.locations.iter().map(|location| location_row(tenant, location)).collect();
    insert_all::<locations::Entity>(&txn, backend, rows).await?;
    let rows: Vec<_> = seed.products.iter().map(|product| product_row(tenant, product)).collect();
    insert_all::<products::Entity>(&txn, backend, rows).await?;
    let rows: Vec<_> = seed.stock_levels.iter().map(|level| level_row(tenant, level)).collect();
    insert_all::<stock_levels::Entity>(&txn, backend, rows).await?;
    let rows: Vec<_> = seed.movements.iter().map(|movement| movement_row(tenant, movement)).collect();
    insert_all::<stock_movements::Entity>(&txn, backend, rows).await?;
    let rows: Vec<_> = seed.orders.iter().map(|order| order_row(tenant, order)).collect();
    insert_all::<orders::Entity>(&txn, backend, rows).await?;
    let rows: Vec<_> = seed.orders.iter().flat_map(|order| line_rows(tenant, order)).collect();
    insert_all::<order_lines::Entity>(&txn, backend, rows).await?;
    let rows: Vec<_> = seed.transitions.iter().map(|transition| transition_row(tenant, transition)).collect();
    insert_all::<order_transitions::Entity>(&txn, backend, rows).await?;
    let rows: Vec<_> = seed.payments.iter().map(|payment| payment_row(tenant, payment)).collect();
    insert_all::<payments::Entity>(&txn, backend, rows).await?;
    continue_order_numbers(&txn, tenant, seed.orders.iter().map(|order| order.number).max()).await?;
    txn.commit().await.map_err(storage_error)
}

/// Makes the tenant's next placed order take the number after `last` (the highest seeded);
/// with no orders seeded, nothing: the first placement starts the counter itself.
///
/// The one place seeding knows how order numbers are allocated: it mirrors
/// `OrderRepo::next_order_number` in [`crate::orders`] and changes with it.
async fn continue_order_numbers(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    last: Option<OrderNumber>,
) -> Result<(), DomainError> {
    let Some(last) = last else { return Ok(()) };
    let counter = order_numbers::Model { tenant_id: tenant, last_number: last.get() };
    order_numbers::Entity::insert(counter.into_active_model())
        .exec_without_returning(txn)
        .await
        .map_err(storage_error)?;
    Ok(())
}

/// Inserts `rows`, [`MAX_ROWS_PER_STATEMENT`] at a time or fewer when the backend's
/// bind-parameter limit asks for it.
async fn insert_all<E>(txn: &DatabaseTransaction, backend: Backend, rows: Vec<E::Model>) -> Result<(), DomainError>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
{
    let max_binds = match backend {
        Backend::Sqlite => SQLITE_MAX_BINDS,
        Backend::Postgres => POSTGRES_MAX_BINDS,
    };
    let per_statement = (max_binds / E::Column::iter().count()).clamp(1, MAX_ROWS_PER_STATEMENT);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<E::ActiveModel> =
            rows.by_ref().take(per_statement).map(IntoActiveModel::into_active_model).collect();
        E::insert_many(batch).exec_without_returning(txn).await.map_err(storage_error)?;
    }
    Ok(())
}
