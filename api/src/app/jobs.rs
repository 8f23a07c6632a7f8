//! Background jobs the server runs beside its routes.
//!
//! A job acts as the system on the use-cases' own rules; it holds no business decision of its
//! own. What a run could not do (one order, or the whole run) is logged as a warning with its
//! error code and retried at the next interval.

use std::sync::Arc;
use std::time::Duration;

use domain::orders::{self, ExpiryFailure, PaymentTimeout};
use tokio::sync::Notify;

use super::ports::AppPorts;
use crate::error::ApiError;

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
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.notified() => return,
                _ = ticks.tick() => {}
            }
            match orders::expire_unpaid_orders(&self.ports, self.timeout).await {
                Ok(run) => run.failures.into_iter().for_each(log_failure),
                Err(err) => {
                    let err = ApiError::from(err);
                    tracing::warn!(code = err.code().as_str(), "the order expiry run failed; retrying next interval");
                }
            }
        }
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
