//! The HTTP processor against a local fake of a Stripe-shaped API (wiremock): what it sends,
//! and how every kind of answer, or no answer, is sorted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use domain::payments::{Charged, Failure, ProcessorError, ProcessorKind, Refunded};
use domain::ports::PaymentProcessor;
use processors::{HttpProcessor, HttpSettings};
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{charge, refund};

const SECRET: &str = "sk_test_keel";

fn settings(base: &str) -> HttpSettings {
    HttpSettings {
        base_url: Url::parse(base).expect("a URL"),
        secret: SECRET.to_owned(),
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
    }
}

fn processor(server: &MockServer) -> HttpProcessor {
    HttpProcessor::new(settings(&server.uri())).expect("a processor")
}

async fn answer_intents_with(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST")).and(path("/v1/payment_intents")).respond_with(response).mount(server).await;
}

fn card_error(code: &str, decline_code: Option<&str>, message: &str) -> Value {
    json!({ "error": { "type": "card_error", "code": code, "decline_code": decline_code, "message": message,
                       "payment_intent": { "id": "pi_declined", "status": "requires_payment_method" } } })
}

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

#[tokio::test]
async fn a_succeeded_intent_is_a_success_and_the_request_carries_everything() {
    let server = MockServer::start().await;
    answer_intents_with(
        &server,
        ResponseTemplate::new(200).set_body_json(json!({ "id": "pi_123", "status": "succeeded" })),
    )
    .await;
    let request = charge("pm_card_visa", "keel-key-1");

    let answer = processor(&server).charge(&request).await;

    assert_eq!(answer, Ok(Charged::Succeeded { reference: "pi_123".into() }));
    let received = server.received_requests().await.expect("recorded requests");
    let [sent] = received.as_slice() else { panic!("expected one request, got {}", received.len()) };
    let header = |name: &str| sent.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(header("authorization").as_deref(), Some("Bearer sk_test_keel"));
    assert_eq!(header("idempotency-key").as_deref(), Some("keel-key-1"));
    assert_eq!(header("content-type").as_deref(), Some("application/x-www-form-urlencoded"));
    let fields = form(&sent.body);
    let expected = [
        ("amount", "1000".to_owned()),
        ("currency", "usd".to_owned()),
        ("payment_method", "pm_card_visa".to_owned()),
        ("confirm", "true".to_owned()),
        ("metadata[keel_payment_id]", request.payment.to_string()),
        ("metadata[keel_order_id]", request.order.to_string()),
        ("metadata[keel_tenant_id]", request.tenant.to_string()),
    ];
    for (name, value) in &expected {
        assert_eq!(fields.get(*name), Some(value), "{name}");
    }
    assert_eq!(fields.len(), expected.len(), "{fields:?}");
}

#[tokio::test]
async fn a_processing_intent_is_pending_and_a_failed_one_declined() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "pi_1", "status": "processing" })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    answer_intents_with(
        &server,
        ResponseTemplate::new(200).set_body_json(json!({ "id": "pi_2", "status": "requires_payment_method",
            "last_payment_error": { "code": "card_declined", "message": "Your card was declined." } })),
    )
    .await;
    let processor = processor(&server);

    let pending = processor.charge(&charge("pm_card_visa", "k1")).await;
    let declined = processor.charge(&charge("pm_card_visa", "k2")).await;

    assert_eq!(pending, Ok(Charged::Pending { reference: "pi_1".into() }));
    assert_eq!(
        declined,
        Ok(Charged::Declined {
            reference: Some("pi_2".into()),
            failure: Failure::new("card_declined", "Your card was declined.")
        })
    );
}

#[tokio::test]
async fn a_402_card_error_is_a_decline_with_the_intent() {
    let server = MockServer::start().await;
    answer_intents_with(
        &server,
        ResponseTemplate::new(402).set_body_json(card_error("card_declined", None, "Your card was declined.")),
    )
    .await;

    let answer = processor(&server).charge(&charge("pm_card_visa_chargeDeclined", "k1")).await;

    assert_eq!(
        answer,
        Ok(Charged::Declined {
            reference: Some("pi_declined".into()),
            failure: Failure::new("card_declined", "Your card was declined.")
        })
    );
}

#[tokio::test]
async fn insufficient_funds_is_the_failure_code_of_its_decline() {
    let server = MockServer::start().await;
    let body = card_error("card_declined", Some("insufficient_funds"), "Your card has insufficient funds.");
    answer_intents_with(&server, ResponseTemplate::new(402).set_body_json(body)).await;

    let answer = processor(&server).charge(&charge("pm_card_visa_chargeDeclinedInsufficientFunds", "k1")).await;

    let Ok(Charged::Declined { failure, .. }) = answer else { panic!("expected a decline, got {answer:?}") };
    assert!(failure.is_insufficient_funds(), "{failure:?}");
}

#[tokio::test]
async fn an_invalid_request_is_a_decline_with_its_code() {
    let server = MockServer::start().await;
    let body = json!({ "error": { "type": "invalid_request_error", "code": "resource_missing",
                                  "message": "No such PaymentMethod: 'pm_nope'" } });
    answer_intents_with(&server, ResponseTemplate::new(400).set_body_json(body)).await;

    let answer = processor(&server).charge(&charge("pm_nope", "k1")).await;

    assert_eq!(
        answer,
        Ok(Charged::Declined {
            reference: None,
            failure: Failure::new("resource_missing", "No such PaymentMethod: 'pm_nope'")
        })
    );
}

#[tokio::test]
async fn answers_that_leave_the_outcome_open_are_unknown() {
    let idempotency_error = json!({ "error": { "type": "idempotency_error",
        "message": "Keys for idempotent requests can only be used with the same parameters they were first used with." } });
    let cases = [
        ("500", ResponseTemplate::new(500).set_body_string("oops")),
        ("503", ResponseTemplate::new(503)),
        ("409", ResponseTemplate::new(409).set_body_json(json!({ "error": { "type": "idempotency_error" } }))),
        ("reused key", ResponseTemplate::new(400).set_body_json(idempotency_error)),
        ("200 not JSON", ResponseTemplate::new(200).set_body_string("<html>")),
        ("200 unknown status", ResponseTemplate::new(200).set_body_json(json!({ "id": "pi_1", "status": "exploded" }))),
        ("402 not an error", ResponseTemplate::new(402).set_body_string("no")),
        ("418", ResponseTemplate::new(418)),
    ];

    for (case, response) in cases {
        let server = MockServer::start().await;
        answer_intents_with(&server, response).await;

        let answer = processor(&server).charge(&charge("pm_card_visa", "k1")).await;

        assert!(matches!(answer, Err(ProcessorError::Unknown { .. })), "{case}: {answer:?}");
    }
}

#[tokio::test]
async fn refused_credentials_are_not_sent_and_say_which_setting_to_check() {
    for status in [401, 403] {
        let server = MockServer::start().await;
        let body = json!({ "error": { "type": "invalid_request_error", "message": "Invalid API Key provided" } });
        answer_intents_with(&server, ResponseTemplate::new(status).set_body_json(body)).await;

        let answer = processor(&server).charge(&charge("pm_card_visa", "k1")).await;

        assert_eq!(
            answer,
            Err(ProcessorError::NotSent {
                reason: "the processor refused Keel's credentials (check KEEL_PAYMENT_PROCESSOR_SECRET)".into(),
                retry_after_secs: 30
            }),
            "{status}"
        );
    }
}

#[tokio::test]
async fn a_rate_limit_is_not_sent_and_keeps_its_retry_after() {
    let cases = [(ResponseTemplate::new(429).insert_header("Retry-After", "7"), 7), (ResponseTemplate::new(429), 1)];

    for (response, retry_after) in cases {
        let server = MockServer::start().await;
        answer_intents_with(&server, response).await;

        let answer = processor(&server).charge(&charge("pm_card_visa", "k1")).await;

        assert!(
            matches!(answer, Err(ProcessorError::NotSent { retry_after_secs, .. }) if retry_after_secs == retry_after),
            "{answer:?}"
        );
    }
}

#[tokio::test]
async fn a_refused_connection_is_not_sent() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address").port()
    };
    let processor = HttpProcessor::new(settings(&format!("http://127.0.0.1:{port}"))).expect("a processor");

    let answer = processor.charge(&charge("pm_card_visa", "k1")).await;

    assert!(matches!(answer, Err(ProcessorError::NotSent { retry_after_secs: 1, .. })), "{answer:?}");
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_is_unknown_after_about_the_timeout() {
    let server = MockServer::start().await;
    let slow = ResponseTemplate::new(200)
        .set_body_json(json!({ "id": "pi_1", "status": "succeeded" }))
        .set_delay(Duration::from_secs(10));
    answer_intents_with(&server, slow).await;
    let processor = HttpProcessor::new(HttpSettings { timeout: Duration::from_millis(300), ..settings(&server.uri()) })
        .expect("ok");
    let started = Instant::now();

    let answer = processor.charge(&charge("pm_card_visa", "k1")).await;

    assert_eq!(answer, Err(ProcessorError::Unknown { reason: "no answer within 300 ms".into() }));
    assert!(started.elapsed() < Duration::from_secs(5), "gave up after {:?}", started.elapsed());
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let server = MockServer::start().await;
    let elsewhere = format!("{}/elsewhere", server.uri());
    answer_intents_with(&server, ResponseTemplate::new(302).insert_header("Location", elsewhere.as_str())).await;
    Mock::given(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "pi_1", "status": "succeeded" })))
        .expect(0)
        .mount(&server)
        .await;

    let answer = processor(&server).charge(&charge("pm_card_visa", "k1")).await;

    assert!(matches!(answer, Err(ProcessorError::Unknown { .. })), "{answer:?}");
    server.verify().await;
}

#[tokio::test]
async fn a_lookup_gets_the_intent_by_its_encoded_id() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/payment_intents/pi_123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "pi_123", "status": "succeeded" })))
        .mount(&server)
        .await;
    let missing = json!({ "error": { "type": "invalid_request_error", "code": "resource_missing",
                                     "message": "No such payment_intent: 'pi/../refunds?x'" } });
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(404).set_body_json(missing)).mount(&server).await;
    let processor = processor(&server);

    let found = processor.lookup("pi_123").await;
    let odd = processor.lookup("pi/../refunds?x").await;
    let empty = processor.lookup("").await;

    assert_eq!(found, Ok(Charged::Succeeded { reference: "pi_123".into() }));
    assert!(matches!(odd, Ok(Charged::Declined { failure, .. }) if failure.code == "resource_missing"));
    assert!(matches!(empty, Ok(Charged::Declined { failure, .. }) if failure.code == "resource_missing"));
    let received = server.received_requests().await.expect("recorded requests");
    let paths: Vec<_> = received.iter().map(|r| r.url.path().to_owned()).collect();
    assert_eq!(paths, ["/v1/payment_intents/pi_123", "/v1/payment_intents/pi%2F..%2Frefunds%3Fx"]);
    assert!(received.iter().all(|r| r.headers.get("idempotency-key").is_none()));
}

#[tokio::test]
async fn a_refund_sends_its_fields_and_reads_the_refund() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/refunds"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "re_1", "status": "succeeded" })))
        .mount(&server)
        .await;
    let request = refund("pi_123", 250, "refund-key");

    let answer = processor(&server).refund(&request).await;

    assert_eq!(answer, Ok(Refunded::Succeeded { reference: "re_1".into() }));
    let received = server.received_requests().await.expect("recorded requests");
    let fields = form(&received[0].body);
    assert_eq!(fields.get("payment_intent").map(String::as_str), Some("pi_123"));
    assert_eq!(fields.get("amount").map(String::as_str), Some("250"));
    assert_eq!(fields.get("metadata[keel_refund_id]"), Some(&request.refund.to_string()));
    assert_eq!(fields.get("metadata[keel_payment_id]"), Some(&request.payment.to_string()));
    assert_eq!(fields.get("metadata[keel_tenant_id]"), Some(&request.tenant.to_string()));
    let key = received[0].headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    assert_eq!(key, Some("refund-key"));
}

#[tokio::test]
async fn refund_refusals_and_failures_are_failed_refunds() {
    let already = json!({ "error": { "type": "invalid_request_error", "code": "charge_already_refunded",
                                     "message": "Charge ch_1 has already been refunded." } });
    let cases = [
        (ResponseTemplate::new(400).set_body_json(already), None, "charge_already_refunded"),
        (
            ResponseTemplate::new(200)
                .set_body_json(json!({ "id": "re_2", "status": "failed", "failure_reason": "declined" })),
            Some("re_2"),
            "declined",
        ),
    ];

    for (response, reference, code) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST")).and(path("/v1/refunds")).respond_with(response).mount(&server).await;

        let answer = processor(&server).refund(&refund("pi_123", 250, "k")).await;

        let Ok(Refunded::Failed { reference: got, failure }) = answer else { panic!("expected a failure: {answer:?}") };
        assert_eq!((got.as_deref(), failure.code.as_str()), (reference, code));
    }
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(502)).mount(&server).await;
    assert!(matches!(processor(&server).refund(&refund("pi_1", 1, "k")).await, Err(ProcessorError::Unknown { .. })));
}

#[tokio::test]
async fn a_base_url_with_a_path_keeps_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/stripe/v1/payment_intents"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "pi_1", "status": "succeeded" })))
        .mount(&server)
        .await;

    for base in [format!("{}/stripe", server.uri()), format!("{}/stripe/", server.uri())] {
        let processor = HttpProcessor::new(settings(&base)).expect("a processor");

        let answer = processor.charge(&charge("pm_card_visa", "k1")).await;

        assert!(matches!(answer, Ok(Charged::Succeeded { .. })), "{base}: {answer:?}");
    }
}

#[test]
fn the_secret_never_shows_in_debug() {
    let settings = settings("https://api.example.test");
    let processor = HttpProcessor::new(settings.clone()).expect("a processor");

    let shown = format!("{settings:?} {processor:?}");

    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("[redacted]") && shown.contains("api.example.test"), "{shown}");
    assert_eq!(processor.kind(), ProcessorKind::Http);
}

#[test]
fn a_bad_url_or_secret_is_refused_naming_its_setting() {
    let cases = [
        (settings("ftp://example.test"), "KEEL_PAYMENT_PROCESSOR_URL"),
        (settings("https://user:pw@example.test"), "KEEL_PAYMENT_PROCESSOR_URL"),
        (HttpSettings { secret: String::new(), ..settings("https://example.test") }, "KEEL_PAYMENT_PROCESSOR_SECRET"),
        (HttpSettings { secret: "sk\nx".into(), ..settings("https://example.test") }, "KEEL_PAYMENT_PROCESSOR_SECRET"),
    ];

    for (settings, setting) in cases {
        let error = HttpProcessor::new(settings).expect_err("refused");

        assert!(
            matches!(&error, domain::DomainError::Invalid(invalid) if invalid.field() == [setting]),
            "{setting}: {error:?}"
        );
    }
}
