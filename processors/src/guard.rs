//! [`Guarded`], what stands between Keel and any processor: a timeout on every call and a
//! circuit breaker, so a processor that is down costs a caller milliseconds, not a timeout each.
//!
//! The breaker is closed while calls are answered. After `failure_threshold` consecutive calls
//! without an answer ([`ProcessorError`]s: timeouts, 5xx, refused connections) it opens for
//! `open_for`, answering `NotSent` at once without calling the processor. Then it half-opens:
//! exactly one trial call goes through (the others are still refused); an answer closes it, a
//! failure opens it again. Any answer counts as one, a decline included: the processor works.
//!
//! Hand-written rather than a crate: the crates found either let every call through while
//! half-open, or read `std::time::Instant`, which `tokio::time::pause()` cannot move, and the
//! whole breaker is one small state machine under a `std` mutex never held across an `.await`.

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use domain::payments::{
    BoxFuture, ChargeRequest, Charged, ProcessorError, ProcessorEvent, ProcessorKind, RefundRequest, Refunded,
};
use domain::ports::PaymentProcessor;
use tokio::time::Instant;

use crate::metrics;

/// The reason of the `NotSent` the breaker answers while open.
pub const BREAKER_OPEN: &str = "circuit breaker open";

/// The timeout and the breaker's thresholds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardSettings {
    /// The longest a call may take; past it the outcome is unknown.
    pub timeout: Duration,
    /// How many consecutive failed calls open the breaker (at least 1).
    pub failure_threshold: u32,
    /// How long the breaker stays open before it lets one trial call through.
    pub open_for: Duration,
}

impl Default for GuardSettings {
    fn default() -> Self {
        GuardSettings { timeout: Duration::from_secs(10), failure_threshold: 5, open_for: Duration::from_secs(30) }
    }
}

/// Where the circuit breaker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused at once.
    Open,
    /// One trial call may go through (or is under way); its outcome closes or reopens.
    HalfOpen,
}

impl BreakerState {
    /// A stable lower-case name, for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// A processor behind a per-call timeout and a circuit breaker.
#[derive(Debug)]
pub struct Guarded<P> {
    inner: P,
    settings: GuardSettings,
    breaker: Mutex<Breaker>,
}

#[derive(Debug)]
struct Breaker {
    phase: Phase,
    /// Bumped on every change of phase: an outcome of a call let through in an earlier phase is
    /// stale and ignored (a slow success must not close a breaker that opened meanwhile).
    generation: u64,
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial_running: bool },
}

/// A call let through: which phase let it, and whether it is the half-open trial.
#[derive(Clone, Copy)]
struct Pass {
    generation: u64,
    trial: bool,
}

impl<P: PaymentProcessor> Guarded<P> {
    /// `inner` behind `settings`, with the breaker closed.
    pub fn new(inner: P, settings: GuardSettings) -> Guarded<P> {
        let breaker = Breaker { phase: Phase::Closed { failures: 0 }, generation: 0 };
        metrics::breaker(inner.kind().as_str(), BreakerState::Closed);
        Guarded { inner, settings, breaker: Mutex::new(breaker) }
    }

    /// The guarded processor.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// Where the breaker is now; an open breaker whose time is up reads as half-open, since the
    /// next call is its trial.
    pub fn state(&self) -> BreakerState {
        match self.breaker().phase {
            Phase::Closed { .. } => BreakerState::Closed,
            Phase::Open { until } if Instant::now() < until => BreakerState::Open,
            Phase::Open { .. } | Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    fn breaker(&self) -> MutexGuard<'_, Breaker> {
        // Nothing panics while holding the lock, so a poisoned breaker is still consistent.
        self.breaker.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lets a call through, or says how many seconds until one may be.
    fn admit(&self) -> Result<Pass, u64> {
        let mut breaker = self.breaker();
        let now = Instant::now();
        match breaker.phase {
            Phase::Closed { .. } => Ok(Pass { generation: breaker.generation, trial: false }),
            Phase::Open { until } if now < until => Err(seconds_until(until, now)),
            Phase::HalfOpen { trial_running: true } => Err(1),
            Phase::Open { .. } | Phase::HalfOpen { trial_running: false } => {
                breaker.generation += 1;
                breaker.phase = Phase::HalfOpen { trial_running: true };
                metrics::breaker(self.inner.kind().as_str(), BreakerState::HalfOpen);
                Ok(Pass { generation: breaker.generation, trial: true })
            }
        }
    }

    /// Records the outcome of a call let through by `pass`.
    fn record(&self, pass: Pass, answered: bool) {
        let mut breaker = self.breaker();
        if breaker.generation != pass.generation {
            return;
        }
        let next = match breaker.phase {
            Phase::Closed { .. } if answered => Phase::Closed { failures: 0 },
            Phase::Closed { failures } if failures.saturating_add(1) < self.settings.failure_threshold.max(1) => {
                Phase::Closed { failures: failures + 1 }
            }
            Phase::HalfOpen { .. } if pass.trial && answered => {
                tracing::info!(processor = self.inner.kind().as_str(), "payment processor circuit breaker closed");
                Phase::Closed { failures: 0 }
            }
            Phase::Closed { .. } | Phase::HalfOpen { .. } => {
                tracing::warn!(
                    processor = self.inner.kind().as_str(),
                    open_for_ms = self.settings.open_for.as_millis(),
                    "payment processor circuit breaker opened"
                );
                Phase::Open { until: Instant::now() + self.settings.open_for }
            }
            Phase::Open { .. } => return,
        };
        let changed = !matches!((breaker.phase, next), (Phase::Closed { .. }, Phase::Closed { .. }));
        breaker.phase = next;
        if changed {
            breaker.generation += 1;
            metrics::breaker(self.inner.kind().as_str(), state_of(next));
        }
    }

    /// Frees the trial of a call dropped before it ended, so the next call may try.
    fn abandon(&self, pass: Pass) {
        let mut breaker = self.breaker();
        if pass.trial && breaker.generation == pass.generation {
            breaker.phase = Phase::HalfOpen { trial_running: false };
        }
    }

    /// Runs `call` through the breaker and under the timeout.
    async fn guard<'a, T, F>(&'a self, operation: &'static str, call: impl FnOnce() -> F) -> Result<T, ProcessorError>
    where
        F: Future<Output = Result<T, ProcessorError>> + 'a,
    {
        let processor = self.inner.kind().as_str();
        let pass = match self.admit() {
            Ok(pass) => pass,
            Err(retry_after_secs) => {
                metrics::call(processor, operation, metrics::BREAKER_REFUSED, None);
                return Err(ProcessorError::NotSent { reason: BREAKER_OPEN.to_owned(), retry_after_secs });
            }
        };
        let mut pass_guard = PassGuard { guarded: self, pass: Some(pass) };
        let started = Instant::now();
        let result = match tokio::time::timeout(self.settings.timeout, call()).await {
            Ok(result) => result,
            Err(_) => Err(ProcessorError::Unknown {
                reason: format!("no answer within {} ms", self.settings.timeout.as_millis()),
            }),
        };
        let outcome = match &result {
            Ok(_) => metrics::ANSWERED,
            Err(ProcessorError::NotSent { .. }) => metrics::NOT_SENT,
            Err(ProcessorError::Unknown { .. }) => metrics::UNKNOWN,
        };
        metrics::call(processor, operation, outcome, Some(started.elapsed()));
        pass_guard.finish(result.is_ok());
        result
    }
}

/// Records a call's outcome exactly once: when it ends, or as abandoned when it is dropped.
struct PassGuard<'a, P: PaymentProcessor> {
    guarded: &'a Guarded<P>,
    pass: Option<Pass>,
}

impl<P: PaymentProcessor> PassGuard<'_, P> {
    fn finish(&mut self, answered: bool) {
        if let Some(pass) = self.pass.take() {
            self.guarded.record(pass, answered);
        }
    }
}

impl<P: PaymentProcessor> Drop for PassGuard<'_, P> {
    fn drop(&mut self) {
        if let Some(pass) = self.pass.take() {
            self.guarded.abandon(pass);
        }
    }
}

/// The state a phase reads as when it begins.
fn state_of(phase: Phase) -> BreakerState {
    match phase {
        Phase::Closed { .. } => BreakerState::Closed,
        Phase::Open { .. } => BreakerState::Open,
        Phase::HalfOpen { .. } => BreakerState::HalfOpen,
    }
}

/// Whole seconds from `now` to `until`, rounded up, at least 1.
fn seconds_until(until: Instant, now: Instant) -> u64 {
    let millis = until.saturating_duration_since(now).as_millis();
    u64::try_from(millis.div_ceil(1000)).unwrap_or(u64::MAX).max(1)
}

impl<P: PaymentProcessor> PaymentProcessor for Guarded<P> {
    fn kind(&self) -> ProcessorKind {
        self.inner.kind()
    }

    fn ready(&self) -> Result<(), u64> {
        let breaker = self.breaker();
        let now = Instant::now();
        match breaker.phase {
            Phase::Open { until } if now < until => Err(seconds_until(until, now)),
            Phase::HalfOpen { trial_running: true } => Err(1),
            Phase::Closed { .. } | Phase::Open { .. } | Phase::HalfOpen { trial_running: false } => self.inner.ready(),
        }
    }

    fn charge<'a>(&'a self, request: &'a ChargeRequest) -> BoxFuture<'a, Result<Charged, ProcessorError>> {
        Box::pin(self.guard("charge", || self.inner.charge(request)))
    }

    fn refund<'a>(&'a self, request: &'a RefundRequest) -> BoxFuture<'a, Result<Refunded, ProcessorError>> {
        Box::pin(self.guard("refund", || self.inner.refund(request)))
    }

    fn lookup<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<Charged, ProcessorError>> {
        Box::pin(self.guard("lookup", || self.inner.lookup(reference)))
    }

    fn parse_event(&self, body: &[u8]) -> Result<ProcessorEvent, String> {
        self.inner.parse_event(body)
    }
}
