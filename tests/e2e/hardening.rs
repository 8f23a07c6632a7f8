//! What the server holds back from, or holds out against, a hostile network: slow clients,
//! stalled databases, spoofed forwarding headers, weak production secrets and nosy probes.

use api::config::{Cli, MigrateAction};
use clap::Parser;
use keel_tests::{TestApp, TestDatabase};

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
