//! Background jobs the server runs beside its routes.
//!
//! A job acts as the system on the use-cases' own rules; it holds no business decision of its
//! own, and a failed run is logged and retried at the next interval.

use std::sync::Arc;
use std::time::Duration;

use domain::orders::{self, PaymentTimeout};
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
            if let Err(err) = orders::expire_unpaid_orders(&self.ports, self.timeout).await {
                let err = ApiError::from(err);
                tracing::warn!(code = err.code().as_str(), "the order expiry run failed; retrying next interval");
            }
        }
    }
}
