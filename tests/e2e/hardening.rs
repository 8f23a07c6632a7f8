//! What the server holds back from, or holds out against, a hostile network: slow clients,
//! stalled databases, spoofed forwarding headers, weak production secrets and nosy probes.

use api::config::{Cli, MigrateAction};
use clap::Parser;
use keel_tests::{TestApp, TestDatabase};

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
