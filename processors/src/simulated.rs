//! [`Simulated`], Keel's built-in processor: in-process, deterministic, zero configuration. It
//! behaves like Stripe's test mode for Stripe's test payment method names, plus two of Keel's
//! own (a lost answer and an asynchronous method), and keeps Stripe's idempotency: a call
//! repeated with the same key gets the first answer and moves no money again.
//!
//! Its state lives in memory and is lost on restart; clones share it, so a test can keep one
//! and count the calls the server made through another.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use domain::payments::{
    BoxFuture, ChargeRequest, Charged, Failure, ProcessorError, ProcessorEvent, ProcessorKind, RefundRequest, Refunded,
};
use domain::ports::PaymentProcessor;
use tokio::time::Instant;
use uuid::Uuid;

/// Succeeds.
pub const METHOD_VISA: &str = "pm_card_visa";
/// Declined: `card_declined`.
pub const METHOD_DECLINED: &str = "pm_card_visa_chargeDeclined";
/// Declined: `insufficient_funds`.
pub const METHOD_INSUFFICIENT_FUNDS: &str = "pm_card_visa_chargeDeclinedInsufficientFunds";
/// Succeeds, but the answer comes only after [`SimulatedSettings::answer_delay`]: a lost answer.
pub const METHOD_TIMEOUT: &str = "pm_card_simulated_timeout";
/// Pending now; a lookup finds it succeeded once [`SimulatedSettings::async_settle_after`] passed.
pub const METHOD_ASYNC: &str = "pm_card_simulated_async";

/// The reason of the failures [`SimulatedSettings::failure_rate`] injects.
pub const SIMULATED_FAILURE: &str = "simulated processor failure";

/// How the simulated processor behaves; the default answers at once and never fails.
#[derive(Clone, Debug, PartialEq)]
pub struct SimulatedSettings {
    /// Added to every call before it is answered.
    pub latency: Duration,
    /// The fraction of calls (0 to 1) answered `ProcessorError::Unknown` after doing nothing.
    /// Values outside [0, 1] count as the nearest bound, and NaN as 0.
    pub failure_rate: f64,
    /// How late the answer to a [`METHOD_TIMEOUT`] charge comes: longer than any call timeout by
    /// default, so the caller gives up while the charge stands.
    pub answer_delay: Duration,
    /// How long after the charge a lookup finds a [`METHOD_ASYNC`] charge succeeded.
    pub async_settle_after: Duration,
    /// Seeds the generator that picks the failing calls: the same seed and calls fail the same
    /// calls, run after run.
    pub seed: u64,
}

impl Default for SimulatedSettings {
    fn default() -> Self {
        SimulatedSettings {
            latency: Duration::ZERO,
            failure_rate: 0.0,
            answer_delay: Duration::from_secs(30),
            async_settle_after: Duration::ZERO,
            seed: 0x5eed_cafe_f00d_d00d,
        }
    }
}

/// The simulated processor ([`ProcessorKind::Simulated`]). Answers by payment method:
///
/// | method | answer |
/// |---|---|
/// | `pm_card_visa` | succeeded |
/// | `pm_card_visa_chargeDeclined` | declined, `card_declined` |
/// | `pm_card_visa_chargeDeclinedInsufficientFunds` | declined, `insufficient_funds` |
/// | `pm_card_simulated_timeout` | succeeded, answered after `answer_delay` |
/// | `pm_card_simulated_async` | pending; a lookup finds it succeeded after `async_settle_after` |
/// | anything else | declined, `resource_missing` |
///
/// A refund succeeds while the charge has succeeded and the amount is at most what is not yet
/// refunded. References look like Stripe's: `pi_sim_…` and `re_sim_…`.
#[derive(Clone, Debug)]
pub struct Simulated {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    settings: SimulatedSettings,
    calls: AtomicU64,
    charges_made: AtomicU64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// xorshift64* state; never zero.
    rng: u64,
    /// The first answer to each charge idempotency key.
    charge_answers: HashMap<String, Charged>,
    /// The first answer to each refund idempotency key.
    refund_answers: HashMap<String, Refunded>,
    /// The payment intents made, by reference.
    intents: HashMap<String, Intent>,
}

#[derive(Debug)]
struct Intent {
    amount_minor: i64,
    refunded_minor: i64,
    outcome: Outcome,
}

#[derive(Debug)]
enum Outcome {
    Succeeded,
    /// An asynchronous charge: succeeded from this instant on.
    SettlesAt(Instant),
    Declined(Failure),
}

impl Intent {
    fn charged(&self, reference: &str, now: Instant) -> Charged {
        let reference = reference.to_owned();
        match &self.outcome {
            Outcome::Succeeded => Charged::Succeeded { reference },
            Outcome::SettlesAt(at) if now >= *at => Charged::Succeeded { reference },
            Outcome::SettlesAt(_) => Charged::Pending { reference },
            Outcome::Declined(failure) => Charged::Declined { reference: Some(reference), failure: failure.clone() },
        }
    }
}

impl Default for Simulated {
    fn default() -> Self {
        Simulated::new(SimulatedSettings::default())
    }
}

impl Simulated {
    /// A simulated processor with no charges yet.
    pub fn new(settings: SimulatedSettings) -> Simulated {
        let rng = if settings.seed == 0 { SimulatedSettings::default().seed } else { settings.seed };
        let state =
            State { rng, charge_answers: HashMap::new(), refund_answers: HashMap::new(), intents: HashMap::new() };
        let shared =
            Shared { settings, calls: AtomicU64::new(0), charges_made: AtomicU64::new(0), state: state.into() };
        Simulated { shared: Arc::new(shared) }
    }

    /// How many distinct charges were processed: each new idempotency key counts once, whatever
    /// the outcome; a replayed key and an injected failure do not count.
    pub fn charges_made(&self) -> u64 {
        self.shared.charges_made.load(Ordering::SeqCst)
    }

    /// How many calls (charge, refund, lookup) were received, replays and failures included.
    pub fn calls(&self) -> u64 {
        self.shared.calls.load(Ordering::SeqCst)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock, so a poisoned state is still consistent.
        self.shared.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts the call, waits the latency, and draws whether it fails.
    async fn receive(&self) -> Result<(), ProcessorError> {
        self.shared.calls.fetch_add(1, Ordering::SeqCst);
        let settings = &self.shared.settings;
        if !settings.latency.is_zero() {
            tokio::time::sleep(settings.latency).await;
        }
        let rate = if settings.failure_rate.is_nan() { 0.0 } else { settings.failure_rate.clamp(0.0, 1.0) };
        if rate > 0.0 && self.state().next_unit() < rate {
            return Err(ProcessorError::Unknown { reason: SIMULATED_FAILURE.to_owned() });
        }
        Ok(())
    }

    async fn charge_now(&self, request: &ChargeRequest) -> Result<Charged, ProcessorError> {
        self.receive().await?;
        let (answer, late) = {
            let mut state = self.state();
            if let Some(answer) = state.charge_answers.get(&request.idempotency_key) {
                (answer.clone(), false)
            } else {
                self.shared.charges_made.fetch_add(1, Ordering::SeqCst);
                let (answer, late) = self.create_intent(&mut state, request);
                state.charge_answers.insert(request.idempotency_key.clone(), answer.clone());
                (answer, late)
            }
        };
        if late {
            tokio::time::sleep(self.shared.settings.answer_delay).await;
        }
        Ok(answer)
    }

    /// Makes the intent a new charge asks for: its first answer, and whether it comes late.
    fn create_intent(&self, state: &mut State, request: &ChargeRequest) -> (Charged, bool) {
        let method = request.method.as_str();
        let outcome = match method {
            METHOD_VISA | METHOD_TIMEOUT => Outcome::Succeeded,
            METHOD_ASYNC => Outcome::SettlesAt(Instant::now() + self.shared.settings.async_settle_after),
            METHOD_DECLINED => Outcome::Declined(Failure::new("card_declined", "Your card was declined.")),
            METHOD_INSUFFICIENT_FUNDS => {
                Outcome::Declined(Failure::new("insufficient_funds", "Your card has insufficient funds."))
            }
            // Stripe makes no intent for a method it does not know.
            unknown => {
                let failure = Failure::new("resource_missing", format!("No such PaymentMethod: '{unknown}'"));
                return (Charged::Declined { reference: None, failure }, false);
            }
        };
        let reference = format!("pi_sim_{}", Uuid::new_v4().simple());
        let answer = match &outcome {
            Outcome::Succeeded => Charged::Succeeded { reference: reference.clone() },
            // The first answer to an asynchronous charge is pending, however soon it settles.
            Outcome::SettlesAt(_) => Charged::Pending { reference: reference.clone() },
            Outcome::Declined(failure) => {
                Charged::Declined { reference: Some(reference.clone()), failure: failure.clone() }
            }
        };
        state.intents.insert(reference, Intent { amount_minor: request.amount.minor(), refunded_minor: 0, outcome });
        (answer, method == METHOD_TIMEOUT)
    }

    async fn refund_now(&self, request: &RefundRequest) -> Result<Refunded, ProcessorError> {
        self.receive().await?;
        let mut state = self.state();
        if let Some(answer) = state.refund_answers.get(&request.idempotency_key) {
            return Ok(answer.clone());
        }
        let answer = refund_intent(&mut state, request);
        state.refund_answers.insert(request.idempotency_key.clone(), answer.clone());
        Ok(answer)
    }

    async fn lookup_now(&self, reference: &str) -> Result<Charged, ProcessorError> {
        self.receive().await?;
        let state = self.state();
        Ok(state
            .intents
            .get(reference)
            .map_or_else(|| no_such_intent(reference), |i| i.charged(reference, Instant::now())))
    }
}

/// Refunds `request.amount` of its intent when the intent allows it.
fn refund_intent(state: &mut State, request: &RefundRequest) -> Refunded {
    let reference = &request.charge_reference;
    let failed =
        |code: &str, message: String| Refunded::Failed { reference: None, failure: Failure::new(code, message) };
    let Some(intent) = state.intents.get_mut(reference) else {
        return failed("resource_missing", format!("No such payment_intent: '{reference}'"));
    };
    if !matches!(intent.charged(reference, Instant::now()), Charged::Succeeded { .. }) {
        return failed(
            "payment_intent_unexpected_state",
            format!("PaymentIntent {reference} has not succeeded, so it cannot be refunded."),
        );
    }
    let left = intent.amount_minor - intent.refunded_minor;
    let amount = request.amount.minor();
    if left <= 0 {
        return failed("charge_already_refunded", format!("Charge {reference} has already been refunded."));
    }
    if amount <= 0 {
        return failed("amount_too_small", "The refund amount must be positive.".to_owned());
    }
    if amount > left {
        return failed(
            "amount_too_large",
            format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({left})."),
        );
    }
    intent.refunded_minor += amount;
    Refunded::Succeeded { reference: format!("re_sim_{}", Uuid::new_v4().simple()) }
}

fn no_such_intent(reference: &str) -> Charged {
    Charged::Declined {
        reference: None,
        failure: Failure::new("resource_missing", format!("No such payment_intent: '{reference}'")),
    }
}

impl State {
    /// The next number of the generator, in [0, 1).
    fn next_unit(&mut self) -> f64 {
        // xorshift64*: tiny, fast and plenty for picking which calls fail.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        let bits = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        // 53 random bits over 2^53: exact in an f64.
        bits as f64 / (1u64 << 53) as f64
    }
}

impl PaymentProcessor for Simulated {
    fn kind(&self) -> ProcessorKind {
        ProcessorKind::Simulated
    }

    fn ready(&self) -> Result<(), u64> {
        Ok(())
    }

    fn charge<'a>(&'a self, request: &'a ChargeRequest) -> BoxFuture<'a, Result<Charged, ProcessorError>> {
        Box::pin(self.charge_now(request))
    }

    fn refund<'a>(&'a self, request: &'a RefundRequest) -> BoxFuture<'a, Result<Refunded, ProcessorError>> {
        Box::pin(self.refund_now(request))
    }

    fn lookup<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<Charged, ProcessorError>> {
        Box::pin(self.lookup_now(reference))
    }

    fn parse_event(&self, body: &[u8]) -> Result<ProcessorEvent, String> {
        crate::events::parse_event(body)
    }
}
