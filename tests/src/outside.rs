//! A connection to a test's database from outside Keel, on either backend: how a test changes
//! data under a running server (a lock held, a table renamed, a trigger installed) as an
//! operator's mistake, a failing disk or another program would.

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, SqliteConnection};

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

    /// Closes the connection (rolling back anything still open).
    pub async fn close(self) {
        match self {
            Outside::Postgres(conn) => drop(conn.close().await),
            Outside::Sqlite(conn) => drop(conn.close().await),
        }
    }
}
