//! Wiring: opens the database, applies or checks migrations, builds the schema and router, and
//! serves until a shutdown signal, letting in-flight requests finish.
//!
//! This module and [`ports`] are the only ones of `api` that use `persistence`. Startup failures
//! are returned as one-line `anyhow` errors naming the setting to fix; nothing here falls back
//! silently.
//!
//! # Layout
//!
//! - [`ports`]: the ports use-cases run on ([`ports::AppPorts`]); a leaf the rest of `api` may
//!   import.
//! - [`jobs`]: background jobs (order expiry, the purge of expired idempotency keys, payment
//!   reconciliation).
//! - [`processor`]: the configured payment processor.
//! - [`seed`]: `keel seed`, generated shops written in bulk.
//! - here: the server's life (build, serve, shut down) and the `migrate` and `tenant` commands.

pub mod jobs;
pub mod ports;
pub mod processor;
pub mod seed;
pub mod webhooks;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use axum::Router;
use domain::auth::{Actor, Caller, OperatorConsole};
use domain::idempotency::Retention;
use domain::identity::sessions::{self, RegisterTenant};
use domain::identity::{Slug, TenantStatus};
use domain::orders::PaymentTimeout;
use domain::ports::DeliveryQueue;
use persistence::{Database, PoolSettings, Readiness};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::auth::crypto::HashingLimits;
use crate::auth::tokens::AccessTokens;
use crate::config::{DatabaseUrl, Environment, GlobalArgs, MigrateAction, ServeArgs, TenantAction};
use crate::graphql::feed::EventFeed;
use crate::graphql::field_errors::FieldTypes;
use crate::graphql::services::Services;
use crate::graphql::{self, Limits};
use crate::http::client_address::ClientAddresses;
use crate::http::state::{MetricsState, Refresh};
use crate::http::{self, AppState, ReadinessCheck, ReadyState};
use crate::metrics::Metrics;
use jobs::{
    EVENT_FEED_INTERVAL, EventFeedPoll, IdempotencyPurge, Job, OrderExpiry, PaymentReconciliation, WebhookDelivery,
};

/// A bound, ready-to-run server.
pub struct Server {
    listener: TcpListener,
    router: Router,
    database: Database,
    header_timeout: Duration,
    shutdown_timeout: Duration,
    jobs: Vec<Job>,
}

impl Server {
    /// Checks the configuration, opens and migrates the database and binds the listener.
    ///
    /// # Errors
    /// A one-line reason naming the setting: a weak production setup, an unreachable or
    /// unmigrated database, or an address that cannot be bound.
    pub async fn build(global: &GlobalArgs, serve: &ServeArgs) -> anyhow::Result<Server> {
        let jwt_secret = serve.validate(global.environment).map_err(|reason| anyhow!(reason))?;
        if global.environment == Environment::Development && serve.jwt_secret.is_none() {
            tracing::warn!("KEEL_JWT_SECRET is not set; signing tokens with the development secret");
        }
        // Installed before anything records, so the first transactions are counted too.
        let metrics = serve.metrics.enabled.then(|| {
            let metrics = Metrics::install(serve.metrics.max_operations);
            persistence::metrics::describe();
            processors::metrics::describe();
            metrics
        });
        if metrics.is_some() && serve.metrics.token.is_none() && global.environment == Environment::Production {
            tracing::warn!(
                "/metrics is served without a token; set KEEL_METRICS_TOKEN, or keep the path off the public network"
            );
        }
        let database = open_database(global).await?;
        if serve.migrates_on_start(global.environment) {
            database
                .migrate_up()
                .await
                .with_context(|| format!("migrating the database at {}", global.database_url))?;
        }
        if database.bypasses_row_security().await.context("checking the database role")? {
            let problem = "the database role is a superuser or has BYPASSRLS, so row-level security cannot isolate tenants; connect as an ordinary role (see README, PostgreSQL)";
            if global.environment == Environment::Production {
                return Err(anyhow!(problem));
            }
            tracing::warn!("{problem}");
        }
        if let Readiness::PendingMigrations(pending) = database.readiness().await {
            return Err(anyhow!(
                "the database at {} has {} pending migration(s), first {}; run `keel migrate up` (KEEL_ENV=production never migrates on start)",
                global.database_url,
                pending.len(),
                pending.first().map(String::as_str).unwrap_or_default()
            ));
        }

        let lifetime =
            time::Duration::try_from(serve.access_token_ttl).context("KEEL_ACCESS_TOKEN_TTL is too large")?;
        let order_payment_timeout = PaymentTimeout::new(
            time::Duration::try_from(serve.order_payment_timeout).context("KEEL_ORDER_PAYMENT_TIMEOUT is too large")?,
        );
        let ports = ports::wire(
            &database,
            hashing_limits(serve),
            processor::processor(&serve.payments)?,
            webhooks::sender(&serve.webhooks)?,
        )?;
        let feed = EventFeed::new(ports.clone());
        let services = Arc::new(Services {
            ports,
            tokens: Arc::new(AccessTokens::new(&jwt_secret, &serve.jwt_previous_secrets, lifetime)),
            open_registration: serve.registration_open(global.environment),
            order_payment_timeout,
            feed: feed.clone(),
            webhook_rotation_grace: time::Duration::try_from(serve.webhooks.webhook_rotation_grace)
                .context("KEEL_WEBHOOK_ROTATION_GRACE_SECONDS is too large")?,
        });
        let idempotency_retention = Retention::new(
            time::Duration::try_from(serve.idempotency_retention).context("KEEL_IDEMPOTENCY_RETENTION is too large")?,
        );
        let mut jobs = vec![Job::EventFeed(EventFeedPoll { feed, interval: EVENT_FEED_INTERVAL })];
        if !serve.order_expiry_interval.is_zero() {
            jobs.push(Job::OrderExpiry(OrderExpiry {
                ports: services.ports.clone(),
                timeout: order_payment_timeout,
                interval: serve.order_expiry_interval,
            }));
        }
        if !serve.idempotency_purge_interval.is_zero() {
            jobs.push(Job::IdempotencyPurge(IdempotencyPurge {
                ports: services.ports.clone(),
                retention: idempotency_retention,
                interval: serve.idempotency_purge_interval,
            }));
        }
        if !serve.payments.payment_reconcile_interval.is_zero() {
            jobs.push(Job::PaymentReconciliation(PaymentReconciliation {
                ports: services.ports.clone(),
                older_than: time::Duration::try_from(serve.payments.payment_reconcile_after)
                    .context("KEEL_PAYMENT_RECONCILE_AFTER is too large")?,
                interval: serve.payments.payment_reconcile_interval,
            }));
        }
        if serve.webhooks.webhook_worker {
            jobs.push(Job::WebhookDelivery(WebhookDelivery {
                ports: services.ports.clone(),
                policy: webhooks::policy(&serve.webhooks),
                concurrency: serve.webhooks.webhook_concurrency.get(),
                poll: serve.webhooks.webhook_poll,
            }));
        }
        let limits = Limits {
            max_depth: serve.max_query_depth,
            max_complexity: serve.max_query_complexity,
            introspection: serve.introspection,
        };
        let schema = graphql::build(limits, Some(services.clone()));
        let field_types =
            FieldTypes::from_sdl(&schema.sdl()).map_err(|err| anyhow!("the schema's own SDL does not parse: {err}"))?;
        let metrics = metrics.map(|metrics| {
            Arc::new(MetricsState {
                metrics,
                token: serve.metrics.token.as_ref().map(|token| token.expose().to_owned()),
                refresh: metrics_refresh(database.clone(), services.ports.clone()),
            })
        });
        let state = AppState {
            schema,
            readiness: readiness_check(database.clone()),
            services,
            client_addresses: if serve.trust_forwarded_for {
                ClientAddresses::behind(serve.trusted_proxies.iter().map(|proxy| proxy.network()))
            } else {
                ClientAddresses::peer_only()
            },
            documents: Arc::default(),
            field_types: Arc::new(field_types),
            metrics,
        };
        let router = http::router(state, serve.max_body_bytes, serve.http_request_timeout);
        let listener = TcpListener::bind(serve.listen)
            .await
            .with_context(|| format!("cannot listen on {} (KEEL_LISTEN / --listen)", serve.listen))?;
        let address = listener.local_addr().context("reading the bound address")?;
        tracing::info!(
            listen = %address,
            database = %global.database_url,
            database.backend = database.backend().name(),
            "Keel is listening on http://{address} (GraphiQL at http://{address}/graphql), database {}",
            global.database_url
        );
        Ok(Server {
            listener,
            router,
            database,
            header_timeout: serve.http_header_timeout,
            shutdown_timeout: serve.shutdown_timeout,
            jobs,
        })
    }

    /// The address the server is bound to (useful with port 0).
    ///
    /// # Errors
    /// When the socket cannot report its address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish
    /// (at most the shutdown timeout) and closes the database pool.
    ///
    /// # Errors
    /// None today: a failed `accept` is logged and retried.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let stopping = Arc::new(Notify::new());
        let signal_stopping = stopping.clone();
        // One notification per job: `notify_one` keeps it for a job busy with a run, which
        // `notify_waiters` would not.
        let (stops, jobs): (Vec<Arc<Notify>>, Vec<_>) = self
            .jobs
            .into_iter()
            .map(|job| {
                let stop = Arc::new(Notify::new());
                (stop.clone(), tokio::spawn(job.run(stop)))
            })
            .unzip();
        let graceful = async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections, finishing in-flight requests and jobs");
            signal_stopping.notify_one();
            for stop in &stops {
                stop.notify_one();
            }
        };
        let serving = http::serve::serve(self.listener, self.router, self.header_timeout, graceful);
        let deadline = async {
            stopping.notified().await;
            tokio::time::sleep(self.shutdown_timeout).await;
        };
        tokio::select! {
            () = serving => {}
            () = deadline => tracing::warn!(
                timeout_s = self.shutdown_timeout.as_secs(),
                "in-flight requests did not finish in time; exiting anyway"
            ),
        }
        for job in jobs {
            // A job stops at its next await point after the notification; a run in progress
            // commits or rolls back, never half-writes.
            let _ = job.await;
        }
        self.database.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

/// Runs `keel migrate up|down|status`, printing what it did on stdout.
///
/// # Errors
/// When the database cannot be reached or a migration fails.
pub async fn migrate(global: &GlobalArgs, action: MigrateAction) -> anyhow::Result<()> {
    let database = open_database(global).await?;
    let context = || format!("migrating the database at {}", global.database_url);
    match action {
        MigrateAction::Up => {
            database.migrate_up().await.with_context(context)?;
            println!("all migrations applied");
        }
        MigrateAction::Down { steps } => {
            database.migrate_down(steps).await.with_context(context)?;
            println!("reverted up to {steps} migration(s)");
        }
        MigrateAction::Status => {
            for migration in database.migration_status().await.with_context(context)? {
                println!("{:<8} {}", if migration.applied { "applied" } else { "pending" }, migration.name);
            }
        }
    }
    database.close().await;
    Ok(())
}

/// Runs `keel tenant create|suspend|activate` as an operator. `create` registers a tenant and
/// its owner whatever the registration setting (asking `password` for the owner's password).
///
/// # Errors
/// Invalid fields (all of them, one line), a taken slug, or an unreachable database.
pub async fn tenant(
    global: &GlobalArgs,
    action: TenantAction,
    password: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<()> {
    // The one place an operator is made: this command runs on the operator's own machine.
    let operator = OperatorConsole::from_command_line();
    let (slug, status) = match action {
        TenantAction::Create { slug, name, currency, owner_email } => {
            let caller = Caller { actor: Actor::Operator(operator), address: None };
            return create_tenant(global, &caller, (slug, name, currency, owner_email), password()?).await;
        }
        TenantAction::Suspend { slug } => (slug, TenantStatus::Suspended),
        TenantAction::Activate { slug } => (slug, TenantStatus::Active),
    };
    let slug = Slug::parse("slug", &slug).map_err(|invalid| anyhow!("{invalid}"))?;
    let database = open_database(global).await?;
    let ports = ports::wire(&database, HashingLimits::for_this_machine(), idle_processor(), webhooks::idle_sender()?)?;
    let result = sessions::set_tenant_status(&ports, &operator, &slug, status).await;
    database.close().await;
    result.map_err(|err| match err {
        domain::DomainError::NotFound => anyhow!("no tenant has the slug {}", slug.as_str()),
        other => anyhow!("{other}"),
    })?;
    println!("tenant {} is now {}", slug.as_str(), status.as_str().to_lowercase());
    Ok(())
}

async fn create_tenant(
    global: &GlobalArgs,
    caller: &Caller,
    (slug, name, currency, owner_email): (String, String, String, String),
    password: String,
) -> anyhow::Result<()> {
    let command = RegisterTenant::parse(&name, &slug, &currency, &owner_email, &password)
        .map_err(|invalid| anyhow!("{}", invalid.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))?;
    let database = open_database(global).await?;
    let ports = ports::wire(&database, HashingLimits::for_this_machine(), idle_processor(), webhooks::idle_sender()?)?;
    let signed_in = sessions::register_tenant(&ports, caller, command, false).await.map_err(|err| anyhow!("{err}"))?;
    println!(
        "created tenant {} ({}) with owner {}",
        signed_in.tenant.slug.as_str(),
        signed_in.tenant.id,
        signed_in.user.email.as_str()
    );
    database.close().await;
    Ok(())
}

/// The processor of command-line tools, which take no payments: the simulator.
fn idle_processor() -> Arc<dyn domain::ports::PaymentProcessor> {
    Arc::new(processors::Simulated::new(processors::SimulatedSettings::default()))
}

/// How much password hashing the server runs at once and how long a hash may queue: the
/// settings, or one hash per core.
fn hashing_limits(serve: &ServeArgs) -> HashingLimits {
    HashingLimits {
        concurrency: serve.password_hash_concurrency.unwrap_or(HashingLimits::for_this_machine().concurrency),
        queue_timeout: serve.password_hash_queue_timeout,
    }
}

async fn open_database(global: &GlobalArgs) -> anyhow::Result<Database> {
    let url: &DatabaseUrl = &global.database_url;
    let settings = PoolSettings {
        max_connections: global.database_max_connections,
        acquire_timeout: global.database_acquire_timeout,
        statement_timeout: global.database_statement_timeout,
        statement_cache: global.database_statement_cache,
    };
    Database::connect(url.expose(), settings)
        .await
        .with_context(|| format!("cannot open the database at {url} (KEEL_DATABASE_URL / --database-url)"))
}

/// Reads the gauges of state for a scrape: the pool now, and the webhook backlog.
fn metrics_refresh(database: Database, ports: ports::AppPorts) -> Refresh {
    let ports = Arc::new(ports);
    Arc::new(move || {
        let (database, ports) = (database.clone(), ports.clone());
        Box::pin(async move {
            let pool = database.pool_stats();
            let in_use = pool.open.saturating_sub(pool.idle);
            metrics::gauge!(crate::metrics::DB_POOL_CONNECTIONS, "state" => "in_use").set(f64::from(in_use));
            metrics::gauge!(crate::metrics::DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(pool.idle));
            metrics::gauge!(crate::metrics::DB_POOL_MAX).set(f64::from(pool.max));
            match ports.store.backlog().await {
                Ok(backlog) => {
                    let lag =
                        backlog.oldest.map_or(0.0, |oldest| (ports.clock.now() - oldest).as_seconds_f64().max(0.0));
                    metrics::gauge!(crate::metrics::OUTBOX_LAG).set(lag);
                    metrics::gauge!(crate::metrics::WEBHOOK_PENDING).set(backlog.pending as f64);
                }
                Err(err) => {
                    let code = crate::error::ApiError::from(err).code();
                    tracing::warn!(code = code.as_str(), "reading the webhook backlog for /metrics failed");
                }
            }
        })
    })
}

fn readiness_check(database: Database) -> ReadinessCheck {
    Arc::new(move || {
        let database = database.clone();
        Box::pin(async move {
            match database.readiness().await {
                Readiness::Ready => ReadyState::Ready,
                Readiness::Unreachable => ReadyState::NotReady("database unreachable".into()),
                Readiness::PendingMigrations(pending) => {
                    // `/readyz` answers anyone: migration names (which tell a caller the exact
                    // build) go to the log for the operator, the probe gets the count only.
                    tracing::warn!(migrations = %pending.join(", "), "not ready: migrations are pending");
                    ReadyState::NotReady(format!("{} pending migration(s)", pending.len()))
                }
            }
        })
    })
}
