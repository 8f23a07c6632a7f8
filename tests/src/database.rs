//! The database behind a test server ([`TestDatabase`]) and the `keel` commands an operator runs
//! on it.
//!
//! SQLite (a file in a temporary directory) unless [`POSTGRES_URL_VAR`] names a PostgreSQL
//! server the harness may administer. Tests of a PostgreSQL-only feature are `#[ignore]`d, so
//! that a SQLite run reports them as not run rather than passed, and ask for
//! [`TestDatabase::create_postgres`], which refuses to stand in SQLite.

use api::config::{Cli, Command};
use clap::Parser;

use crate::{PASSWORD, postgres};

/// The environment variable that switches the suite to PostgreSQL: a superuser URL.
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
        match configured_postgres() {
            Some(admin_url) => TestDatabase::Postgres(postgres::Throwaway::create(&admin_url).await),
            None => TestDatabase::Sqlite(tempfile::tempdir().expect("temporary directory")),
        }
    }

    /// A fresh PostgreSQL database, for a test of a PostgreSQL-only feature.
    ///
    /// # Panics
    /// When [`POSTGRES_URL_VAR`] is not set (see [`postgres_admin_url`]).
    pub async fn create_postgres() -> TestDatabase {
        TestDatabase::Postgres(postgres::Throwaway::create(&postgres_admin_url()).await)
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

    /// Runs `keel --database-url <this database> <args>` as an operator would, where `args` is
    /// any global flags followed by a `migrate` or `tenant` command (`["migrate", "up"]`);
    /// `tenant create` is given [`PASSWORD`] as the owner's password.
    ///
    /// # Panics
    /// When the arguments do not parse, name another command, or the command fails.
    pub async fn keel(&self, args: &[&str]) {
        let url = self.url();
        let cli = Cli::try_parse_from([&["keel", "--database-url", url.as_str()][..], args].concat())
            .unwrap_or_else(|err| panic!("keel {args:?} does not parse: {err}"));
        let done = match cli.command {
            Some(Command::Migrate { action }) => api::app::migrate(&cli.global, action).await,
            Some(Command::Tenant { action }) => api::app::tenant(&cli.global, action, || Ok(PASSWORD.to_owned())).await,
            _ => panic!("keel {args:?} is not a migrate or tenant command"),
        };
        done.unwrap_or_else(|err| panic!("keel {args:?} failed: {err:#}"));
    }
}

/// The superuser URL of the PostgreSQL server tests may administer.
///
/// # Panics
/// When [`POSTGRES_URL_VAR`] is not set: the calling test needs PostgreSQL, and must not pass
/// on SQLite by checking nothing.
pub fn postgres_admin_url() -> String {
    configured_postgres().unwrap_or_else(|| {
        panic!(
            "this test needs PostgreSQL: set {POSTGRES_URL_VAR} to a superuser URL \
             (e.g. postgres://postgres@127.0.0.1:5432/postgres); the PostgreSQL pass of .ci/run does"
        )
    })
}

fn configured_postgres() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR).ok().filter(|url| !url.is_empty())
}
