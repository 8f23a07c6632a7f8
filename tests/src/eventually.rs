//! Waiting for what happens in the background (a webhook sent, a delivery logged, a job run):
//! [`eventually`] asks a probe again and again until it reports done or a deadline passes, then
//! fails showing the last state the probe saw. No test sleeps a fixed time and hopes.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long [`eventually`] waits between two probes.
const PAUSE: Duration = Duration::from_millis(50);

/// Runs `probe` until it returns `Ok`, and returns that value. `Err` carries what the probe
/// saw (shown if the wait fails).
///
/// # Panics
/// When `deadline` passes first, naming `what` and the last state seen.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match probe().await {
            Ok(done) => return done,
            Err(seen) => assert!(started.elapsed() < deadline, "{what}: not within {deadline:?}; last seen: {seen}"),
        }
        tokio::time::sleep(PAUSE).await;
    }
}
