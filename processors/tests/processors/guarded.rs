//! The guard: the timeout, and the circuit breaker's closed, open and half-open states, against
//! a fake processor that counts its calls. Time is tokio's paused clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::payments::{
    BoxFuture, ChargeRequest, Charged, Failure, ProcessorError, ProcessorEvent, ProcessorKind, RefundRequest, Refunded,
};
use domain::ports::PaymentProcessor;
use processors::{BreakerState, GuardSettings, Guarded, Simulated};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::{charge, refund};

/// What the fake answers.
#[derive(Clone, Copy, Debug)]
enum Behaviour {
    Succeed,
    Decline,
    Fail,
    /// Never answers.
    Hang,
    /// Waits until `Fake::release`, then behaves as the behaviour set then.
    WaitForRelease,
}

/// A processor that counts its calls and answers as told.
#[derive(Clone)]
struct Fake {
    calls: Arc<AtomicUsize>,
    behaviour: Arc<Mutex<Behaviour>>,
    release: Arc<Notify>,
}

impl Fake {
    fn new(behaviour: Behaviour) -> Fake {
        Fake {
            calls: Arc::new(AtomicUsize::new(0)),
            behaviour: Arc::new(Mutex::new(behaviour)),
            release: Arc::new(Notify::new()),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().expect("behaviour") = behaviour;
    }

    fn release(&self, then: Behaviour) {
        self.set(then);
        self.release.notify_one();
    }

    async fn answer(&self) -> Result<Charged, ProcessorError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let behaviour = *self.behaviour.lock().expect("behaviour");
        let behaviour = match behaviour {
            Behaviour::WaitForRelease => {
                self.release.notified().await;
                *self.behaviour.lock().expect("behaviour")
            }
            other => other,
        };
        match behaviour {
            Behaviour::Succeed => Ok(Charged::Succeeded { reference: "pi_fake".into() }),
            Behaviour::Decline => {
                Ok(Charged::Declined { reference: None, failure: Failure::new("card_declined", "Declined.") })
            }
            Behaviour::Fail => Err(ProcessorError::Unknown { reason: "fake failure".into() }),
            Behaviour::Hang | Behaviour::WaitForRelease => std::future::pending().await,
        }
    }
}

impl PaymentProcessor for Fake {
    fn kind(&self) -> ProcessorKind {
        ProcessorKind::Http
    }

    fn ready(&self) -> Result<(), u64> {
        Ok(())
    }

    fn charge<'a>(&'a self, _: &'a ChargeRequest) -> BoxFuture<'a, Result<Charged, ProcessorError>> {
        Box::pin(self.answer())
    }

    fn refund<'a>(&'a self, _: &'a RefundRequest) -> BoxFuture<'a, Result<Refunded, ProcessorError>> {
        Box::pin(async move { self.answer().await.map(|_| Refunded::Succeeded { reference: "re_fake".into() }) })
    }

    fn lookup<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Charged, ProcessorError>> {
        Box::pin(self.answer())
    }

    fn parse_event(&self, _: &[u8]) -> Result<ProcessorEvent, String> {
        Err("the fake parses nothing".into())
    }
}

const OPEN_FOR: Duration = Duration::from_secs(30);

fn guarded(behaviour: Behaviour) -> (Guarded<Fake>, Fake) {
    let fake = Fake::new(behaviour);
    let settings = GuardSettings { timeout: Duration::from_secs(2), failure_threshold: 5, open_for: OPEN_FOR };
    (Guarded::new(fake.clone(), settings), fake)
}

fn is_breaker_refusal(answer: &Result<Charged, ProcessorError>) -> bool {
    matches!(answer, Err(ProcessorError::NotSent { reason, .. }) if reason == "circuit breaker open")
}

async fn fail_times(guard: &Guarded<Fake>, times: usize) {
    for _ in 0..times {
        let answer = guard.charge(&charge("pm_card_visa", "k")).await;
        assert!(matches!(answer, Err(ProcessorError::Unknown { .. })), "{answer:?}");
    }
}

/// Lets spawned tasks run until the fake has received `calls` calls.
async fn until_calls(fake: &Fake, calls: usize) {
    while fake.calls() < calls {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_breaker_opens_after_the_threshold_and_then_fails_fast_without_calling() {
    let (guard, fake) = guarded(Behaviour::Fail);

    fail_times(&guard, 4).await;
    assert_eq!(guard.state(), BreakerState::Closed);
    fail_times(&guard, 1).await;
    let refused = guard.charge(&charge("pm_card_visa", "k")).await;

    assert_eq!(guard.state(), BreakerState::Open);
    assert_eq!(refused, Err(ProcessorError::NotSent { reason: "circuit breaker open".into(), retry_after_secs: 30 }));
    assert!(matches!(guard.refund(&refund("pi_1", 1, "r")).await, Err(ProcessorError::NotSent { .. })));
    assert!(matches!(guard.lookup("pi_1").await, Err(ProcessorError::NotSent { .. })));
    assert_eq!(fake.calls(), 5, "no call reached the processor while open");
    assert_eq!(guard.ready(), Err(30));
    tokio::time::advance(Duration::from_millis(20_500)).await;
    assert_eq!(guard.ready(), Err(10), "seconds left, rounded up");
}

#[tokio::test(start_paused = true)]
async fn an_answer_resets_the_count_and_a_decline_is_an_answer() {
    let (guard, fake) = guarded(Behaviour::Fail);

    fail_times(&guard, 4).await;
    fake.set(Behaviour::Decline);
    let declined = guard.charge(&charge("pm_card_visa", "k")).await;
    fake.set(Behaviour::Fail);
    fail_times(&guard, 4).await;

    assert!(matches!(declined, Ok(Charged::Declined { .. })));
    assert_eq!(guard.state(), BreakerState::Closed);
    assert_eq!(guard.ready(), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_call_without_an_answer_in_time_is_unknown_and_counts_as_a_failure() {
    let (guard, fake) = guarded(Behaviour::Hang);
    let started = Instant::now();

    let answer = guard.charge(&charge("pm_card_visa", "k")).await;

    assert_eq!(answer, Err(ProcessorError::Unknown { reason: "no answer within 2000 ms".into() }));
    assert!(started.elapsed() >= Duration::from_secs(2) && started.elapsed() < Duration::from_secs(3));
    for _ in 0..4 {
        guard.lookup("pi_1").await.expect_err("a timeout");
    }
    assert_eq!(guard.state(), BreakerState::Open);
    assert_eq!(fake.calls(), 5);
}

#[tokio::test(start_paused = true)]
async fn half_open_lets_one_trial_through_and_its_answer_closes_the_breaker() {
    let (guard, fake) = guarded(Behaviour::Fail);
    let guard = Arc::new(guard);
    fail_times(&guard, 5).await;
    tokio::time::advance(OPEN_FOR).await;
    assert_eq!(guard.state(), BreakerState::HalfOpen);
    assert_eq!(guard.ready(), Ok(()));
    fake.set(Behaviour::WaitForRelease);

    let trial = tokio::spawn({
        let guard = Arc::clone(&guard);
        async move { guard.charge(&charge("pm_card_visa", "trial")).await }
    });
    until_calls(&fake, 6).await;
    let during = guard.charge(&charge("pm_card_visa", "other")).await;
    let ready_during = guard.ready();
    fake.release(Behaviour::Succeed);
    let trial = trial.await.expect("the trial task");

    assert!(is_breaker_refusal(&during), "{during:?}");
    assert_eq!(ready_during, Err(1));
    assert_eq!(fake.calls(), 6, "only the trial reached the processor");
    assert!(matches!(trial, Ok(Charged::Succeeded { .. })));
    assert_eq!(guard.state(), BreakerState::Closed);
    assert!(matches!(guard.charge(&charge("pm_card_visa", "after")).await, Ok(Charged::Succeeded { .. })));
    assert_eq!(fake.calls(), 7);
}

#[tokio::test(start_paused = true)]
async fn a_failed_trial_opens_the_breaker_again_for_the_whole_period() {
    let (guard, fake) = guarded(Behaviour::Fail);
    fail_times(&guard, 5).await;
    tokio::time::advance(OPEN_FOR).await;

    let trial = guard.charge(&charge("pm_card_visa", "trial")).await;

    assert!(matches!(trial, Err(ProcessorError::Unknown { .. })));
    assert_eq!(guard.state(), BreakerState::Open);
    assert_eq!(guard.ready(), Err(30));
    assert!(is_breaker_refusal(&guard.charge(&charge("pm_card_visa", "k")).await));
    assert_eq!(fake.calls(), 6);

    tokio::time::advance(OPEN_FOR).await;
    fake.set(Behaviour::Succeed);
    assert!(matches!(guard.charge(&charge("pm_card_visa", "k")).await, Ok(Charged::Succeeded { .. })));
    assert_eq!(guard.state(), BreakerState::Closed, "it recovers by itself");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_trial_lets_the_next_call_try() {
    let (guard, fake) = guarded(Behaviour::Fail);
    fail_times(&guard, 5).await;
    tokio::time::advance(OPEN_FOR).await;
    fake.set(Behaviour::Hang);

    let abandoned = tokio::time::timeout(Duration::from_millis(100), guard.charge(&charge("pm_card_visa", "t1"))).await;
    fake.set(Behaviour::Succeed);
    let next = guard.charge(&charge("pm_card_visa", "t2")).await;

    assert!(abandoned.is_err(), "the trial was dropped before it ended");
    assert!(matches!(next, Ok(Charged::Succeeded { .. })), "{next:?}");
    assert_eq!(guard.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_late_answer_from_before_the_breaker_opened_changes_nothing() {
    let fake = Fake::new(Behaviour::WaitForRelease);
    let settings = GuardSettings { timeout: Duration::from_secs(600), failure_threshold: 5, open_for: OPEN_FOR };
    let guard = Arc::new(Guarded::new(fake.clone(), settings));
    let spawn_charge = |key: &'static str| {
        let guard = Arc::clone(&guard);
        tokio::spawn(async move { guard.charge(&charge("pm_card_visa", key)).await })
    };
    let slow = spawn_charge("slow");
    until_calls(&fake, 1).await;
    fake.set(Behaviour::Fail);
    fail_times(&guard, 5).await;
    tokio::time::advance(OPEN_FOR).await;
    fake.set(Behaviour::Hang);
    let trial = spawn_charge("trial");
    until_calls(&fake, 7).await;

    fake.release(Behaviour::Succeed);
    let late = slow.await.expect("the slow task");

    assert!(matches!(late, Ok(Charged::Succeeded { .. })), "{late:?}");
    assert_eq!(guard.state(), BreakerState::HalfOpen, "the trial, not the late answer, decides");
    assert_eq!(guard.ready(), Err(1));
    trial.abort();
}

#[tokio::test]
async fn the_guard_delegates_kind_events_and_calls() {
    let guard = Guarded::new(Simulated::default(), GuardSettings::default());
    let body = br#"{"id":"evt_1","type":"customer.created","data":{"object":{}}}"#;

    let paid = guard.charge(&charge("pm_card_visa", "k1")).await;
    let Ok(Charged::Succeeded { reference }) = paid else { panic!("expected a success, got {paid:?}") };
    let refunded = guard.refund(&refund(&reference, 100, "r1")).await;

    assert_eq!(guard.kind(), ProcessorKind::Simulated);
    assert!(matches!(refunded, Ok(Refunded::Succeeded { .. })));
    assert!(matches!(guard.lookup(&reference).await, Ok(Charged::Succeeded { .. })));
    assert_eq!(guard.parse_event(body).map(|event| event.id), Ok("evt_1".to_owned()));
    assert_eq!(guard.inner().calls(), 3);
    assert_eq!(BreakerState::HalfOpen.as_str(), "half_open");
}
