//! Running a transaction again when the database aborts it for contention (a deadlock, a
//! serialization failure, a busy lock), so no such error reaches a client.

use std::future::Future;

use crate::error::DomainError;

/// How many times a transaction aborted by contention is run again before giving up.
const ATTEMPTS: usize = 8;

/// Runs `attempt` again while the database aborts it for contention.
pub(crate) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, DomainError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DomainError>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(DomainError::Contention(source)) if tries < ATTEMPTS => {
                tracing::debug!(error = %source, tries, "transaction aborted by contention; running it again");
                tries += 1;
            }
            other => return other,
        }
    }
}
