//! Background jobs the server runs beside its routes: [`OrderExpiry`], [`IdempotencyPurge`],
//! [`PaymentReconciliation`], [`EventFeedPoll`] and [`WebhookDelivery`], each a [`Job`].
//!
//! A job acts as the system on the use-cases' own rules; it holds no business decision of its
//! own. What a run could not do (one order, or the whole run) is logged as a warning with its
//! error code and retried at the next interval.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::idempotency::{self, Retention};
use domain::orders::{self, ExpiryFailure, PaymentTimeout};
use domain::payments;
use domain::webhooks::{self, DeliveryPolicy, DeliveryStatus};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::ports::AppPorts;
use crate::error::ApiError;
use crate::graphql::feed::EventFeed;

/// A background job the server runs.
pub enum Job {
    /// Cancels unpaid orders.
    OrderExpiry(OrderExpiry),
    /// Forgets idempotency keys.
    IdempotencyPurge(IdempotencyPurge),
    /// Settles payments and refunds left pending.
    PaymentReconciliation(PaymentReconciliation),
    /// Reads new outbox events for this process's subscriptions.
    EventFeed(EventFeedPoll),
    /// Sends webhook deliveries.
    WebhookDelivery(WebhookDelivery),
}

impl Job {
    /// Runs the job until `stop` is notified; a run in progress finishes first.
    pub async fn run(self, stop: Arc<Notify>) {
        match self {
            Job::OrderExpiry(job) => job.run(stop).await,
            Job::IdempotencyPurge(job) => job.run(stop).await,
            Job::PaymentReconciliation(job) => job.run(stop).await,
            Job::EventFeed(job) => job.feed.run(job.interval, stop).await,
            Job::WebhookDelivery(job) => job.run(stop).await,
        }
    }
}

/// How often the event feed reads new events: the most a subscription message waits behind its
/// commit, besides the read itself.
pub const EVENT_FEED_INTERVAL: Duration = Duration::from_millis(250);

/// The background job that reads new outbox events for this process's subscriptions (see
/// [`EventFeed`]); it reads nothing while nobody subscribes.
pub struct EventFeedPoll {
    /// The feed it fills.
    pub feed: Arc<EventFeed>,
    /// How often it reads.
    pub interval: Duration,
}

/// The background job that cancels orders unpaid past the payment timeout.
pub struct OrderExpiry {
    /// The ports the job runs on.
    pub ports: AppPorts,
    /// How long an order may wait for payment.
    pub timeout: PaymentTimeout,
    /// How often the job runs.
    pub interval: Duration,
}

impl OrderExpiry {
    /// Runs the job every `interval` until `stop` is notified; a run in progress finishes first.
    pub async fn run(self, stop: Arc<Notify>) {
        let this = &self;
        every(self.interval, &stop, move || async move {
            match orders::expire_unpaid_orders(&this.ports, this.timeout).await {
                Ok(run) => run.failures.into_iter().for_each(log_failure),
                Err(err) => {
                    let err = ApiError::from(err);
                    tracing::warn!(code = err.code().as_str(), "the order expiry run failed; retrying next interval");
                }
            }
        })
        .await;
    }
}

/// The background job that deletes idempotency keys past their retention, in every tenant.
pub struct IdempotencyPurge {
    /// The ports the job runs on.
    pub ports: AppPorts,
    /// How long keys are kept.
    pub retention: Retention,
    /// How often the job runs.
    pub interval: Duration,
}

impl IdempotencyPurge {
    /// Runs the job every `interval` until `stop` is notified; a run in progress finishes first.
    pub async fn run(self, stop: Arc<Notify>) {
        let this = &self;
        every(self.interval, &stop, move || async move {
            if let Err(err) = idempotency::purge_expired_keys(&this.ports, this.retention).await {
                let err = ApiError::from(err);
                tracing::warn!(code = err.code().as_str(), "the idempotency key purge failed; retrying next interval");
            }
        })
        .await;
    }
}

/// The background job that asks the processor about payments and refunds left `PENDING` (an
/// answer lost to a timeout, an asynchronous method) and settles them.
pub struct PaymentReconciliation {
    /// The ports the job runs on.
    pub ports: AppPorts,
    /// How long a payment stays pending before the job asks about it.
    pub older_than: time::Duration,
    /// How often the job runs.
    pub interval: Duration,
}

impl PaymentReconciliation {
    /// Runs the job every `interval` until `stop` is notified; a run in progress finishes first.
    pub async fn run(self, stop: Arc<Notify>) {
        let this = &self;
        every(self.interval, &stop, move || async move {
            match payments::reconcile(&this.ports, this.older_than).await {
                Ok(run) => {
                    for (tenant, error) in run.failures {
                        let code = ApiError::from(error).code();
                        tracing::warn!(tenant.id = %tenant, code = code.as_str(),
                            "a shop's pending payments could not be listed for reconciliation; retrying next interval");
                    }
                }
                Err(err) => {
                    let err = ApiError::from(err);
                    tracing::warn!(
                        code = err.code().as_str(),
                        "the payment reconciliation run failed; retrying next interval"
                    );
                }
            }
        })
        .await;
    }
}

/// The webhook delivery worker: claims due deliveries (never one another process holds) up to
/// its free slots, attempts each in its own task, and looks at the queue again as soon as an
/// attempt ends (its slot, and its endpoint's, is free), or after `poll` when nothing ran. On stop
/// it claims nothing more and lets the attempts in flight finish (each is bounded by the
/// attempt timeout); a process killed meanwhile leaves its claims to run out and be retried.
pub struct WebhookDelivery {
    /// The ports the worker runs on.
    pub ports: AppPorts,
    /// How it retries.
    pub policy: DeliveryPolicy,
    /// Attempts in flight at most in this process.
    pub concurrency: u32,
    /// How long to wait after finding nothing to claim.
    pub poll: Duration,
}

impl WebhookDelivery {
    /// Runs until `stop` is notified, then waits for the attempts in flight.
    pub async fn run(self, stop: Arc<Notify>) {
        let ports = Arc::new(self.ports);
        let mut running = JoinSet::new();
        loop {
            let free = self.concurrency.saturating_sub(u32::try_from(running.len()).unwrap_or(u32::MAX));
            if free > 0 {
                match webhooks::claim_due(&ports, &self.policy, free).await {
                    Ok((lease, claims)) => {
                        for claim in claims {
                            let (ports, policy) = (ports.clone(), self.policy);
                            running.spawn(async move {
                                let jitter = getrandom::u64().map_or(1.0, |bits| (bits >> 11) as f64 / (1u64 << 53) as f64);
                                let started = Instant::now();
                                let outcome = match webhooks::attempt_delivery(&ports, &policy, lease, claim, jitter).await {
                                    Ok(Some(DeliveryStatus::Delivered)) => "delivered",
                                    Ok(Some(DeliveryStatus::Pending)) => "retry",
                                    Ok(Some(DeliveryStatus::Failed)) => "failed",
                                    Ok(Some(DeliveryStatus::Dead)) => "dead",
                                    Ok(_) => "skipped",
                                    Err(err) => {
                                        let code = ApiError::from(err).code();
                                        tracing::warn!(tenant.id = %claim.tenant, webhook_delivery.id = %claim.delivery,
                                            code = code.as_str(), "a webhook attempt could not be recorded; it is retried when its claim runs out");
                                        "error"
                                    }
                                };
                                metrics::counter!(crate::metrics::WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(1);
                                metrics::histogram!(crate::metrics::WEBHOOK_DURATION).record(started.elapsed());
                            });
                        }
                    }
                    Err(err) => {
                        let err = ApiError::from(err);
                        tracing::warn!(code = err.code().as_str(), "claiming webhook deliveries failed; retrying");
                    }
                }
            }
            let pause = tokio::time::sleep(self.poll);
            tokio::select! {
                () = stop.notified() => break,
                // An attempt ended: its slot (and its endpoint's) is free for the next due one.
                Some(_) = running.join_next(), if !running.is_empty() => {}
                () = pause => {}
            }
            while running.try_join_next().is_some() {}
        }
        while running.join_next().await.is_some() {}
    }
}

/// Runs `round` at once and then every `interval` until `stop` is notified; a round in
/// progress finishes first, and a round that overruns delays the next instead of bunching.
async fn every<F, Fut>(interval: Duration, stop: &Notify, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.notified() => return,
            _ = ticks.tick() => {}
        }
        round().await;
    }
}

/// Logs what one expiry run could not do: ids and the error code only (the conversion logs an
/// internal error's source once).
fn log_failure(failure: ExpiryFailure) {
    let code = ApiError::from(failure.error).code();
    match failure.order {
        Some(order) => tracing::warn!(
            tenant.id = %failure.tenant,
            order.id = %order,
            code = code.as_str(),
            "an unpaid order could not be expired; retrying next interval"
        ),
        None => tracing::warn!(
            tenant.id = %failure.tenant,
            code = code.as_str(),
            "a shop's unpaid orders could not be listed for expiry; retrying next interval"
        ),
    }
}
