//! Prometheus metrics: the process-wide recorder, the names of Keel's metrics, and the bound on
//! operation-name labels.
//!
//! Every crate records through the `metrics` facade (persistence its pool waits, processors its
//! calls and circuit breaker, each describing its own metrics); this module installs the one
//! recorder they all reach, and `http::metrics` renders it at `GET /metrics`. Gauges that describe state rather than events (the pool, the outbox
//! lag) are read when a scrape arrives, not kept up to date on every change.
//!
//! Label values never come from user input without a bound: operation names are kept for the
//! first [`Metrics::max_operations`] distinct valid names this process sees and fold into
//! `other` after that, anonymous operations are `anonymous`, and a document that names no
//! operation the server could select is `unknown`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// GraphQL requests by operation and type.
pub const GRAPHQL_REQUESTS: &str = "keel_graphql_requests_total";
/// GraphQL request latency by operation and type, from the parsed body to the encoded response.
pub const GRAPHQL_DURATION: &str = "keel_graphql_request_duration_seconds";
/// GraphQL errors by `extensions.code`.
pub const GRAPHQL_ERRORS: &str = "keel_graphql_errors_total";
/// Requests refused by a rate limit (`RATE_LIMITED`), by operation.
pub const RATE_LIMITED: &str = "keel_rate_limited_total";
/// HTTP responses by route and status.
pub const HTTP_RESPONSES: &str = "keel_http_responses_total";
/// Pooled database connections by state (`in_use`, `idle`), read at scrape time.
pub const DB_POOL_CONNECTIONS: &str = "keel_db_pool_connections";
/// The pool's size limit.
pub const DB_POOL_MAX: &str = "keel_db_pool_max_connections";
/// Age of the oldest event with an undelivered webhook delivery, read at scrape time.
pub const OUTBOX_LAG: &str = "keel_outbox_lag_seconds";
/// Webhook deliveries waiting to be attempted, read at scrape time.
pub const WEBHOOK_PENDING: &str = "keel_webhook_deliveries_pending";
/// Webhook attempts by outcome.
pub const WEBHOOK_ATTEMPTS: &str = "keel_webhook_attempts_total";
/// Webhook attempt latency, from claim to recorded outcome.
pub const WEBHOOK_DURATION: &str = "keel_webhook_attempt_duration_seconds";
/// A constant 1 labelled with the running version.
pub const BUILD_INFO: &str = "keel_build_info";

/// Latency buckets in seconds, for every `_seconds` histogram: from 1 ms (a cached read) to
/// 30 s (a request deadline).
const BUCKETS: [f64; 16] =
    [0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Longest operation name kept as a label.
const MAX_OPERATION_NAME: usize = 64;

/// The label of an operation without a name.
pub const ANONYMOUS: &str = "anonymous";
/// The label of a request whose operation could not be selected (unparsable, or a name the
/// document does not have).
pub const UNKNOWN: &str = "unknown";
/// The label of every name past the bound.
pub const OTHER: &str = "other";

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's metrics: where they render from, and the operation names seen.
pub struct Metrics {
    handle: PrometheusHandle,
    operations: Mutex<HashSet<Box<str>>>,
    max_operations: usize,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("max_operations", &self.max_operations).finish_non_exhaustive()
    }
}

impl Metrics {
    /// The process-wide recorder (installed by the first call; several servers in one process,
    /// as in tests, share it) with its own bound of `max_operations` operation names.
    pub fn install(max_operations: usize) -> Arc<Metrics> {
        let handle = RECORDER.get_or_init(|| {
            let builder = PrometheusBuilder::new();
            // Only a non-empty bucket list is refused, and this one is not.
            let builder = builder
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics shows only what reaches this one");
            }
            describe();
            metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        });
        Arc::new(Metrics { handle: handle.clone(), operations: Mutex::new(HashSet::new()), max_operations })
    }

    /// How many distinct operation names get their own label.
    pub fn max_operations(&self) -> usize {
        self.max_operations
    }

    /// The label for an operation: its name while the bound allows, else [`OTHER`].
    pub fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name else { return ANONYMOUS.to_owned() };
        if !valid_name(name) {
            return OTHER.to_owned();
        }
        let mut seen = self.operations.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.contains(name) {
            return name.to_owned();
        }
        if seen.len() < self.max_operations {
            seen.insert(name.into());
            return name.to_owned();
        }
        OTHER.to_owned()
    }

    /// Counts one GraphQL request and its latency.
    pub fn graphql_request(&self, operation: String, kind: &'static str, elapsed: Duration) {
        metrics::counter!(GRAPHQL_REQUESTS, "operation" => operation.clone(), "type" => kind).increment(1);
        metrics::histogram!(GRAPHQL_DURATION, "operation" => operation, "type" => kind).record(elapsed);
    }

    /// The current metrics in Prometheus text format.
    pub fn render(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }
}

/// Counts one GraphQL error by its code (a fixed list, so the label is bounded).
pub fn graphql_error(code: &str, operation: Option<&str>) {
    metrics::counter!(GRAPHQL_ERRORS, "code" => code.to_owned()).increment(1);
    if code == "RATE_LIMITED" {
        metrics::counter!(RATE_LIMITED, "operation" => operation.unwrap_or(UNKNOWN).to_owned()).increment(1);
    }
}

/// A GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`) short enough to be a label.
fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= MAX_OPERATION_NAME
        && bytes.next().is_some_and(|first| first == b'_' || first.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

/// The help text of every metric, in one place.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(GRAPHQL_REQUESTS, "GraphQL requests by operation name and type.");
    describe_histogram!(
        GRAPHQL_DURATION,
        metrics::Unit::Seconds,
        "GraphQL request latency by operation name and type."
    );
    describe_counter!(GRAPHQL_ERRORS, "GraphQL errors by extensions.code.");
    describe_counter!(RATE_LIMITED, "Requests refused with RATE_LIMITED, by operation name.");
    describe_counter!(HTTP_RESPONSES, "HTTP responses by route and status.");
    describe_gauge!(DB_POOL_CONNECTIONS, "Pooled database connections by state (in_use, idle).");
    describe_gauge!(DB_POOL_MAX, "Most pooled database connections (KEEL_DATABASE_MAX_CONNECTIONS).");
    describe_gauge!(OUTBOX_LAG, "Age of the oldest event whose webhook delivery is still pending (0 when none).");
    describe_gauge!(WEBHOOK_PENDING, "Webhook deliveries waiting for an attempt.");
    describe_counter!(
        WEBHOOK_ATTEMPTS,
        "Webhook delivery attempts by outcome (delivered, retry, failed, dead, skipped, error)."
    );
    describe_histogram!(WEBHOOK_DURATION, metrics::Unit::Seconds, "Webhook delivery attempt latency.");
    describe_gauge!(BUILD_INFO, "Always 1; labelled with the running version.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_bounded_and_validated() {
        let metrics = Metrics::install(2);
        assert_eq!(metrics.operation_label(None), ANONYMOUS);
        assert_eq!(metrics.operation_label(Some("First")), "First");
        assert_eq!(metrics.operation_label(Some("second_2")), "second_2");
        assert_eq!(metrics.operation_label(Some("Third")), OTHER, "past the bound");
        assert_eq!(metrics.operation_label(Some("First")), "First", "a known name keeps its label");
        assert_eq!(metrics.operation_label(Some("bad name\"}")), OTHER);
        assert_eq!(metrics.operation_label(Some(&"x".repeat(65))), OTHER);
        assert_eq!(metrics.operation_label(Some("9lives")), OTHER);
    }
}
