//! The simulated processor: Stripe's test methods, Stripe's idempotency, refund limits, and
//! repeatable injected failures.

use std::time::Duration;

use domain::payments::{Charged, Failure, ProcessorError, ProcessorKind, Refunded};
use domain::ports::PaymentProcessor;
use processors::{Simulated, SimulatedSettings};
use tokio::time::Instant;

use crate::{charge, refund};

fn reference(answer: &Charged) -> String {
    match answer {
        Charged::Succeeded { reference } | Charged::Pending { reference } => reference.clone(),
        Charged::Declined { reference, .. } => reference.clone().expect("a declined intent with an id"),
    }
}

async fn paid(sim: &Simulated, key: &str) -> String {
    match sim.charge(&charge("pm_card_visa", key)).await {
        Ok(Charged::Succeeded { reference }) => reference,
        other => panic!("expected a success, got {other:?}"),
    }
}

#[tokio::test]
async fn pm_card_visa_succeeds_with_a_stripe_like_reference() {
    let sim = Simulated::default();

    let answer = sim.charge(&charge("pm_card_visa", "k1")).await;

    let Ok(Charged::Succeeded { reference }) = answer else { panic!("expected a success, got {answer:?}") };
    assert!(reference.starts_with("pi_sim_") && reference.len() == "pi_sim_".len() + 32, "{reference}");
    assert_eq!(sim.lookup(&reference).await, Ok(Charged::Succeeded { reference: reference.clone() }));
    assert_eq!((sim.charges_made(), sim.calls()), (1, 2));
    assert_eq!(sim.kind(), ProcessorKind::Simulated);
    assert_eq!(sim.ready(), Ok(()));
}

#[tokio::test]
async fn the_decline_methods_decline_with_stripes_codes() {
    let sim = Simulated::default();
    let cases = [
        ("pm_card_visa_chargeDeclined", "card_declined", "Your card was declined."),
        ("pm_card_visa_chargeDeclinedInsufficientFunds", "insufficient_funds", "Your card has insufficient funds."),
    ];

    for (method, code, message) in cases {
        let answer = sim.charge(&charge(method, method)).await;

        let Ok(Charged::Declined { reference: Some(reference), failure }) = answer else {
            panic!("{method}: expected a decline with a reference, got {answer:?}")
        };
        assert_eq!(failure, Failure::new(code, message), "{method}");
        assert!(
            matches!(sim.lookup(&reference).await, Ok(Charged::Declined { failure: f, .. }) if f.code == code),
            "{method}: a lookup tells the same"
        );
    }
}

#[tokio::test]
async fn an_unknown_method_is_a_missing_resource_without_an_intent() {
    let sim = Simulated::default();

    let answer = sim.charge(&charge("pm_card_mastercard", "k1")).await;

    assert_eq!(
        answer,
        Ok(Charged::Declined {
            reference: None,
            failure: Failure::new("resource_missing", "No such PaymentMethod: 'pm_card_mastercard'")
        })
    );
}

#[tokio::test]
async fn an_unknown_reference_is_a_missing_resource() {
    let sim = Simulated::default();

    let answer = sim.lookup("pi_sim_nothing").await;

    assert!(matches!(answer, Ok(Charged::Declined { reference: None, failure }) if failure.code == "resource_missing"));
}

#[tokio::test(start_paused = true)]
async fn the_timeout_method_charges_but_answers_after_the_answer_delay() {
    let sim = Simulated::default();
    let request = charge("pm_card_simulated_timeout", "k1");

    let gave_up = tokio::time::timeout(Duration::from_secs(10), sim.charge(&request)).await;
    let replayed = sim.charge(&request).await;

    assert!(gave_up.is_err(), "the first answer came within 10 s");
    let Ok(Charged::Succeeded { reference }) = replayed else { panic!("expected a success, got {replayed:?}") };
    assert_eq!(sim.lookup(&reference).await, Ok(Charged::Succeeded { reference: reference.clone() }));
    assert_eq!(sim.charges_made(), 1, "the lost answer's charge stands, once");

    let started = Instant::now();
    let late = sim.charge(&charge("pm_card_simulated_timeout", "k2")).await;

    assert!(matches!(late, Ok(Charged::Succeeded { .. })));
    assert!(started.elapsed() >= Duration::from_secs(30), "answered after {:?}", started.elapsed());
}

#[tokio::test(start_paused = true)]
async fn the_async_method_is_pending_until_it_settles() {
    let settings = SimulatedSettings { async_settle_after: Duration::from_secs(60), ..SimulatedSettings::default() };
    let sim = Simulated::new(settings);

    let first = sim.charge(&charge("pm_card_simulated_async", "k1")).await;
    let Ok(Charged::Pending { reference }) = first else { panic!("expected pending, got {first:?}") };
    let early = sim.lookup(&reference).await;
    tokio::time::advance(Duration::from_secs(61)).await;
    let late = sim.lookup(&reference).await;

    assert_eq!(early, Ok(Charged::Pending { reference: reference.clone() }));
    assert_eq!(late, Ok(Charged::Succeeded { reference: reference.clone() }));
    assert_eq!(
        sim.charge(&charge("pm_card_simulated_async", "k1")).await,
        Ok(Charged::Pending { reference }),
        "a replay is the first answer"
    );
}

#[tokio::test]
async fn by_default_an_async_charge_settles_at_once() {
    let sim = Simulated::default();

    let first = sim.charge(&charge("pm_card_simulated_async", "k1")).await;
    let reference = reference(&first.expect("an answer"));

    assert_eq!(sim.lookup(&reference).await, Ok(Charged::Succeeded { reference }));
}

#[tokio::test]
async fn the_same_key_gets_the_first_answer_and_charges_once() {
    let sim = Simulated::default();
    let request = charge("pm_card_visa", "same-key");

    let first = sim.charge(&request).await;
    let second = sim.charge(&request).await;
    let other = sim.charge(&charge("pm_card_visa", "other-key")).await;

    assert_eq!(first, second);
    assert_ne!(first, other);
    assert_eq!((sim.charges_made(), sim.calls()), (2, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_duplicates_charge_once() {
    let sim = Simulated::default();
    let request = charge("pm_card_visa", "double-tap");

    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (sim, request) = (sim.clone(), request.clone());
        calls.spawn(async move { sim.charge(&request).await });
    }
    let answers = calls.join_all().await;

    assert_eq!(sim.charges_made(), 1);
    assert_eq!(sim.calls(), 20);
    assert!(answers.iter().all(|answer| answer == &answers[0]), "{answers:?}");
    assert!(matches!(answers[0], Ok(Charged::Succeeded { .. })));
}

#[tokio::test]
async fn refunds_never_exceed_the_charge() {
    let sim = Simulated::default();
    let reference = paid(&sim, "charge").await;

    let first = sim.refund(&refund(&reference, 400, "r1")).await;
    let replay = sim.refund(&refund(&reference, 400, "r1")).await;
    let too_much = sim.refund(&refund(&reference, 601, "r2")).await;
    let rest = sim.refund(&refund(&reference, 600, "r3")).await;
    let after = sim.refund(&refund(&reference, 1, "r4")).await;

    let Ok(Refunded::Succeeded { reference: refunded }) = &first else { panic!("expected a refund, got {first:?}") };
    assert!(refunded.starts_with("re_sim_"), "{refunded}");
    assert_eq!(replay, first, "a replayed key refunds nothing more");
    assert!(matches!(too_much, Ok(Refunded::Failed { failure, .. }) if failure.code == "amount_too_large"));
    assert!(matches!(rest, Ok(Refunded::Succeeded { .. })), "{rest:?}");
    assert!(matches!(after, Ok(Refunded::Failed { failure, .. }) if failure.code == "charge_already_refunded"));
}

#[tokio::test]
async fn only_a_known_succeeded_charge_can_be_refunded() {
    let sim = Simulated::default();
    let declined = sim.charge(&charge("pm_card_visa_chargeDeclined", "declined")).await;
    let declined = reference(&declined.expect("an answer"));

    let unknown = sim.refund(&refund("pi_sim_nothing", 100, "r1")).await;
    let of_declined = sim.refund(&refund(&declined, 100, "r2")).await;

    assert!(matches!(unknown, Ok(Refunded::Failed { failure, .. }) if failure.code == "resource_missing"));
    assert!(
        matches!(of_declined, Ok(Refunded::Failed { failure, .. }) if failure.code == "payment_intent_unexpected_state")
    );
}

#[tokio::test]
async fn the_failure_rate_fails_the_same_calls_for_the_same_seed() {
    let settings = SimulatedSettings { failure_rate: 0.5, seed: 42, ..SimulatedSettings::default() };
    let run = |settings: SimulatedSettings| async move {
        let sim = Simulated::new(settings);
        let mut failed = Vec::new();
        for call in 0..64 {
            let answer = sim.charge(&charge("pm_card_visa", &format!("k{call}"))).await;
            failed.push(answer == Err(ProcessorError::Unknown { reason: "simulated processor failure".into() }));
        }
        (failed, sim.charges_made())
    };

    let (first, made) = run(settings.clone()).await;
    let (second, _) = run(settings.clone()).await;
    let (other_seed, _) = run(SimulatedSettings { seed: 7, ..settings }).await;

    let failures = first.iter().filter(|failed| **failed).count();
    assert_eq!(first, second);
    assert_ne!(first, other_seed);
    assert!((16..=48).contains(&failures), "{failures} of 64 failed at rate 0.5");
    assert_eq!(made, 64 - failures as u64, "a failed call charges nothing");
}

#[tokio::test]
async fn a_failure_rate_of_one_fails_every_call_and_zero_none() {
    let always = Simulated::new(SimulatedSettings { failure_rate: 1.0, ..SimulatedSettings::default() });
    let never = Simulated::new(SimulatedSettings { failure_rate: f64::NAN, ..SimulatedSettings::default() });

    for call in 0..20 {
        let key = format!("k{call}");
        assert!(matches!(always.charge(&charge("pm_card_visa", &key)).await, Err(ProcessorError::Unknown { .. })));
        assert!(matches!(always.lookup("pi_sim_x").await, Err(ProcessorError::Unknown { .. })));
        assert!(matches!(never.charge(&charge("pm_card_visa", &key)).await, Ok(Charged::Succeeded { .. })));
    }
    assert_eq!((always.charges_made(), always.calls()), (0, 40));
}

#[tokio::test(start_paused = true)]
async fn latency_is_added_to_every_call() {
    let sim = Simulated::new(SimulatedSettings { latency: Duration::from_millis(250), ..SimulatedSettings::default() });
    let started = Instant::now();

    let reference = paid(&sim, "k1").await;
    sim.lookup(&reference).await.expect("an answer");
    sim.refund(&refund(&reference, 1, "r1")).await.expect("an answer");

    assert!(started.elapsed() >= Duration::from_millis(750), "{:?}", started.elapsed());
}

#[tokio::test]
async fn clones_share_the_charges() {
    let sim = Simulated::default();
    let clone = sim.clone();

    let reference = paid(&clone, "k1").await;

    assert_eq!(sim.charges_made(), 1);
    assert!(matches!(sim.lookup(&reference).await, Ok(Charged::Succeeded { .. })));
}

#[test]
fn its_events_are_stripe_shaped() {
    let body =
        br#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","status":"succeeded"}}}"#;

    let event = Simulated::default().parse_event(body).expect("an event");

    assert_eq!(event.id, "evt_1");
    assert!(Simulated::default().parse_event(b"{}").is_err());
}
