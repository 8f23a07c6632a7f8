//! Background jobs the server runs beside its routes: [`OrderExpiry`], [`IdempotencyPurge`],
//! [`PaymentReconciliation`] and [`EventFeedPoll`], each a [`Job`].
//!
//! A job acts as the system on the use-cases' own rules; it holds no business decision of its
//! own. What a run could not do (one order, or the whole run) is logged as a warning with its
//! error code and retried at the next interval.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use domain::idempotency::{self, Retention};
use domain::orders::{self, ExpiryFailure, PaymentTimeout};
use domain::payments;
use tokio::sync::Notify;

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
}

impl Job {
    /// Runs the job until `stop` is notified; a run in progress finishes first.
    pub async fn run(self, stop: Arc<Notify>) {
        match self {
            Job::OrderExpiry(job) => job.run(stop).await,
            Job::IdempotencyPurge(job) => job.run(stop).await,
            Job::PaymentReconciliation(job) => job.run(stop).await,
            Job::EventFeed(job) => job.feed.run(job.interval, stop).await,
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
