//! Throwaway PostgreSQL databases for end-to-end tests.
//!
//! Each one is a fresh database owned by a fresh `LOGIN NOSUPERUSER` role, because a superuser
//! bypasses row-level security and would hide tenant-isolation bugs. Both are dropped on
//! drop, from a separate thread, since `Drop` cannot await.

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// A database and its owner role, created for one test and dropped with it.
pub struct Throwaway {
    admin_url: String,
    name: String,
    url: String,
}

impl Throwaway {
    /// Creates the role and database through `admin_url` (a superuser connection).
    pub async fn create(admin_url: &str) -> Throwaway {
        let name = format!("keel_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(admin_url).await.expect("connect to KEEL_TEST_POSTGRES_URL");
        admin
            .execute(AssertSqlSafe(format!("CREATE ROLE {name} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS")))
            .await
            .expect("create test role");
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name} OWNER {name}")))
            .await
            .expect("create test database");
        drop(admin.close().await);

        let mut url = url::Url::parse(admin_url).expect("KEEL_TEST_POSTGRES_URL is a URL");
        url.set_username(&name).expect("URL takes a user name");
        let _ = url.set_password(None);
        url.set_path(&format!("/{name}"));
        Throwaway { admin_url: admin_url.to_owned(), name, url: url.to_string() }
    }

    /// The URL the server connects with: the throwaway role on the throwaway database.
    pub fn url(&self) -> String {
        self.url.clone()
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let mut admin = PgConnection::connect(&admin_url).await.expect("connect to drop the test database");
                // FORCE ends the server's pooled connections, which may outlive the test body.
                admin
                    .execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .await
                    .expect("drop test database");
                admin.execute(AssertSqlSafe(format!("DROP ROLE IF EXISTS {name}"))).await.expect("drop test role");
                drop(admin.close().await);
            });
        });
        if dropped.join().is_err() && !std::thread::panicking() {
            panic!("dropping the throwaway PostgreSQL database {} failed", self.name);
        }
    }
}
