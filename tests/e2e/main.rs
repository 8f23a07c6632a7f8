//! End-to-end tests: each boots the real server ([`keel_tests::TestApp`]) and talks to it over
//! HTTP as clients do. They run on SQLite, or on PostgreSQL when `KEEL_TEST_POSTGRES_URL` is set.
//! The few that check a PostgreSQL-only feature (row-level security) are `#[ignore]`d, so a
//! SQLite run lists them as ignored; the PostgreSQL pass runs them with `--include-ignored`.

mod authz;
mod catalog;
mod events;
mod graphiql;
mod graphql_over_http;
mod hardening;
mod harness;
mod idempotency;
mod identity;
mod inventory;
mod lifecycle;
mod logs;
mod metrics;
mod orders;
mod passwords;
mod payment_queries;
mod payment_webhooks;
mod payments;
mod races;
mod schema;
mod seed;
mod subscriptions;
mod tenancy;
mod tokens;
mod traces;
mod webhook_delivery;
mod webhooks;
