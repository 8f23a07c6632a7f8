//! The delivery worker's rules: [`claim_due`] takes deliveries that are due (never one another
//! process holds), [`attempt_delivery`] sends one signed attempt and records how it ended, and
//! [`judge`] decides what an answer means: 2xx is delivered; 429, 5xx, timeouts and connection
//! failures are retried after an exponential backoff with jitter (at least what `Retry-After`
//! asked) until the attempts run out (`DEAD`); any other answer (4xx, a redirect, which is never
//! followed) and a target the SSRF guard refuses fail at once (`FAILED`).

use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{
    Attempt, Claim, Delivery, DeliveryStatus, EndpointStatus, NextStep, SendFailure, SendOutcome, WebhookMessage,
};
use crate::auth::job_scope;
use crate::error::DomainError;
use crate::events::webhook_body;
use crate::ids::EventId;
use crate::ports::{Crypto, Ports, Store, Tx, WebhookRepo};

/// How the worker retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Attempts before a delivery is `DEAD`.
    pub max_attempts: u32,
    /// The delay after the first failed attempt; it doubles with each further one.
    pub backoff_base: Duration,
    /// The longest delay between two attempts (also caps `Retry-After`).
    pub backoff_max: Duration,
    /// How long a claim holds a delivery: longer than one attempt can take, so a claim only
    /// runs out when its process died.
    pub lease: Duration,
    /// Attempts in flight per endpoint at most, across processes.
    pub per_endpoint: u32,
}

/// The `webhook-id` of an event's deliveries: the same for every attempt and every redelivery,
/// so receivers can drop what they already processed.
pub fn webhook_id(event: EventId) -> String {
    format!("evt_{}", event.uuid().simple())
}

/// The delay before the attempt after failed attempt number `attempt` (1-based):
/// `base · 2^(attempt-1)`, capped at the policy's maximum, scaled by `jitter` (taken into
/// `[0.5, 1]`, so workers that failed together spread out), and never shorter than the
/// receiver's `Retry-After` (itself capped at the maximum).
pub fn backoff(policy: &DeliveryPolicy, attempt: u32, jitter: f64, retry_after: Option<Duration>) -> Duration {
    let doublings = attempt.saturating_sub(1).min(30);
    let exponential = policy.backoff_base.saturating_mul(1 << doublings).min(policy.backoff_max);
    let jitter = if jitter.is_finite() { jitter.clamp(0.5, 1.0) } else { 1.0 };
    let spread = exponential.mul_f64(jitter);
    match retry_after {
        Some(asked) => spread.max(asked.min(policy.backoff_max)),
        None => spread,
    }
}

/// What attempt number `attempt` of a delivery means, given what it got: the delivery's next
/// step and the error shown in its log (`None` for a 2xx).
pub fn judge(
    policy: &DeliveryPolicy,
    attempt: u32,
    outcome: &SendOutcome,
    jitter: f64,
    now: OffsetDateTime,
) -> (NextStep, Option<String>) {
    let finished = |status| NextStep { status, next_attempt_at: None, at: now };
    let retry = |error: String| {
        if attempt >= policy.max_attempts {
            return (finished(DeliveryStatus::Dead), Some(format!("{error}; no attempts left")));
        }
        let delay = backoff(policy, attempt, jitter, outcome.retry_after);
        let at = now + delay;
        (NextStep { status: DeliveryStatus::Pending, next_attempt_at: Some(at), at: now }, Some(error))
    };
    match (outcome.status, &outcome.failure) {
        (Some(status), _) if (200..300).contains(&status) => (finished(DeliveryStatus::Delivered), None),
        (Some(status), _) if status == 429 || status >= 500 => retry(format!("the receiver answered {status}")),
        (Some(status), _) if (300..400).contains(&status) => (
            finished(DeliveryStatus::Failed),
            Some(format!("the receiver answered {status}, a redirect; webhooks never follow redirects")),
        ),
        (Some(status), _) => {
            (finished(DeliveryStatus::Failed), Some(format!("the receiver answered {status}; not retried")))
        }
        (None, Some(SendFailure::Refused(reason))) => {
            (finished(DeliveryStatus::Failed), Some(format!("refused: {reason}")))
        }
        (None, Some(SendFailure::Timeout)) => retry("no answer before the timeout".to_owned()),
        (None, Some(SendFailure::Connect(reason))) => retry(format!("could not connect: {reason}")),
        (None, None) => retry("no answer".to_owned()),
    }
}

/// Claims up to `limit` due deliveries of any tenant for this worker, each leased for the
/// policy's lease under one new lease id, which the attempts present when they finish.
///
/// # Errors
/// Storage failures; nothing was claimed.
pub async fn claim_due<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    policy: &DeliveryPolicy,
    limit: u32,
) -> Result<(Uuid, Vec<Claim>), DomainError> {
    let now = ports.clock.now();
    let lease = Uuid::now_v7();
    let claims = ports.store.claim_deliveries(now, now + policy.lease, lease, limit, policy.per_endpoint).await?;
    Ok((lease, claims))
}

/// Sends attempt `claim.attempt` of a claimed delivery and records it. A delivery that was
/// deleted, cancelled or whose endpoint was disabled since the claim is not sent. Returns the
/// delivery's status afterwards (`None` when it is gone).
///
/// # Errors
/// Storage failures; the claim then runs out and another attempt follows.
#[tracing::instrument(name = "webhooks.attempt", skip_all,
    fields(tenant.id = %claim.tenant, webhook_delivery.id = %claim.delivery, attempt = claim.attempt))]
pub async fn attempt_delivery<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    policy: &DeliveryPolicy,
    lease: Uuid,
    claim: Claim,
    jitter: f64,
) -> Result<Option<DeliveryStatus>, DomainError> {
    let scope = job_scope(claim.tenant);
    let tx = ports.store.begin_read(&scope).await?;
    let Some(delivery) = tx.delivery(&scope, claim.delivery).await? else { return Ok(None) };
    let endpoint = tx.endpoint(&scope, delivery.endpoint).await?;
    let event = tx.stored_event(&scope, delivery.event).await?;
    let logged = tx.attempts_of(&scope, &[delivery.id]).await?;
    tx.commit().await?;
    let (Some(endpoint), Some(event)) = (endpoint, event) else { return Ok(None) };
    if delivery.status != DeliveryStatus::Pending || endpoint.status == EndpointStatus::Disabled {
        return Ok(Some(delivery.status));
    }

    let at = ports.clock.now();
    let body = webhook_body(&event.kind, event.at, &event.payload).map_err(DomainError::internal)?;
    let message = WebhookMessage {
        url: endpoint.url.clone(),
        id: webhook_id(event.id),
        timestamp: at,
        body,
        secrets: endpoint.signing_secrets(at),
    };
    let outcome = ports.webhooks.send(&message).await;
    let now = ports.clock.now();
    let (next, error) = judge(policy, claim.attempt, &outcome, jitter, now);
    let mut attempts = lost_attempts(&delivery, claim.attempt, &logged);
    attempts.push(Attempt {
        delivery: claim.delivery,
        number: claim.attempt,
        at,
        http_status: outcome.status,
        duration: outcome.duration,
        error,
    });

    let tx = ports.store.begin(&scope).await?;
    let moved = tx.finish_attempt(&scope, lease, &attempts, &next).await?;
    tx.commit().await?;
    if !moved {
        tracing::warn!("an attempt ended after its delivery was cancelled or its claim ran out; recorded only");
        return Ok(None);
    }
    Ok(Some(next.status))
}

/// The attempts before `attempt` that were claimed but never recorded: their process stopped
/// mid-attempt and the claim ran out. Each is logged with no answer, so the log counts every
/// attempt the delivery used; its time is the delivery's last change (when it was claimed).
fn lost_attempts(delivery: &Delivery, attempt: u32, logged: &[Attempt]) -> Vec<Attempt> {
    (1..attempt)
        .filter(|number| !logged.iter().any(|known| known.number == *number))
        .map(|number| Attempt {
            delivery: delivery.id,
            number,
            at: delivery.updated_at,
            http_status: None,
            duration: Duration::ZERO,
            error: Some("no outcome recorded: the process sending this attempt stopped before it ended".to_owned()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> DeliveryPolicy {
        DeliveryPolicy {
            max_attempts: 5,
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(3600),
            lease: Duration::from_secs(15),
            per_endpoint: 4,
        }
    }

    fn answered(status: u16) -> SendOutcome {
        SendOutcome { status: Some(status), retry_after: None, duration: Duration::from_millis(5), failure: None }
    }

    fn failed(failure: SendFailure) -> SendOutcome {
        SendOutcome { status: None, retry_after: None, duration: Duration::from_millis(5), failure: Some(failure) }
    }

    #[test]
    fn backoff_doubles_is_capped_and_jittered_into_the_upper_half() {
        let policy = policy();
        assert_eq!(backoff(&policy, 1, 1.0, None), Duration::from_secs(10));
        assert_eq!(backoff(&policy, 2, 1.0, None), Duration::from_secs(20));
        assert_eq!(backoff(&policy, 4, 1.0, None), Duration::from_secs(80));
        assert_eq!(backoff(&policy, 4, 0.5, None), Duration::from_secs(40));
        assert_eq!(backoff(&policy, 4, 0.0, None), Duration::from_secs(40), "jitter never goes below half");
        assert_eq!(backoff(&policy, 4, f64::NAN, None), Duration::from_secs(80));
        assert_eq!(backoff(&policy, 30, 1.0, None), Duration::from_secs(3600));
        assert_eq!(backoff(&policy, u32::MAX, 1.0, None), Duration::from_secs(3600));
    }

    #[test]
    fn retry_after_lengthens_the_backoff_but_never_beyond_the_maximum() {
        let policy = policy();
        assert_eq!(backoff(&policy, 1, 1.0, Some(Duration::from_secs(120))), Duration::from_secs(120));
        assert_eq!(backoff(&policy, 3, 1.0, Some(Duration::from_secs(1))), Duration::from_secs(40));
        assert_eq!(backoff(&policy, 1, 1.0, Some(Duration::from_secs(86_400 * 365))), Duration::from_secs(3600));
    }

    #[test]
    fn a_2xx_is_delivered_and_logs_no_error() {
        let now = OffsetDateTime::UNIX_EPOCH;
        for status in [200, 201, 204, 299] {
            let (next, error) = judge(&policy(), 1, &answered(status), 1.0, now);
            assert_eq!(next.status, DeliveryStatus::Delivered);
            assert_eq!((next.next_attempt_at, error), (None, None));
        }
    }

    #[test]
    fn server_errors_throttling_timeouts_and_connection_failures_are_retried() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let outcomes = [
            answered(500),
            answered(503),
            answered(429),
            failed(SendFailure::Timeout),
            failed(SendFailure::Connect("connection refused".into())),
        ];
        for outcome in outcomes {
            let (next, error) = judge(&policy(), 2, &outcome, 1.0, now);
            assert_eq!(next.status, DeliveryStatus::Pending, "{outcome:?}");
            assert_eq!(next.next_attempt_at, Some(now + Duration::from_secs(20)));
            assert!(error.is_some());
        }
    }

    #[test]
    fn the_last_allowed_attempt_failing_makes_the_delivery_dead() {
        let (next, error) = judge(&policy(), 5, &answered(500), 1.0, OffsetDateTime::UNIX_EPOCH);
        assert_eq!((next.status, next.next_attempt_at), (DeliveryStatus::Dead, None));
        assert!(error.is_some_and(|e| e.contains("no attempts left")));
    }

    #[test]
    fn client_errors_redirects_and_refused_targets_fail_without_retry() {
        let now = OffsetDateTime::UNIX_EPOCH;
        for outcome in [answered(400), answered(404), answered(410), answered(302), answered(101)] {
            let (next, error) = judge(&policy(), 1, &outcome, 1.0, now);
            assert_eq!((next.status, next.next_attempt_at), (DeliveryStatus::Failed, None), "{outcome:?}");
            assert!(error.is_some());
        }
        let (next, error) = judge(&policy(), 1, &failed(SendFailure::Refused("10.0.0.1".into())), 1.0, now);
        assert_eq!(next.status, DeliveryStatus::Failed);
        assert!(error.is_some_and(|e| e.contains("10.0.0.1")));
    }

    #[test]
    fn the_webhook_id_is_the_events_id_with_a_prefix() {
        let event = EventId::from_uuid(Uuid::nil());
        assert_eq!(webhook_id(event), "evt_00000000000000000000000000000000");
    }
}
