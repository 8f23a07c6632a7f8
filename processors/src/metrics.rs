//! What the processor guard records through the `metrics` facade: every call by processor,
//! operation and outcome with its latency, and where the circuit breaker is.

use std::time::Duration;

use crate::guard::BreakerState;

/// Calls by `processor`, `operation` (`charge`, `refund`, `lookup`) and `outcome`.
pub const CALLS: &str = "keel_payment_processor_calls_total";
/// Latency of the calls that were sent, by `processor` and `operation`.
pub const CALL_DURATION: &str = "keel_payment_processor_call_duration_seconds";
/// The circuit breaker by `processor`: 0 closed, 1 half-open, 2 open.
pub const BREAKER_STATE: &str = "keel_payment_processor_breaker_state";

/// The processor answered (an approval or a decline).
pub const ANSWERED: &str = "answered";
/// The call certainly did not reach the processor.
pub const NOT_SENT: &str = "not_sent";
/// No answer: a timeout, a lost connection or a 5xx.
pub const UNKNOWN: &str = "unknown";
/// Refused at once by the open breaker.
pub const BREAKER_REFUSED: &str = "breaker_open";

/// Gives the recorder the help text of these metrics; call once it is installed.
pub fn describe() {
    ::metrics::describe_counter!(CALLS, "Payment processor calls by processor, operation and outcome.");
    ::metrics::describe_histogram!(
        CALL_DURATION,
        ::metrics::Unit::Seconds,
        "Payment processor call latency by processor and operation."
    );
    ::metrics::describe_gauge!(BREAKER_STATE, "Payment processor circuit breaker: 0 closed, 1 half-open, 2 open.");
}

pub(crate) fn call(processor: &'static str, operation: &'static str, outcome: &'static str, took: Option<Duration>) {
    ::metrics::counter!(CALLS, "processor" => processor, "operation" => operation, "outcome" => outcome).increment(1);
    if let Some(took) = took {
        ::metrics::histogram!(CALL_DURATION, "processor" => processor, "operation" => operation).record(took);
    }
}

pub(crate) fn breaker(processor: &'static str, state: BreakerState) {
    let value = match state {
        BreakerState::Closed => 0.0,
        BreakerState::HalfOpen => 1.0,
        BreakerState::Open => 2.0,
    };
    ::metrics::gauge!(BREAKER_STATE, "processor" => processor).set(value);
}
