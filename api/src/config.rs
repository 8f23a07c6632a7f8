//! The `keel` command line: every setting is a flag and a `KEEL_*` environment variable, and its
//! doc comment is its `--help` text.
//!
//! Raw strings become typed values here and nowhere else. Defaults work on a laptop; with
//! `KEEL_ENV=production`, [`ServeArgs::validate`] refuses a weak setup instead of falling back.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use ipnet::IpNet;

/// The secret development builds sign tokens with; production refuses it.
pub const DEVELOPMENT_JWT_SECRET: &str = "keel-development-secret-never-use-in-production";
/// The shortest JWT secret production accepts (256 bits, the HS256 key size).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// Keel: a multi-tenant commerce backend with one GraphQL API.
#[derive(Parser, Debug)]
#[command(name = "keel", version)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Settings for the server when no subcommand is given (`keel` = `keel serve`).
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What `keel` should do.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the GraphQL server (the default).
    Serve(Box<ServeArgs>),
    /// Apply, revert or list database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Print the GraphQL schema (SDL) that this build serves.
    Schema,
    /// Manage tenants as an operator.
    Tenant {
        #[command(subcommand)]
        action: TenantAction,
    },
    /// Fill the database with generated shops, for demos and load tests.
    Seed(SeedArgs),
}

/// The most shops one `keel seed` writes.
pub const MAX_SEED_TENANTS: i64 = 100_000;
/// The most products per seeded shop (SKUs run from `SKU-000001` to `SKU-999999`).
pub const MAX_SEED_PRODUCTS: i64 = 100_000;
/// The most orders per seeded shop.
pub const MAX_SEED_ORDERS: i64 = 1_000_000;

/// Settings for `keel seed`.
///
/// Applies pending migrations, then writes each shop in one transaction with multi-row
/// inserts, several shops at a time on PostgreSQL: the tenant (`shop-0001`, `shop-0002`, …)
/// with its owner (`owner@shop-0001.example`), an API key holding every permission a key may
/// hold, two locations (`MAIN`, `EAST`), products (`SKU-000001`, …) stocked at both with the
/// ledger that explains every level, and orders of 3 lines spread over the past weeks: those
/// of the last 20 minutes are half paid, half awaiting payment; most older ones are PAID (with
/// a SUCCEEDED `MANUAL` payment, as `markOrderPaid` writes), some FULFILLED, some CANCELLED
/// (stock released). Later orders continue the numbering. Not seeded: outbox events and webhook deliveries, sessions,
/// idempotency keys, customers.
///
/// Prints `KEEL_TOKEN=<API key of the first shop>` (a bearer credential that does not
/// expire), the shop's slug and owner, then the sizes written and the time taken. Every owner
/// signs in with KEEL_OWNER_PASSWORD, or, when it is unset, with a password generated and
/// printed as `KEEL_OWNER_PASSWORD=…`. Slugs must be free: seed an empty database. Refused
/// with KEEL_ENV=production.
#[derive(Args, Debug, Clone)]
pub struct SeedArgs {
    /// Shops to create.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=MAX_SEED_TENANTS))]
    pub tenants: u32,
    /// Products per shop (at least 3: every order has 3 different ones).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(3..=MAX_SEED_PRODUCTS))]
    pub products: u32,
    /// Orders per shop, 3 lines each.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(0..=MAX_SEED_ORDERS))]
    pub orders: u32,
    /// Seed of the random choices: the same seed and sizes give the same names, prices,
    /// stock, lines and statuses (ids, secrets and times still differ). Random when omitted.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// A `keel tenant` action.
#[derive(Subcommand, Debug, Clone)]
pub enum TenantAction {
    /// Create a tenant and its owner, whether or not self-service registration is open. The
    /// owner's password is read from KEEL_OWNER_PASSWORD or, if unset, from the first line of
    /// standard input; never from a flag, which would leave it in shell history.
    Create {
        /// The tenant's handle: 3-63 of a-z, 0-9 and '-'.
        #[arg(long)]
        slug: String,
        /// The tenant's display name.
        #[arg(long)]
        name: String,
        /// ISO 4217 code of the tenant's currency, e.g. EUR.
        #[arg(long)]
        currency: String,
        /// The owner's email.
        #[arg(long)]
        owner_email: String,
    },
    /// Suspend a tenant: its members cannot sign in and its tokens and API keys stop working
    /// at once. Nothing is deleted.
    Suspend {
        /// The tenant's handle.
        #[arg(long)]
        slug: String,
    },
    /// Reactivate a suspended tenant.
    Activate {
        /// The tenant's handle.
        #[arg(long)]
        slug: String,
    },
}

/// A `keel migrate` action.
#[derive(Subcommand, Debug, Clone, Copy)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the most recent migrations.
    Down {
        /// How many migrations to revert.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List every migration and whether it is applied.
    Status,
}

/// Settings every subcommand shares.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Deployment environment: `production` turns on strict startup checks and JSON logs.
    #[arg(long = "env", env = "KEEL_ENV", value_enum, default_value_t = Environment::Development, global = true)]
    pub environment: Environment,
    /// Database URL: `sqlite://PATH` (created if missing) or `postgres://USER:PASSWORD@HOST:PORT/DB`.
    #[arg(long, env = "KEEL_DATABASE_URL", default_value = "sqlite://keel.db", global = true)]
    pub database_url: DatabaseUrl,
    /// Largest number of pooled database connections.
    #[arg(long, env = "KEEL_DATABASE_MAX_CONNECTIONS", default_value_t = 16, global = true)]
    pub database_max_connections: u32,
    /// Seconds a request waits for a free pooled connection before it answers
    /// SERVICE_UNAVAILABLE instead of queueing on.
    #[arg(long, env = "KEEL_DATABASE_ACQUIRE_TIMEOUT", default_value = "5", value_parser = parse_positive_seconds, global = true)]
    pub database_acquire_timeout: Duration,
    /// Seconds one SQL statement may run, lock waits included, before the database cancels it
    /// (PostgreSQL `statement_timeout`; on SQLite, how long a writer waits for the write lock).
    /// Migrations run under it too: raise it for `keel migrate up` on a large database.
    #[arg(long, env = "KEEL_DATABASE_STATEMENT_TIMEOUT", default_value = "5", value_parser = parse_positive_seconds, global = true)]
    pub database_statement_timeout: Duration,
    /// Prepared statements each pooled connection keeps for reuse (0 turns the cache off). A
    /// cached statement skips parsing and planning on PostgreSQL and SQLite's prepare; each
    /// costs a little memory on both sides, and on PostgreSQL a plan per backend.
    #[arg(long, env = "KEEL_DATABASE_STATEMENT_CACHE", default_value_t = 256, global = true)]
    pub database_statement_cache: usize,
    /// Log format; defaults to `text` in development and `json` in production.
    #[arg(long, env = "KEEL_LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,
    /// Log filter in `tracing` syntax, e.g. `info` or `info,api=debug`.
    #[arg(long, env = "KEEL_LOG", default_value = "info", global = true)]
    pub log: String,
    /// Export traces to this OpenTelemetry collector's OTLP/HTTP base URL (e.g.
    /// `http://127.0.0.1:4318`; traces go to `/v1/traces`), and log each request's trace id.
    /// Off when unset.
    #[arg(long, env = "KEEL_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<url::Url>,
    /// OTLP body encoding.
    #[arg(long, env = "KEEL_OTLP_PROTOCOL", value_enum, default_value = "http/protobuf", global = true)]
    pub otlp_protocol: OtlpProtocol,
    /// Share of new traces exported, 0 to 1 (a request that continues a caller's trace follows
    /// the caller's sampling decision).
    #[arg(long, env = "KEEL_OTLP_SAMPLE_RATIO", default_value = "1", value_parser = parse_rate, global = true)]
    pub otlp_sample_ratio: f64,
}

impl GlobalArgs {
    /// The log format in effect: the explicit choice, or the environment's default.
    pub fn effective_log_format(&self) -> LogFormat {
        self.log_format.unwrap_or(match self.environment {
            Environment::Development => LogFormat::Text,
            Environment::Production => LogFormat::Json,
        })
    }
}

/// Settings for `keel serve`.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "KEEL_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Secret that signs access tokens, at least 32 bytes. Required when KEEL_ENV=production.
    #[arg(long, env = "KEEL_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<JwtSecret>,
    /// Secrets that signed earlier access tokens, comma-separated: they still verify (not sign)
    /// until removed, so the signing secret can rotate without signing anyone out. In production
    /// each is held to the rule for KEEL_JWT_SECRET (32 bytes or more, not the development one).
    #[arg(long, env = "KEEL_JWT_PREVIOUS_SECRETS", hide_env_values = true, value_delimiter = ',')]
    pub jwt_previous_secrets: Vec<JwtSecret>,
    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "KEEL_ACCESS_TOKEN_TTL", default_value = "900", value_parser = parse_seconds)]
    pub access_token_ttl: Duration,
    /// Let anyone register a tenant with `registerTenant`. Defaults to on in development and
    /// off in production (operators can always use `keel tenant create`).
    #[arg(long, env = "KEEL_OPEN_REGISTRATION")]
    pub open_registration: Option<bool>,
    /// Take the client address (for throttling and the audit log) from `X-Forwarded-For` when
    /// a trusted proxy sends the request: the right-most entry that is not a trusted proxy.
    /// Turn on only behind proxies that append to that header.
    #[arg(long, env = "KEEL_TRUST_FORWARDED_FOR", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_forwarded_for: bool,
    /// The proxies whose `X-Forwarded-For` is believed (with KEEL_TRUST_FORWARDED_FOR), as
    /// comma-separated CIDR networks or addresses. The default is loopback and the private
    /// ranges, where load balancers usually sit.
    #[arg(
        long,
        env = "KEEL_TRUSTED_PROXIES",
        value_delimiter = ',',
        default_values = ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]
    )]
    pub trusted_proxies: Vec<ProxyNetwork>,
    /// Apply pending migrations on start. Defaults to on in development and off in production,
    /// where `keel migrate up` is a deliberate step and an unmigrated database stops startup.
    #[arg(long, env = "KEEL_MIGRATE_ON_START")]
    pub migrate_on_start: Option<bool>,
    /// Seconds to let in-flight requests finish after SIGINT/SIGTERM before exiting anyway.
    #[arg(long, env = "KEEL_SHUTDOWN_TIMEOUT", default_value = "30", value_parser = parse_seconds)]
    pub shutdown_timeout: Duration,
    /// Seconds a client has to send a request's headers, counted from when Keel waits for
    /// them (so also while a kept-alive connection idles); then the connection is closed.
    /// Behind a load balancer that reuses idle connections, set it above the balancer's idle
    /// timeout.
    #[arg(long, env = "KEEL_HTTP_HEADER_TIMEOUT", default_value = "10", value_parser = parse_positive_seconds)]
    pub http_header_timeout: Duration,
    /// Seconds a request may take from its headers to its response, body upload included;
    /// past it the client gets `503` with SERVICE_UNAVAILABLE and the work is abandoned
    /// (rolled back).
    #[arg(long, env = "KEEL_HTTP_REQUEST_TIMEOUT", default_value = "30", value_parser = parse_positive_seconds)]
    pub http_request_timeout: Duration,
    /// Password hashes (argon2id, 19 MiB and one core each) that may run at once, for logins,
    /// sign-ups and new members together; further ones queue. Defaults to the number of cores.
    #[arg(long, env = "KEEL_PASSWORD_HASH_CONCURRENCY")]
    pub password_hash_concurrency: Option<NonZeroUsize>,
    /// Seconds a password hash waits in the queue for its turn before the request answers
    /// RATE_LIMITED (with `retryAfter`) instead.
    #[arg(long, env = "KEEL_PASSWORD_HASH_QUEUE_TIMEOUT", default_value = "5", value_parser = parse_positive_seconds)]
    pub password_hash_queue_timeout: Duration,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "KEEL_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Deepest selection nesting an operation may have.
    #[arg(long, env = "KEEL_MAX_QUERY_DEPTH", default_value_t = 16)]
    pub max_query_depth: usize,
    /// Largest complexity (roughly, fields selected, multiplied by page sizes) of one operation.
    #[arg(long, env = "KEEL_MAX_QUERY_COMPLEXITY", default_value_t = 10_000)]
    pub max_query_complexity: usize,
    /// Answer introspection queries (GraphiQL and codegen need them).
    #[arg(long, env = "KEEL_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,
    /// Seconds an order may wait for payment before it is cancelled and its stock released.
    #[arg(long, env = "KEEL_ORDER_PAYMENT_TIMEOUT", default_value = "1800", value_parser = parse_seconds)]
    pub order_payment_timeout: Duration,
    /// Seconds between two runs of the job that cancels unpaid orders past the payment timeout;
    /// 0 turns the job off in this process. Safe to run in every process at once.
    #[arg(long, env = "KEEL_ORDER_EXPIRY_INTERVAL", default_value = "30", value_parser = parse_seconds)]
    pub order_expiry_interval: Duration,
    /// Seconds an idempotency key is kept after its request: a repeat within it replays the
    /// first result, after it the key may be used afresh. Clients count on at least a day
    /// (Stripe's rule), the default.
    #[arg(long, env = "KEEL_IDEMPOTENCY_RETENTION", default_value = "86400", value_parser = parse_positive_seconds)]
    pub idempotency_retention: Duration,
    /// Seconds between two runs of the job that deletes idempotency keys past their retention;
    /// 0 turns the job off in this process. Safe to run in every process at once.
    #[arg(long, env = "KEEL_IDEMPOTENCY_PURGE_INTERVAL", default_value = "3600", value_parser = parse_seconds)]
    pub idempotency_purge_interval: Duration,
    #[command(flatten)]
    pub payments: PaymentArgs,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// What `GET /metrics` serves and to whom.
#[derive(Args, Debug, Clone)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics at `/metrics`.
    #[arg(long = "metrics", env = "KEEL_METRICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub enabled: bool,
    /// When set, `/metrics` answers only requests with `Authorization: Bearer <this token>`.
    #[arg(long = "metrics-token", env = "KEEL_METRICS_TOKEN", hide_env_values = true)]
    pub token: Option<ProcessorSecret>,
    /// Distinct operation names that get their own metrics label; later names are counted as
    /// `other`, so a client cannot grow the metrics without bound.
    #[arg(long = "metrics-max-operations", env = "KEEL_METRICS_MAX_OPERATIONS", default_value_t = 200)]
    pub max_operations: usize,
}

/// Outbound webhooks: where they may go and how the delivery worker retries.
#[derive(Args, Debug, Clone)]
pub struct WebhookArgs {
    /// Let webhook endpoints be private, loopback or link-local addresses (receivers on this
    /// machine or network). For tests and local development only: production refuses it.
    #[arg(long, env = "KEEL_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,
    /// Run the delivery worker in this process. Safe in every process on PostgreSQL (claims
    /// skip each other's rows); on SQLite, run one process per database file.
    #[arg(long, env = "KEEL_WEBHOOK_WORKER", default_value_t = true, action = clap::ArgAction::Set)]
    pub webhook_worker: bool,
    /// Milliseconds between two looks at the delivery queue when it was empty: the most a
    /// delivery waits behind its commit, besides the attempt itself.
    #[arg(long = "webhook-poll-ms", env = "KEEL_WEBHOOK_POLL_MS", default_value = "200", value_parser = parse_positive_millis)]
    pub webhook_poll: Duration,
    /// Attempts before a delivery is DEAD.
    #[arg(long, env = "KEEL_WEBHOOK_MAX_ATTEMPTS", default_value = "12")]
    pub webhook_max_attempts: std::num::NonZeroU32,
    /// Milliseconds before the second attempt; each further wait doubles (with jitter), up to
    /// KEEL_WEBHOOK_BACKOFF_MAX_MS, and is never shorter than the receiver's Retry-After.
    #[arg(long = "webhook-backoff-base-ms", env = "KEEL_WEBHOOK_BACKOFF_BASE_MS", default_value = "10000", value_parser = parse_positive_millis)]
    pub webhook_backoff_base: Duration,
    /// The longest wait between two attempts, in milliseconds (default 6 hours).
    #[arg(long = "webhook-backoff-max-ms", env = "KEEL_WEBHOOK_BACKOFF_MAX_MS", default_value = "21600000", value_parser = parse_positive_millis)]
    pub webhook_backoff_max: Duration,
    /// Milliseconds one attempt may take in all (connect, send, the receiver's answer).
    #[arg(long = "webhook-timeout-ms", env = "KEEL_WEBHOOK_TIMEOUT_MS", default_value = "10000", value_parser = parse_positive_millis)]
    pub webhook_timeout: Duration,
    /// Milliseconds to establish the connection of an attempt (at most the attempt's timeout).
    #[arg(long = "webhook-connect-timeout-ms", env = "KEEL_WEBHOOK_CONNECT_TIMEOUT_MS", default_value = "2000", value_parser = parse_positive_millis)]
    pub webhook_connect_timeout: Duration,
    /// Attempts in flight at once in this process.
    #[arg(long, env = "KEEL_WEBHOOK_CONCURRENCY", default_value = "32")]
    pub webhook_concurrency: std::num::NonZeroU32,
    /// Attempts in flight at once per endpoint, across processes: a slow receiver holds at most
    /// this many of the worker's slots.
    #[arg(long, env = "KEEL_WEBHOOK_ENDPOINT_CONCURRENCY", default_value = "4")]
    pub webhook_endpoint_concurrency: std::num::NonZeroU32,
    /// Seconds a rotated-out signing secret keeps signing beside the new one when
    /// `rotateWebhookSecret` names no grace period.
    #[arg(long = "webhook-rotation-grace-seconds", env = "KEEL_WEBHOOK_ROTATION_GRACE_SECONDS", default_value = "86400", value_parser = parse_seconds)]
    pub webhook_rotation_grace: Duration,
}

/// Which payment processor the server uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProcessorChoice {
    /// Built in, deterministic, no account needed: Stripe-named test methods (see README).
    Simulated,
    /// A Stripe-shaped processor API over HTTP at KEEL_PAYMENT_PROCESSOR_URL.
    Http,
}

/// The payment processor and how Keel treats it.
#[derive(Args, Debug, Clone)]
pub struct PaymentArgs {
    /// The payment processor: `simulated` (built in, for development and tests) or `http` (a
    /// Stripe-shaped API at KEEL_PAYMENT_PROCESSOR_URL, e.g. https://api.stripe.com).
    #[arg(long, env = "KEEL_PAYMENT_PROCESSOR", value_enum, default_value = "simulated")]
    pub payment_processor: ProcessorChoice,
    /// Base URL of the `http` processor's API, e.g. https://api.stripe.com.
    #[arg(long, env = "KEEL_PAYMENT_PROCESSOR_URL")]
    pub payment_processor_url: Option<url::Url>,
    /// The `http` processor's secret API key, sent as a bearer token.
    #[arg(long, env = "KEEL_PAYMENT_PROCESSOR_SECRET", hide_env_values = true)]
    pub payment_processor_secret: Option<ProcessorSecret>,
    /// Milliseconds a processor call may take; after it the outcome is unknown and the payment
    /// stays PENDING until reconciliation asks again.
    #[arg(long, env = "KEEL_PAYMENT_PROCESSOR_TIMEOUT_MS", default_value = "10000", value_parser = parse_positive_millis)]
    pub payment_processor_timeout: Duration,
    /// Consecutive failed processor calls (timeouts, unreachable, 5xx) that open the circuit
    /// breaker; while open, payments fail at once with SERVICE_UNAVAILABLE and retryAfter.
    #[arg(long, env = "KEEL_PAYMENT_BREAKER_THRESHOLD", default_value = "5")]
    pub payment_breaker_threshold: std::num::NonZeroU32,
    /// Seconds the circuit breaker stays open before it lets one trial call through.
    #[arg(long, env = "KEEL_PAYMENT_BREAKER_OPEN_SECONDS", default_value = "30", value_parser = parse_positive_seconds)]
    pub payment_breaker_open_for: Duration,
    /// Seconds between two runs of the job that settles payments and refunds left PENDING; 0 turns
    /// it off in this process. Safe to run in every process at once.
    #[arg(long, env = "KEEL_PAYMENT_RECONCILE_INTERVAL", default_value = "30", value_parser = parse_seconds)]
    pub payment_reconcile_interval: Duration,
    /// Seconds a payment or refund stays PENDING before reconciliation asks the processor.
    #[arg(long, env = "KEEL_PAYMENT_RECONCILE_AFTER", default_value = "60", value_parser = parse_seconds)]
    pub payment_reconcile_after: Duration,
    /// Simulated processor: milliseconds added to every call.
    #[arg(long, env = "KEEL_SIMULATED_LATENCY_MS", default_value = "0", value_parser = parse_millis)]
    pub simulated_latency: Duration,
    /// Simulated processor: the fraction of calls, 0 to 1, that fail with an unknown outcome.
    #[arg(long, env = "KEEL_SIMULATED_FAILURE_RATE", default_value = "0", value_parser = parse_rate)]
    pub simulated_failure_rate: f64,
    /// Simulated processor: milliseconds `pm_card_simulated_timeout` takes to answer (it charges
    /// at once; the answer comes later than the call timeout).
    #[arg(long, env = "KEEL_SIMULATED_TIMEOUT_ANSWER_MS", default_value = "30000", value_parser = parse_millis)]
    pub simulated_answer_delay: Duration,
}

/// A secret (a processor API key, the metrics token) that never appears in logs.
#[derive(Clone)]
pub struct ProcessorSecret(String);

impl ProcessorSecret {
    /// The secret, to send to the processor. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for ProcessorSecret {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        if raw.is_empty() { Err("the secret is empty".into()) } else { Ok(ProcessorSecret(raw.to_owned())) }
    }
}

impl fmt::Debug for ProcessorSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProcessorSecret(***)")
    }
}

impl ServeArgs {
    /// Whether `registerTenant` is open to anyone in this environment.
    pub fn registration_open(&self, env: Environment) -> bool {
        self.open_registration.unwrap_or(env == Environment::Development)
    }

    /// Whether pending migrations are applied on start in this environment.
    pub fn migrates_on_start(&self, env: Environment) -> bool {
        self.migrate_on_start.unwrap_or(env == Environment::Development)
    }

    /// The secret to sign tokens with, refusing a weak setup in production.
    ///
    /// # Errors
    /// A one-line reason when production allows private webhook targets, when production runs
    /// without a secret, or when the secret or any of
    /// the previous secrets is the development secret or shorter than
    /// [`MIN_JWT_SECRET_BYTES`]: a previous secret still verifies tokens, so a weak one forges
    /// them as well as a weak current one would.
    pub fn validate(&self, env: Environment) -> Result<JwtSecret, String> {
        if env == Environment::Production && self.webhooks.webhook_allow_private {
            return Err(
                "KEEL_WEBHOOK_ALLOW_PRIVATE=true is for tests and local development; production refuses it".into()
            );
        }
        match (env, &self.jwt_secret) {
            (Environment::Development, Some(secret)) => Ok(secret.clone()),
            (Environment::Development, None) => Ok(JwtSecret(DEVELOPMENT_JWT_SECRET.to_owned())),
            (Environment::Production, None) => {
                Err("KEEL_JWT_SECRET (--jwt-secret) is required when KEEL_ENV=production".into())
            }
            (Environment::Production, Some(secret)) => {
                secret.check_strong("KEEL_JWT_SECRET")?;
                for previous in &self.jwt_previous_secrets {
                    previous.check_strong("KEEL_JWT_PREVIOUS_SECRETS (each entry)")?;
                }
                Ok(secret.clone())
            }
        }
    }
}

/// Where Keel runs; production is strict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    /// Laptop defaults: development JWT secret, migrations on start, readable logs.
    Development,
    /// Strict: an explicit strong secret and a migrated database are required; JSON logs.
    Production,
}

/// How traces are encoded for the collector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OtlpProtocol {
    /// Protobuf over HTTP (what collectors expect by default).
    #[value(name = "http/protobuf")]
    HttpProtobuf,
    /// JSON over HTTP.
    #[value(name = "http/json")]
    HttpJson,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A database URL whose password never appears in logs or errors.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL to connect with, password included. Never log it; log [`DatabaseUrl`] itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        if let Some(path) = raw.strip_prefix("sqlite:") {
            let path = path.trim_start_matches("//");
            if path.split('?').next().unwrap_or_default().is_empty() {
                return Err("a SQLite URL needs a file path, e.g. sqlite://keel.db".into());
            }
            return Ok(DatabaseUrl(raw.to_owned()));
        }
        let url = url::Url::parse(raw).map_err(|err| format!("not a URL ({err})"))?;
        match url.scheme() {
            "postgres" | "postgresql" if url.host_str().is_some_and(|h| !h.is_empty()) => {
                Ok(DatabaseUrl(raw.to_owned()))
            }
            "postgres" | "postgresql" => {
                Err("a PostgreSQL URL needs a host, e.g. postgres://keel@127.0.0.1/keel".into())
            }
            other => Err(format!("unsupported scheme `{other}`; use sqlite://PATH or postgres://USER@HOST/DB")),
        }
    }
}

impl fmt::Display for DatabaseUrl {
    /// The URL with any password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match url::Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                // Setting a password only fails for URLs that cannot have one; show none then.
                if url.set_password(Some("***")).is_err() {
                    return f.write_str(url.scheme());
                }
                f.write_str(url.as_str())
            }
            _ => f.write_str(&self.0),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// The HMAC key that signs access tokens. `Debug` redacts it.
#[derive(Clone)]
pub struct JwtSecret(String);

impl JwtSecret {
    /// The key bytes, for signing and verifying only.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Refuses, naming `setting`, a secret production must not sign or verify with.
    fn check_strong(&self, setting: &str) -> Result<(), String> {
        if self.0 == DEVELOPMENT_JWT_SECRET {
            Err(format!("{setting} is the development secret; set a random one in production"))
        } else if self.0.len() < MIN_JWT_SECRET_BYTES {
            Err(format!("{setting} must be at least {MIN_JWT_SECRET_BYTES} bytes in production"))
        } else {
            Ok(())
        }
    }
}

impl FromStr for JwtSecret {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.is_empty() {
            return Err("the JWT secret is empty".into());
        }
        Ok(JwtSecret(raw.to_owned()))
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(***)")
    }
}

fn parse_seconds(raw: &str) -> Result<Duration, String> {
    raw.trim().parse::<u64>().map(Duration::from_secs).map_err(|_| format!("`{raw}` is not a whole number of seconds"))
}

/// Whole milliseconds.
fn parse_millis(raw: &str) -> Result<Duration, String> {
    raw.trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("`{raw}` is not a whole number of milliseconds"))
}

/// A timeout in whole milliseconds, at least one.
fn parse_positive_millis(raw: &str) -> Result<Duration, String> {
    let millis = parse_millis(raw)?;
    if millis.is_zero() { Err(format!("`{raw}` must be at least 1 millisecond")) } else { Ok(millis) }
}

/// A fraction from 0 to 1.
fn parse_rate(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!("`{raw}` is not a fraction from 0 to 1")),
    }
}

/// A timeout: whole seconds, at least one (zero would turn a protection off or fail everything).
fn parse_positive_seconds(raw: &str) -> Result<Duration, String> {
    let seconds = parse_seconds(raw)?;
    if seconds.is_zero() { Err(format!("`{raw}` must be at least 1 second")) } else { Ok(seconds) }
}

/// One trusted proxy network: a CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyNetwork(IpNet);

impl FromStr for ProxyNetwork {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        raw.parse::<IpNet>()
            .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
            .map(|network| ProxyNetwork(network.trunc()))
            .map_err(|_| format!("`{raw}` is neither a CIDR network (10.0.0.0/8, fd00::/8) nor an IP address"))
    }
}

impl ProxyNetwork {
    /// The network.
    pub fn network(self) -> IpNet {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("keel").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn seeding_defaults_to_one_shop_and_refuses_shops_too_small_for_three_line_orders() {
        let seed = parse(&["seed"]).expect("parses").command;
        let big = parse(&["seed", "--tenants", "100", "--products", "200", "--orders", "1000", "--seed", "7"]);

        let Some(Command::Seed(seed)) = seed else { panic!("not the seed command: {seed:?}") };
        assert_eq!((seed.tenants, seed.products, seed.orders, seed.seed), (1, 200, 1000, None));
        assert!(big.is_ok());
        for bad in [["--products", "2"], ["--tenants", "0"], ["--orders", "-1"]] {
            assert!(parse(&["seed", bad[0], bad[1]]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn no_subcommand_means_serve_with_laptop_defaults() {
        let cli = parse(&[]).expect("defaults parse");

        assert!(cli.command.is_none());
        assert_eq!(cli.serve.listen, "127.0.0.1:8080".parse().expect("address"));
        assert_eq!(cli.global.database_url.expose(), "sqlite://keel.db");
        assert_eq!(cli.global.environment, Environment::Development);
        assert!(cli.serve.migrates_on_start(Environment::Development));
    }

    #[test]
    fn idempotency_keys_are_kept_a_day_and_purged_hourly_by_default() {
        let serve = parse(&[]).expect("defaults parse").serve;

        let retention = time::Duration::try_from(serve.idempotency_retention).expect("fits");
        assert_eq!(domain::idempotency::Retention::new(retention), domain::idempotency::Retention::DEFAULT);
        assert_eq!(serve.idempotency_purge_interval, Duration::from_secs(3600));
        assert!(parse(&["--idempotency-retention", "0"]).is_err(), "a retention of nothing is refused");
    }

    #[test]
    fn database_urls_are_checked_and_passwords_redacted() {
        let url: DatabaseUrl = "postgres://keel:hunter2@db.internal:5432/keel".parse().expect("valid");

        assert_eq!(url.to_string(), "postgres://keel:***@db.internal:5432/keel");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!("mysql://root@localhost/keel".parse::<DatabaseUrl>().is_err());
        assert!("sqlite://".parse::<DatabaseUrl>().is_err());
        assert!("not a url".parse::<DatabaseUrl>().is_err());
    }

    #[test]
    fn production_refuses_missing_development_and_short_secrets() {
        let mut serve = parse(&[]).expect("defaults parse").serve;

        assert!(serve.validate(Environment::Production).is_err());
        serve.jwt_secret = Some(JwtSecret(DEVELOPMENT_JWT_SECRET.into()));
        assert!(serve.validate(Environment::Production).is_err());
        serve.jwt_secret = Some(JwtSecret("short".into()));
        assert!(serve.validate(Environment::Production).is_err());
        serve.jwt_secret = Some(JwtSecret("x".repeat(MIN_JWT_SECRET_BYTES)));
        assert!(serve.validate(Environment::Production).is_ok());
        serve.jwt_previous_secrets = vec![JwtSecret("y".repeat(MIN_JWT_SECRET_BYTES)), JwtSecret("short".into())];
        let weak_previous = serve.validate(Environment::Production).err().unwrap_or_default();
        assert!(weak_previous.contains("KEEL_JWT_PREVIOUS_SECRETS"), "{weak_previous}");
        serve.jwt_previous_secrets = vec![JwtSecret(DEVELOPMENT_JWT_SECRET.into())];
        assert!(serve.validate(Environment::Production).is_err());
        assert!(serve.validate(Environment::Development).is_ok(), "development accepts any previous secret");
        assert!(!serve.migrates_on_start(Environment::Production));
        assert!(!serve.registration_open(Environment::Production));
        assert!(serve.registration_open(Environment::Development));
    }

    #[test]
    fn timeouts_have_defaults_and_refuse_zero() {
        let cli = parse(&[]).expect("defaults parse");

        assert_eq!(cli.serve.http_header_timeout, Duration::from_secs(10));
        assert_eq!(cli.serve.http_request_timeout, Duration::from_secs(30));
        assert_eq!(cli.global.database_acquire_timeout, Duration::from_secs(5));
        assert_eq!(cli.global.database_statement_timeout, Duration::from_secs(5));
        for flag in [
            "--http-header-timeout",
            "--http-request-timeout",
            "--database-acquire-timeout",
            "--database-statement-timeout",
        ] {
            assert!(parse(&[flag, "0"]).is_err(), "{flag} 0 is refused");
        }
    }

    #[test]
    fn trusted_proxies_default_to_loopback_and_private_ranges_and_parse_a_list() {
        let defaults = parse(&[]).expect("defaults parse").serve.trusted_proxies;
        let listed = parse(&["--trusted-proxies", "192.0.2.0/24,2001:db8::1"]).expect("list parses").serve;

        assert_eq!(defaults.len(), 6);
        assert!(defaults.contains(&"10.0.0.0/8".parse().expect("network")));
        assert_eq!(
            listed.trusted_proxies,
            ["192.0.2.0/24".parse().expect("v4"), "2001:db8::1/128".parse().expect("v6")]
        );
        assert!(parse(&["--trusted-proxies", "10.0.0.0/8,lb.internal"]).is_err());
    }

    #[test]
    fn the_jwt_secret_never_shows_in_debug_output() {
        let cli = parse(&["--jwt-secret", "super-secret-value"]).expect("parses");

        assert!(!format!("{cli:?}").contains("super-secret-value"));
    }

    #[test]
    fn proxy_networks_are_cidrs_or_single_addresses() {
        assert_eq!("10.1.2.3/8".parse::<ProxyNetwork>(), "10.0.0.0/8".parse());
        assert_eq!("192.0.2.1".parse::<ProxyNetwork>(), "192.0.2.1/32".parse());
        assert_eq!(" fd00::/8 ".parse::<ProxyNetwork>(), "fd00::/8".parse());
        assert!("10.0.0.0/33".parse::<ProxyNetwork>().is_err());
        assert!("proxy.internal".parse::<ProxyNetwork>().is_err());
    }
}
