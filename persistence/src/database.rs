//! Connecting to SQLite or PostgreSQL, applying migrations and answering "is it ready?".
//!
//! The connection URL is the only thing that chooses the backend. SQLite files are created on
//! first use (with their directory) and run in WAL mode so readers never wait for the writer.

use std::path::Path;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, DbErr};

/// How long a new connection may take before startup or a request gives up on the database.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Rows a SQLite connection's worker thread may run ahead of the task reading them. sqlx's
/// default (50) is smaller than the lines or products behind one page of 50 orders, so the
/// worker stopped and was woken again in the middle of nearly every page.
const SQLITE_ROW_BUFFER: usize = 512;
/// A pooled connection idle at least this long is pinged before it is handed out; busier ones
/// are not. sqlx's default pings on every checkout: on PostgreSQL a round trip per transaction,
/// three of a placement's. A connection that died while busy fails its next statement instead.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(30);
/// Statements slower than this are logged at WARN.
const SLOW_STATEMENT: Duration = Duration::from_secs(1);
/// Connections of the PostgreSQL pool that only takes order numbers. One statement each, held
/// for well under a millisecond, so two keep numbering off the placements' critical path; more
/// would only queue on the shop's counter row inside PostgreSQL.
const NUMBERING_CONNECTIONS: u32 = 2;

/// Which database engine a [`Database`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file: development, tests, single-process deployments.
    Sqlite,
    /// PostgreSQL: the production store.
    Postgres,
}

impl Backend {
    /// The backend a connection URL selects, or `None` for an unsupported scheme.
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    /// A lower-case name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL names no backend Keel supports.
    #[error("unsupported database URL scheme (use sqlite://PATH or postgres://USER@HOST/DB)")]
    UnsupportedScheme,
    /// The SQLite file's directory could not be created.
    #[error("cannot create the directory for the SQLite file: {0}")]
    Directory(#[source] std::io::Error),
    /// The database refused or did not answer; the text is the driver's, without credentials.
    #[error("cannot connect: {0}")]
    Connect(String),
}

/// Whether the database can serve requests right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Reachable and fully migrated.
    Ready,
    /// Reachable, but these migrations have not been applied.
    PendingMigrations(Vec<String>),
    /// Not reachable.
    Unreachable,
}

/// One migration and whether it has been applied to this database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationState {
    /// The migration's module name, e.g. `m20261123_000001_create_tenants`.
    pub name: String,
    /// Whether it has been applied.
    pub applied: bool,
}

/// How long the pool, and each statement, may wait on the database.
#[derive(Clone, Copy, Debug)]
pub struct PoolSettings {
    /// Most connections open at once.
    pub max_connections: u32,
    /// How long taking a connection from a full pool may wait before failing as unavailable.
    pub acquire_timeout: Duration,
    /// How long one statement may run, waiting for locks included, before the database
    /// cancels it: PostgreSQL's `statement_timeout`; on SQLite, the busy timeout, how long a
    /// writer waits for another's write lock.
    pub statement_timeout: Duration,
    /// Prepared statements each connection keeps (sqlx's LRU cache; 0 prepares every
    /// statement anew). On PostgreSQL each cached statement also holds a plan in the backend.
    pub statement_cache: usize,
}

/// The pool as it is now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open, in use or idle.
    pub open: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// Most connections open at once.
    pub max: u32,
}

/// A pool of connections to Keel's database.
#[derive(Clone, Debug)]
pub struct Database {
    conn: DatabaseConnection,
    /// On PostgreSQL, a small pool apart that takes order numbers, each in a transaction of
    /// its own committed without waiting for the disk (see [`Database::numbering`]).
    numbering: Option<DatabaseConnection>,
    backend: Backend,
    max_connections: u32,
}

impl Database {
    /// Opens a pool to `url` with `settings`, creating a SQLite file if needed.
    ///
    /// # Errors
    /// [`ConnectError`] when the scheme is unsupported or the database cannot be reached
    /// within five seconds.
    pub async fn connect(url: &str, settings: PoolSettings) -> Result<Database, ConnectError> {
        let backend = Backend::of_url(url).ok_or(ConnectError::UnsupportedScheme)?;
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(settings.max_connections)
            .connect_timeout(CONNECT_TIMEOUT)
            .acquire_timeout(settings.acquire_timeout)
            .test_before_acquire_if_idle_for(PING_WHEN_IDLE_FOR)
            // Sent as a startup parameter (`options=-c statement_timeout=…`), so every pooled
            // connection has it from its first statement; ignored by SQLite.
            .statement_timeout(settings.statement_timeout)
            // Every statement at DEBUG (target `sqlx::query`, SQL text only, never bound values),
            // off unless a filter asks for it; slow statements at WARN.
            .sqlx_logging(true)
            .sqlx_logging_level(log::LevelFilter::Debug)
            .sqlx_slow_statements_logging_settings(log::LevelFilter::Warn, SLOW_STATEMENT);
        if backend == Backend::Sqlite {
            create_sqlite_directory(url).map_err(ConnectError::Directory)?;
            options.map_sqlx_sqlite_opts(move |opts| {
                opts.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(settings.statement_timeout)
                    .foreign_keys(true)
                    .row_buffer_size(SQLITE_ROW_BUFFER)
                    .statement_cache_capacity(settings.statement_cache)
            });
        } else {
            options.map_sqlx_postgres_opts(move |opts| opts.statement_cache_capacity(settings.statement_cache));
        }
        let numbering = match backend {
            Backend::Postgres => Some(numbering_pool(options.clone()).await),
            Backend::Sqlite => None,
        };
        let conn = match sea_orm::Database::connect(options).await {
            Ok(conn) => conn,
            Err(err) => return Err(ConnectError::Connect(connect_failure_cause(url, backend, err).await)),
        };
        let numbering = match numbering {
            Some(Ok(pool)) => Some(pool),
            Some(Err(err)) => return Err(ConnectError::Connect(connect_failure_cause(url, backend, err).await)),
            None => None,
        };
        Ok(Database { conn, numbering, backend, max_connections: settings.max_connections })
    }

    /// How many connections are open and idle now.
    pub fn pool_stats(&self) -> PoolStats {
        let (open, idle) = match self.backend {
            Backend::Postgres => {
                let pool = self.conn.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            Backend::Sqlite => {
                let pool = self.conn.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
        };
        PoolStats { open, idle: u32::try_from(idle).unwrap_or(u32::MAX), max: self.max_connections }
    }

    /// The engine behind this pool.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The underlying sea-orm connection, for repositories in this crate.
    pub(crate) fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// On PostgreSQL, the pool that takes order numbers: its connections run nothing but
    /// `keel_next_order_number`, one statement in an implicit transaction of its own, with
    /// `synchronous_commit` off. That is safe because PostgreSQL flushes its log in order: the
    /// placement that uses a number commits after it, synchronously, and its flush carries the
    /// counter's commit too; a crash before that loses only a number no committed order has.
    /// `None` on SQLite, where a placement advances the counter in its own transaction.
    pub(crate) fn numbering(&self) -> Option<&DatabaseConnection> {
        self.numbering.as_ref()
    }

    /// Applies every pending migration, in order.
    ///
    /// # Errors
    /// The database's error when a migration fails; migrations already applied stay applied.
    pub async fn migrate_up(&self) -> Result<(), DbErr> {
        Migrator::up(self.connection(), None).await
    }

    /// Reverts the last `steps` applied migrations.
    ///
    /// # Errors
    /// The database's error when a rollback fails.
    pub async fn migrate_down(&self, steps: u32) -> Result<(), DbErr> {
        Migrator::down(self.connection(), Some(steps)).await
    }

    /// Every known migration, oldest first, with whether it is applied. Never writes.
    ///
    /// # Errors
    /// The database's error when it cannot be read.
    pub async fn migration_status(&self) -> Result<Vec<MigrationState>, DbErr> {
        let migrations = Migrator::get_migration_with_status_read_only(self.connection()).await?;
        Ok(migrations
            .iter()
            .map(|m| MigrationState {
                name: m.name().to_owned(),
                applied: m.status() == migration::MigrationStatus::Applied,
            })
            .collect())
    }

    /// Whether the database answers and every migration is applied. Never writes.
    pub async fn readiness(&self) -> Readiness {
        if self.conn.execute_unprepared("SELECT 1").await.is_err() {
            return Readiness::Unreachable;
        }
        match self.migration_status().await {
            Ok(states) => {
                let pending: Vec<String> = states.into_iter().filter(|m| !m.applied).map(|m| m.name).collect();
                if pending.is_empty() { Readiness::Ready } else { Readiness::PendingMigrations(pending) }
            }
            Err(_) => Readiness::Unreachable,
        }
    }

    /// Whether the connected role escapes row-level security (a PostgreSQL superuser or a role
    /// with `BYPASSRLS`), which would remove the second wall between tenants. Always `false`
    /// on SQLite, which has no row-level security.
    ///
    /// # Errors
    /// The database's error when it cannot be asked.
    pub async fn bypasses_row_security(&self) -> Result<bool, DbErr> {
        if self.backend != Backend::Postgres {
            return Ok(false);
        }
        let query = "SELECT (rolsuper OR rolbypassrls) AS bypasses FROM pg_roles WHERE rolname = current_user";
        let row = self.conn.query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, query)).await?;
        match row {
            Some(row) => row.try_get::<bool>("", "bypasses"),
            None => Ok(false),
        }
    }

    /// Closes every connection in the pool, waiting for those in use to be returned.
    pub async fn close(self) {
        for pool in std::iter::once(self.conn).chain(self.numbering) {
            if let Err(err) = pool.close().await {
                tracing::warn!(error = %err, "closing the database pool failed");
            }
        }
    }
}

/// The order-number pool of a PostgreSQL database opened with `options`: a few connections,
/// opened on first use, whose transactions commit without waiting for the disk (see
/// [`Database::numbering`]).
async fn numbering_pool(mut options: ConnectOptions) -> Result<DatabaseConnection, DbErr> {
    options
        .max_connections(NUMBERING_CONNECTIONS)
        .connect_lazy(true)
        .map_sqlx_postgres_opts(|opts| opts.options([("synchronous_commit", "off")]));
    sea_orm::Database::connect(options).await
}

/// The reason a pool could not connect. The pool only says it timed out, so for PostgreSQL
/// one direct connection is tried to learn why (refused, unknown host, bad password, …).
async fn connect_failure_cause(url: &str, backend: Backend, pool_error: DbErr) -> String {
    use sea_orm::sqlx::Connection;
    let cause = match backend {
        Backend::Postgres => match sea_orm::sqlx::PgConnection::connect(url).await {
            Err(err) => err.to_string(),
            Ok(conn) => {
                drop(conn.close().await);
                pool_error.to_string()
            }
        },
        Backend::Sqlite => pool_error.to_string(),
    };
    cause.replace('\n', " ")
}

/// Creates the directory of a `sqlite://dir/file.db` URL so a fresh checkout can start.
fn create_sqlite_directory(url: &str) -> std::io::Result<()> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    match Path::new(path).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_scheme_chooses_the_backend() {
        assert_eq!(Backend::of_url("sqlite://keel.db?mode=rwc"), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("sqlite:keel.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("postgres://keel@localhost/keel"), Some(Backend::Postgres));
        assert_eq!(Backend::of_url("postgresql://keel@localhost/keel"), Some(Backend::Postgres));
        assert_eq!(Backend::of_url("mysql://root@localhost/keel"), None);
    }
}
