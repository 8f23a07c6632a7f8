//! The database behind a test server ([`TestDatabase`]).
//!
//! SQLite (a file in a temporary directory) unless [`POSTGRES_URL_VAR`] names a PostgreSQL
//! server the harness may administer.

use crate::postgres;

/// The environment variable that switches the suite to PostgreSQL.
pub const POSTGRES_URL_VAR: &str = "KEEL_TEST_POSTGRES_URL";

/// A database a test server runs on; dropped with the test.
pub enum TestDatabase {
    /// A SQLite file in a temporary directory.
    Sqlite(tempfile::TempDir),
    /// A PostgreSQL database and its owner role, dropped on drop.
    Postgres(postgres::Throwaway),
    /// Handed on to another [`crate::TestApp`]; owns nothing.
    Detached,
    /// Another [`crate::TestApp`]'s database, by URL; owned (and dropped) by that app.
    Shared(String),
}

impl TestDatabase {
    /// A fresh database of the configured backend.
    pub async fn create() -> TestDatabase {
        match std::env::var(POSTGRES_URL_VAR) {
            Ok(admin_url) if !admin_url.is_empty() => {
                TestDatabase::Postgres(postgres::Throwaway::create(&admin_url).await)
            }
            _ => TestDatabase::Sqlite(tempfile::tempdir().expect("temporary directory")),
        }
    }

    /// The URL the server connects with.
    pub fn url(&self) -> String {
        match self {
            TestDatabase::Sqlite(dir) => format!("sqlite://{}/keel.db", dir.path().display()),
            TestDatabase::Postgres(db) => db.url(),
            TestDatabase::Detached => String::from("sqlite://detached.db"),
            TestDatabase::Shared(url) => url.clone(),
        }
    }

    /// Whether this is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        match self {
            TestDatabase::Postgres(_) => true,
            TestDatabase::Shared(url) => url.starts_with("postgres"),
            TestDatabase::Sqlite(_) | TestDatabase::Detached => false,
        }
    }
}
