//! What the server holds back from, or holds out against, a hostile network: slow clients,
//! stalled databases, spoofed forwarding headers, weak production secrets and nosy probes.

use std::time::{Duration, Instant};

use api::config::{Cli, MigrateAction};
use clap::Parser;
use keel_tests::{GqlResponse, Outside, TestApp, TestDatabase};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const STRONG_SECRET: &str = "0123456789abcdef0123456789abcdef-strong";

async fn migrate(database: &TestDatabase, action: MigrateAction) {
    let url = database.url();
    let cli = Cli::try_parse_from(["keel", "--database-url", url.as_str()]).expect("arguments parse");
    api::app::migrate(&cli.global, action).await.expect("migration runs");
}

#[tokio::test]
async fn readyz_counts_pending_migrations_without_naming_them() {
    let app = TestApp::spawn().await;

    migrate(app.database(), MigrateAction::Down { steps: 1 }).await;
    let pending = app.send(app.client.get(app.url("/readyz"))).await;
    migrate(app.database(), MigrateAction::Up).await;

    assert_eq!(pending.status, 503);
    assert_eq!(pending.body["reason"], "1 pending migration(s)", "{}", pending.text);
    assert!(!pending.text.contains("m20"), "a migration name leaked: {}", pending.text);
}

/// The startup error of a production server whose previous JWT secrets are `previous`.
async fn production_start_error(database: &TestDatabase, previous: &str) -> String {
    let args = ["--env", "production", "--jwt-secret", STRONG_SECRET, "--jwt-previous-secrets", previous];
    TestApp::build(database, &args).await.err().map(|err| format!("{err:#}")).unwrap_or_default()
}

#[tokio::test]
async fn production_refuses_a_weak_previous_jwt_secret_naming_the_variable() {
    let database = TestDatabase::create().await;

    let short = production_start_error(&database, &format!("{STRONG_SECRET}-old,short")).await;
    let development = production_start_error(&database, api::config::DEVELOPMENT_JWT_SECRET).await;

    assert!(short.contains("KEEL_JWT_PREVIOUS_SECRETS") && short.contains("32 bytes"), "{short}");
    assert!(development.contains("KEEL_JWT_PREVIOUS_SECRETS") && development.contains("development"), "{development}");
}

/// Login attempts one address may make per window (domain's `ADDRESS_ATTEMPTS`).
const ADDRESS_FAILURES: usize = 20;

/// A login with a wrong password to `acme`, as `email`, relayed by a local proxy with this
/// `X-Forwarded-For`.
async fn failed_login_through_proxy(app: &TestApp, forwarded_for: &str, email: &str) -> GqlResponse {
    let body = json!({
        "query": "mutation($input: LoginInput!) { login(input: $input) { accessToken userErrors { code } } }",
        "variables": { "input": { "tenantSlug": "acme", "email": email, "password": "wrong password" } },
    });
    app.send(app.client.post(app.url("/graphql")).header("x-forwarded-for", forwarded_for).json(&body)).await
}

fn is_rejected_credential(response: &GqlResponse) -> bool {
    response.data()["login"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
}

#[tokio::test]
async fn a_spoofed_left_most_forwarded_for_entry_does_not_escape_the_address_throttle() {
    let app = TestApp::spawn_with(TestDatabase::create().await, &["--trust-forwarded-for", "true"]).await;
    let shop = app.shop("acme").await;

    for n in 0..ADDRESS_FAILURES {
        let spoofed = format!("198.51.100.{n}, 203.0.113.7");
        let failed = failed_login_through_proxy(&app, &spoofed, &format!("nobody{n}@acme.test")).await;
        assert!(is_rejected_credential(&failed), "{}", failed.text);
    }
    let spoofed_again = failed_login_through_proxy(&app, "192.0.2.99, 203.0.113.7", "someone@acme.test").await;
    let another_client = failed_login_through_proxy(&app, "192.0.2.99, 203.0.113.8", "someone@acme.test").await;
    let log =
        shop.owner.gql("{ auditLog(first: 100) { edges { node { action subject clientAddress } } } }", json!({})).await;

    assert_eq!(spoofed_again.error_code(), Some("RATE_LIMITED"), "{}", spoofed_again.text);
    assert!(is_rejected_credential(&another_client), "{}", another_client.text);
    let failures: Vec<(String, String)> = log.data()["auditLog"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|edge| edge["node"]["action"] == "LOGIN_FAILED")
        .map(|edge| {
            let node = &edge["node"];
            (node["subject"].as_str().unwrap_or_default().to_owned(), node["clientAddress"].to_string())
        })
        .collect();
    assert_eq!(failures.len(), ADDRESS_FAILURES + 1, "{}", log.text);
    assert_eq!(failures[0], ("someone@acme.test".to_owned(), "\"203.0.113.8\"".to_owned()));
    assert!(failures[1..].iter().all(|(_, address)| address == "\"203.0.113.7\""), "{failures:?}");
}

#[tokio::test]
async fn ipv6_clients_in_one_64_share_a_throttle_bucket() {
    let app = TestApp::spawn_with(TestDatabase::create().await, &["--trust-forwarded-for", "true"]).await;
    app.shop("acme").await;

    for n in 0..ADDRESS_FAILURES {
        let address = format!("2001:db8:1:2::{:x}", n + 1);
        let failed = failed_login_through_proxy(&app, &address, &format!("nobody{n}@acme.test")).await;
        assert!(is_rejected_credential(&failed), "{}", failed.text);
    }
    let same_network = failed_login_through_proxy(&app, "2001:db8:1:2:ffff::1", "someone@acme.test").await;
    let next_network = failed_login_through_proxy(&app, "2001:db8:1:3::1", "someone@acme.test").await;

    assert_eq!(same_network.error_code(), Some("RATE_LIMITED"), "{}", same_network.text);
    assert!(is_rejected_credential(&next_network), "{}", next_network.text);
}

/// Connections that each send part of a request head and then nothing.
const STALLED_CONNECTIONS: usize = 1_000;

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_stalled_request_heads_neither_block_other_clients_nor_stay_open() {
    let header_timeout = Duration::from_secs(5);
    let app = TestApp::spawn_with(TestDatabase::create().await, &["--http-header-timeout", "5"]).await;
    let started = Instant::now();
    let mut stalled = Vec::with_capacity(STALLED_CONNECTIONS);
    for _ in 0..STALLED_CONNECTIONS {
        let mut stream = TcpStream::connect(app.address).await.expect("connect");
        stream
            .write_all(b"POST /graphql HTTP/1.1\r\nhost: keel\r\ncontent-type: appl")
            .await
            .expect("send a partial head");
        stalled.push(stream);
    }

    let asked = Instant::now();
    let answer = app.gql("{ apiVersion }", json!({})).await;
    let answered_in = asked.elapsed();
    let still_open = stalled.iter().filter(|stream| is_open(stream)).count();
    let opened_in = asked - started;
    let closed = tokio::time::timeout(header_timeout * 3, async {
        for stream in &mut stalled {
            let mut rest = Vec::new();
            // The server may answer 408 before closing; any end of the stream will do.
            let _ = stream.read_to_end(&mut rest).await;
        }
    })
    .await;

    assert_eq!(answer.data()["apiVersion"], env!("CARGO_PKG_VERSION"), "{}", answer.text);
    assert!(answered_in < Duration::from_secs(3), "another client waited {answered_in:?}");
    if opened_in < header_timeout {
        assert_eq!(still_open, STALLED_CONNECTIONS, "stalled connections were open while the other client asked");
    }
    assert!(
        closed.is_ok(),
        "stalled connections were still open {:?} after the other client's answer",
        header_timeout * 3
    );
}

/// Whether the server has neither closed nor answered `stream` yet.
fn is_open(stream: &TcpStream) -> bool {
    let mut byte = [0_u8; 1];
    matches!(stream.try_read(&mut byte), Err(err) if err.kind() == std::io::ErrorKind::WouldBlock)
}

#[tokio::test]
async fn a_request_whose_body_stalls_answers_service_unavailable_at_the_request_timeout() {
    let app = TestApp::spawn_with(TestDatabase::create().await, &["--http-request-timeout", "1"]).await;
    let mut stream = TcpStream::connect(app.address).await.expect("connect");
    let head = "POST /graphql HTTP/1.1\r\nhost: keel\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n";

    let sent = Instant::now();
    stream.write_all(format!("{head}{{\"query\":").as_bytes()).await.expect("send the head and a bit of body");
    let mut response = String::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut response)).await;

    assert!(read.is_ok(), "no answer within 10 s");
    assert!(sent.elapsed() >= Duration::from_secs(1), "answered before the timeout: {response}");
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.contains(r#""code":"SERVICE_UNAVAILABLE""#), "{response}");
}

/// A transaction from outside Keel holding the lock a product insert needs: an exclusive lock
/// on `products` on PostgreSQL, the database's write lock on SQLite.
struct OutsideLock(Outside);

impl OutsideLock {
    async fn take(database: &TestDatabase) -> OutsideLock {
        let mut conn = Outside::connect(database).await;
        if conn.is_postgres() {
            conn.execute("BEGIN").await;
            conn.execute("LOCK TABLE products IN ACCESS EXCLUSIVE MODE").await;
        } else {
            conn.execute("BEGIN IMMEDIATE").await;
        }
        OutsideLock(conn)
    }

    async fn release(self) {
        let mut conn = self.0;
        conn.execute("ROLLBACK").await;
        conn.close().await;
    }
}

const CREATE_PRODUCT: &str =
    "mutation($input: CreateProductInput!) { createProduct(input: $input) { product { sku } userErrors { code } } }";

fn new_product(sku: &str) -> Value {
    json!({ "input": { "sku": sku, "name": sku, "price": { "amount": "1.00", "currencyCode": "USD" } } })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_that_finds_the_pool_exhausted_answers_service_unavailable_at_the_acquire_timeout() {
    let args = [
        "--database-max-connections",
        "1",
        "--database-acquire-timeout",
        "1",
        "--database-statement-timeout",
        "20",
        "--order-expiry-interval",
        "0",
    ];
    let app = TestApp::spawn_with(TestDatabase::create().await, &args).await;
    let owner = app.shop("acme").await.owner;
    let lock = OutsideLock::take(app.database()).await;
    let blocked = tokio::spawn({
        let owner = owner.clone();
        async move { owner.gql(CREATE_PRODUCT, new_product("HELD-1")).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    let asked = Instant::now();
    let refused = owner.gql("{ products(first: 1) { edges { cursor } } }", json!({})).await;
    let refused_in = asked.elapsed();
    lock.release().await;
    let finished = blocked.await.expect("the blocked request ends");

    assert_eq!(refused.error_code(), Some("SERVICE_UNAVAILABLE"), "{}", refused.text);
    assert!(refused_in >= Duration::from_secs(1) && refused_in < Duration::from_secs(5), "{refused_in:?}");
    assert_eq!(finished.data()["createProduct"]["product"]["sku"], "HELD-1", "{}", finished.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_statement_blocked_past_the_statement_timeout_is_cancelled_with_service_unavailable() {
    let args = ["--database-statement-timeout", "1", "--order-expiry-interval", "0"];
    let app = TestApp::spawn_with(TestDatabase::create().await, &args).await;
    let owner = app.shop("acme").await.owner;
    let lock = OutsideLock::take(app.database()).await;

    let asked = Instant::now();
    let cancelled = owner.gql(CREATE_PRODUCT, new_product("LOCKED-1")).await;
    let cancelled_in = asked.elapsed();
    lock.release().await;
    let afterwards = owner.gql(CREATE_PRODUCT, new_product("FREE-1")).await;

    assert_eq!(cancelled.error_code(), Some("SERVICE_UNAVAILABLE"), "{}", cancelled.text);
    assert!(cancelled_in >= Duration::from_secs(1) && cancelled_in < Duration::from_secs(5), "{cancelled_in:?}");
    assert_eq!(afterwards.data()["createProduct"]["product"]["sku"], "FREE-1", "{}", afterwards.text);
}
