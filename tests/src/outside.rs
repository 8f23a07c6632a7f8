//! A connection to a test's database from outside Keel, on either backend: how a test changes
//! data under a running server (a lock held, a table renamed, a trigger installed) as an
//! operator's mistake, a failing disk or another program would.

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, Row, SqliteConnection};
use uuid::Uuid;

use crate::TestDatabase;

/// One connection to a [`TestDatabase`], opened beside the server's pool.
pub enum Outside {
    /// A PostgreSQL connection, as the app's own role.
    Postgres(PgConnection),
    /// A connection to the SQLite file.
    Sqlite(SqliteConnection),
}

impl Outside {
    /// Connects to `database`.
    ///
    /// # Panics
    /// When the database cannot be reached.
    pub async fn connect(database: &TestDatabase) -> Outside {
        let url = database.url();
        if url.starts_with("postgres") {
            Outside::Postgres(PgConnection::connect(&url).await.expect("connect to PostgreSQL"))
        } else {
            Outside::Sqlite(SqliteConnection::connect(&url).await.expect("open the SQLite file"))
        }
    }

    /// Whether this is PostgreSQL, for statements whose SQL differs between the backends.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Outside::Postgres(_))
    }

    /// Runs one statement (or several, `;`-separated, without parameters).
    ///
    /// # Panics
    /// When it fails, naming the statement.
    pub async fn execute(&mut self, statement: &str) {
        let sql = AssertSqlSafe(statement.to_owned());
        let result = match self {
            Outside::Postgres(conn) => conn.execute(sql).await.map(drop),
            Outside::Sqlite(conn) => conn.execute(sql).await.map(drop),
        };
        result.unwrap_or_else(|err| panic!("{statement}: {err}"));
    }

    /// Every outbox row (table `events`) of `tenant`, in id order. On PostgreSQL the tenant is
    /// set for the read, as the row-level-security policy asks.
    ///
    /// # Panics
    /// When the read fails or a payload is not JSON.
    pub async fn events(&mut self, tenant: Uuid) -> Vec<OutboxRow> {
        match self {
            Outside::Postgres(conn) => {
                let mut tx = conn.begin().await.expect("begin");
                sqlx::query("SELECT set_config('keel.tenant_id', $1, true)")
                    .bind(tenant.to_string())
                    .execute(&mut *tx)
                    .await
                    .expect("set the tenant");
                let rows = sqlx::query(
                    "SELECT id, tenant_id, kind, subject_id, payload, created_at::text AS created_at FROM events
                     WHERE tenant_id = $1 ORDER BY id",
                )
                .bind(tenant)
                .fetch_all(&mut *tx)
                .await
                .expect("read the outbox");
                tx.commit().await.expect("commit");
                rows.iter().map(OutboxRow::from_pg).collect()
            }
            Outside::Sqlite(conn) => {
                let rows = sqlx::query(
                    "SELECT id, tenant_id, kind, subject_id, payload, created_at FROM events
                     WHERE tenant_id = ? ORDER BY id",
                )
                .bind(tenant)
                .fetch_all(&mut *conn)
                .await
                .expect("read the outbox");
                rows.iter().map(OutboxRow::from_sqlite).collect()
            }
        }
    }

    /// Closes the connection (rolling back anything still open).
    pub async fn close(self) {
        match self {
            Outside::Postgres(conn) => drop(conn.close().await),
            Outside::Sqlite(conn) => drop(conn.close().await),
        }
    }
}

/// One row of the outbox as stored.
#[derive(Clone, Debug)]
pub struct OutboxRow {
    /// Its id.
    pub id: Uuid,
    /// Its tenant.
    pub tenant: Uuid,
    /// Its type, such as `order.placed`.
    pub kind: String,
    /// What it is about.
    pub subject: Uuid,
    /// The payload, parsed.
    pub payload: serde_json::Value,
    /// When, as the database renders it.
    pub created_at: String,
}

impl OutboxRow {
    fn from_pg(row: &sqlx::postgres::PgRow) -> OutboxRow {
        OutboxRow::of(
            row.get("id"),
            row.get("tenant_id"),
            row.get("kind"),
            row.get("subject_id"),
            row.get("payload"),
            row.get("created_at"),
        )
    }

    fn from_sqlite(row: &sqlx::sqlite::SqliteRow) -> OutboxRow {
        OutboxRow::of(
            row.get("id"),
            row.get("tenant_id"),
            row.get("kind"),
            row.get("subject_id"),
            row.get("payload"),
            row.get("created_at"),
        )
    }

    fn of(id: Uuid, tenant: Uuid, kind: String, subject: Uuid, payload: String, created_at: String) -> OutboxRow {
        let payload = serde_json::from_str(&payload).unwrap_or_else(|err| panic!("{kind} payload {payload}: {err}"));
        OutboxRow { id, tenant, kind, subject, payload, created_at }
    }
}
