//! What the storage layer records through the `metrics` facade: how long transactions wait for
//! a pooled connection, how many wait now, and how many gave up. The server installs the
//! recorder and renders it; without one these calls cost next to nothing.

use std::future::Future;
use std::time::Instant;

use sea_orm::{ConnAcquireErr, DbErr};

/// Transactions waiting for a pooled connection (and their `BEGIN`), now.
pub const POOL_WAITING: &str = "keel_db_pool_waiting";
/// Seconds from asking for a transaction to having one: the wait for a pooled connection plus
/// the `BEGIN` round trip.
pub const POOL_ACQUIRE: &str = "keel_db_pool_acquire_seconds";
/// Transactions refused because no connection freed up within the acquire timeout.
pub const POOL_TIMEOUTS: &str = "keel_db_pool_timeouts_total";

/// Gives the recorder the help text of these metrics; call once it is installed.
pub fn describe() {
    metrics::describe_gauge!(POOL_WAITING, "Transactions waiting for a pooled connection (and BEGIN).");
    metrics::describe_histogram!(
        POOL_ACQUIRE,
        metrics::Unit::Seconds,
        "Time to take a pooled connection and begin a transaction."
    );
    metrics::describe_counter!(POOL_TIMEOUTS, "Transactions refused because no pooled connection freed up in time.");
}

/// Runs `begin`, counting it as waiting while it runs and recording how long it took.
pub(crate) async fn acquiring<T>(begin: impl Future<Output = Result<T, DbErr>>) -> Result<T, DbErr> {
    let waiting = metrics::gauge!(POOL_WAITING);
    waiting.increment(1.0);
    let started = Instant::now();
    let result = begin.await;
    waiting.decrement(1.0);
    metrics::histogram!(POOL_ACQUIRE).record(started.elapsed());
    if matches!(&result, Err(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))) {
        metrics::counter!(POOL_TIMEOUTS).increment(1);
    }
    result
}
