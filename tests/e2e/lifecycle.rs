//! Starting, readiness, restarting and stopping, as an operator meets them.

use std::time::Duration;

use api::config::Cli;
use clap::Parser;
use keel_tests::{PRODUCTION_JWT_SECRET, TestApp, TestDatabase};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The one-line error with which a server on `database` refuses to start.
async fn startup_error(database: &TestDatabase, extra_args: &[&str]) -> String {
    match TestApp::build(database, extra_args).await {
        Ok(_) => panic!("a server started with {extra_args:?}, which it must refuse"),
        Err(err) => format!("{err:#}"),
    }
}

#[tokio::test]
async fn healthz_answers_and_readyz_is_ready_on_a_migrated_database() {
    let app = TestApp::spawn().await;

    let health = app.send(app.client.get(app.url("/healthz"))).await;
    let ready = app.send(app.client.get(app.url("/readyz"))).await;

    assert_eq!((health.status, ready.status), (200, 200));
    assert_eq!(ready.body["status"], "ready");
}

#[tokio::test]
async fn readyz_is_503_while_a_migration_is_pending_and_recovers_when_applied() {
    let app = TestApp::spawn().await;

    app.database().keel(&["migrate", "down", "--steps", "1"]).await;
    let pending = app.send(app.client.get(app.url("/readyz"))).await;
    app.database().keel(&["migrate", "up"]).await;
    let ready = app.send(app.client.get(app.url("/readyz"))).await;

    assert_eq!(pending.status, 503);
    assert!(pending.expect_str("/reason").contains("pending migration"), "{}", pending.text);
    assert_eq!(ready.status, 200);
}

#[tokio::test]
async fn a_second_start_on_the_same_database_reuses_it() {
    let first = TestApp::spawn().await;
    assert_eq!(first.gql("{ apiVersion }", json!({})).await.status, 200);
    let database = first.into_database().await;

    let second = TestApp::spawn_with(database, &[]).await;

    let ready = second.send(second.client.get(second.url("/readyz"))).await;
    assert_eq!(ready.status, 200);
    assert_eq!(second.gql("{ apiVersion }", json!({})).await.data()["apiVersion"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn an_unreachable_database_is_a_one_line_error_naming_the_setting_without_the_password() {
    let unreachable = Cli::try_parse_from([
        "keel",
        "--database-url",
        "postgres://keel:hunter2@127.0.0.1:1/keel",
        "--listen",
        "127.0.0.1:0",
    ])
    .expect("arguments parse");

    let error = match api::app::Server::build(&unreachable.global, &unreachable.serve).await {
        Ok(_) => panic!("started without a database"),
        Err(err) => format!("{err:#}"),
    };

    assert!(error.contains("KEEL_DATABASE_URL"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
    assert!(!error.contains('\n'), "{error}");
}

#[tokio::test]
async fn an_unsupported_database_url_is_refused_when_parsing_settings() {
    let refused = Cli::try_parse_from(["keel", "--database-url", "mysql://root@127.0.0.1/keel"]);

    let message = match refused {
        Ok(_) => panic!("a mysql:// URL was accepted"),
        Err(err) => err.to_string(),
    };
    assert!(message.contains("--database-url"), "{message}");
    assert!(message.contains("unsupported scheme"), "{message}");
}

#[tokio::test]
async fn production_refuses_a_missing_or_development_jwt_secret() {
    let database = TestDatabase::create().await;

    let missing = startup_error(&database, &["--env", "production"]).await;
    let development =
        startup_error(&database, &["--env", "production", "--jwt-secret", api::config::DEVELOPMENT_JWT_SECRET]).await;

    assert!(missing.contains("KEEL_JWT_SECRET"), "{missing}");
    assert!(development.contains("development secret"), "{development}");
}

#[tokio::test]
async fn production_refuses_an_unmigrated_database_and_starts_once_migrated() {
    let database = TestDatabase::create().await;

    let unmigrated = startup_error(&database, &["--env", "production", "--jwt-secret", PRODUCTION_JWT_SECRET]).await;
    database.keel(&["migrate", "up"]).await;
    let migrated = TestApp::build(&database, &["--env", "production", "--jwt-secret", PRODUCTION_JWT_SECRET]).await;

    assert!(unmigrated.contains("keel migrate up"), "{unmigrated}");
    assert!(migrated.is_ok(), "a migrated database starts in production");
}

#[tokio::test]
async fn graceful_shutdown_finishes_an_in_flight_request_then_refuses_new_ones() {
    let mut app = TestApp::spawn().await;
    let body = r#"{"query":"{ apiVersion }"}"#;
    let (head, tail) = body.split_at(10);
    let mut stream = TcpStream::connect(app.address).await.expect("connect");
    let request_head = format!(
        "POST /graphql HTTP/1.1\r\nhost: keel\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{head}",
        body.len()
    );
    stream.write_all(request_head.as_bytes()).await.expect("send the first half");
    tokio::time::sleep(Duration::from_millis(100)).await;

    let stopped = app.begin_shutdown().expect("server running");
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(tail.as_bytes()).await.expect("send the second half after shutdown began");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read the answer");

    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(env!("CARGO_PKG_VERSION")), "{response}");
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), stopped).await.expect("server exits").expect("task"),
        Ok(())
    );
    assert!(TcpStream::connect(app.address).await.is_err(), "no new connections after shutdown");
}

/// Row-level security exists only on PostgreSQL; on SQLite there is nothing to check.
#[tokio::test]
#[ignore = "needs PostgreSQL: run with KEEL_TEST_POSTGRES_URL set (the PostgreSQL pass of .ci/run runs them)"]
async fn production_refuses_a_database_role_that_bypasses_row_level_security() {
    let admin_url = keel_tests::postgres_admin_url();
    let database = TestDatabase::create_postgres().await;
    database.keel(&["migrate", "up"]).await;
    let mut superuser = url::Url::parse(&admin_url).expect("admin URL");
    superuser.set_path(url::Url::parse(&database.url()).expect("database URL").path());
    let url = superuser.to_string();

    let refused = Cli::try_parse_from([
        "keel",
        "--env",
        "production",
        "--jwt-secret",
        PRODUCTION_JWT_SECRET,
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        url.as_str(),
    ])
    .expect("arguments parse");
    let error = match api::app::Server::build(&refused.global, &refused.serve).await {
        Ok(_) => panic!("production started as a superuser"),
        Err(err) => format!("{err:#}"),
    };

    assert!(error.contains("row-level security"), "{error}");
}
