//! The sender against a receiver on 127.0.0.1: signatures a Standard Webhooks receiver
//! verifies, how answers and failures are reported, redirects not followed, and the SSRF guard
//! refusing loopback targets without connecting. Nothing here resolves or contacts a public host.

use std::time::{Duration, SystemTime};

use domain::ports::WebhookSender;
use domain::webhooks::{SendFailure, SendOutcome, SigningSecret, TargetPolicy, WebhookMessage, WebhookUrl};
use standardwebhooks::Webhook;
use time::OffsetDateTime;
use webhooks::{HttpSender, USER_AGENT};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BODY: &str = r#"{"type":"order.paid","timestamp":"2026-01-01T00:00:00Z","data":{"id":"T3JkZXI6MQ"}}"#;

fn sender(policy: TargetPolicy) -> HttpSender {
    HttpSender::new(policy, Duration::from_secs(2), Duration::from_secs(5)).expect("a sender")
}

fn message(url: &str, secrets: Vec<SigningSecret>) -> WebhookMessage {
    WebhookMessage {
        url: WebhookUrl::parse(url, TargetPolicy::AllowPrivate).expect("a URL"),
        id: "msg_2mKqR0rJ8vXz4".to_owned(),
        timestamp: OffsetDateTime::now_utc(),
        body: BODY.to_owned(),
        secrets,
    }
}

/// A receiver answering `answer` to `POST /hook`, expecting `times` requests.
async fn receiver(answer: ResponseTemplate, times: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/hook")).respond_with(answer).expect(times).mount(&server).await;
    server
}

/// One delivery to a receiver answering `answer`, with a fresh secret.
async fn answered(answer: ResponseTemplate) -> SendOutcome {
    let server = receiver(answer, 1).await;
    let sender = sender(TargetPolicy::AllowPrivate);
    let secret = sender.new_secret().expect("a secret");
    sender.send(&message(&format!("{}/hook", server.uri()), vec![secret])).await
}

#[tokio::test]
async fn a_delivery_signed_with_one_secret_verifies() {
    let server = receiver(ResponseTemplate::new(200), 1).await;
    let sender = sender(TargetPolicy::AllowPrivate);
    let secret = sender.new_secret().expect("a secret");
    let message = message(&format!("{}/hook", server.uri()), vec![secret.clone()]);

    let outcome = sender.send(&message).await;

    assert_eq!(outcome.status, Some(200));
    assert_eq!(outcome.failure, None);
    assert_eq!(outcome.retry_after, None);
    assert!(outcome.duration < Duration::from_secs(5));
    let requests = server.received_requests().await.expect("recording is on");
    let [request] = requests.as_slice() else { panic!("one request, got {}", requests.len()) };
    assert_eq!(request.body, BODY.as_bytes());
    let header = |name: &str| request.headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
    assert_eq!(header("content-type").as_deref(), Some("application/json"));
    assert_eq!(header("webhook-id").as_deref(), Some("msg_2mKqR0rJ8vXz4"));
    assert_eq!(header("webhook-timestamp"), Some(message.timestamp.unix_timestamp().to_string()));
    assert_eq!(header("user-agent").as_deref(), Some(USER_AGENT));
    assert!(USER_AGENT.starts_with("Keel-Webhooks/"));
    let signature = header("webhook-signature").expect("signed");
    assert!(signature.starts_with("v1,") && !signature.contains(' '), "{signature}");
    Webhook::new(secret.expose())
        .expect("the receiver reads the secret")
        .verify(&request.body, &request.headers)
        .expect("the signature verifies");
    let stranger = sender.new_secret().expect("a secret");
    assert!(Webhook::new(stranger.expose()).expect("a secret").verify(&request.body, &request.headers).is_err());
}

#[tokio::test]
async fn a_delivery_signed_with_two_secrets_verifies_with_either() {
    let server = receiver(ResponseTemplate::new(204), 1).await;
    let sender = sender(TargetPolicy::AllowPrivate);
    let current = sender.new_secret().expect("a secret");
    let previous = sender.new_secret().expect("a secret");

    let outcome =
        sender.send(&message(&format!("{}/hook", server.uri()), vec![current.clone(), previous.clone()])).await;

    assert_eq!((outcome.status, outcome.failure), (Some(204), None));
    let requests = server.received_requests().await.expect("recording is on");
    let [request] = requests.as_slice() else { panic!("one request, got {}", requests.len()) };
    let signature = request.headers.get("webhook-signature").and_then(|v| v.to_str().ok()).expect("signed");
    assert_eq!(signature.split(' ').count(), 2, "{signature}");
    for secret in [&current, &previous] {
        Webhook::new(secret.expose())
            .expect("the receiver reads the secret")
            .verify(&request.body, &request.headers)
            .expect("either secret verifies");
    }
    let stranger = sender.new_secret().expect("a secret");
    assert!(Webhook::new(stranger.expose()).expect("a secret").verify(&request.body, &request.headers).is_err());
}

#[tokio::test]
async fn error_statuses_are_answers() {
    for status in [500, 410, 400] {
        let outcome = answered(ResponseTemplate::new(status)).await;
        assert_eq!((outcome.status, outcome.failure, outcome.retry_after), (Some(status), None, None));
    }
}

#[tokio::test]
async fn retry_after_in_seconds_is_reported() {
    let outcome = answered(ResponseTemplate::new(429).insert_header("retry-after", "7")).await;
    assert_eq!(outcome.status, Some(429));
    assert_eq!(outcome.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(outcome.failure, None);
}

#[tokio::test]
async fn retry_after_as_a_date_is_reported_as_a_delay_from_now() {
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
    let outcome = answered(ResponseTemplate::new(503).insert_header("retry-after", at.as_str())).await;
    assert_eq!(outcome.status, Some(503));
    let delay = outcome.retry_after.expect("a delay");
    assert!(delay > Duration::from_secs(115) && delay <= Duration::from_secs(120), "{delay:?}");
}

#[tokio::test]
async fn a_redirect_is_reported_and_not_followed() {
    let elsewhere = receiver(ResponseTemplate::new(200), 0).await;
    let redirect = ResponseTemplate::new(302).insert_header("location", format!("{}/hook", elsewhere.uri()).as_str());

    let outcome = answered(redirect).await;

    assert_eq!((outcome.status, outcome.failure), (Some(302), None));
    elsewhere.verify().await;
}

#[tokio::test]
async fn a_slow_receiver_times_out() {
    let server = receiver(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)), 1).await;
    let sender = HttpSender::new(TargetPolicy::AllowPrivate, Duration::from_secs(1), Duration::from_millis(300))
        .expect("a sender");
    let secret = sender.new_secret().expect("a secret");

    let outcome = sender.send(&message(&format!("{}/hook", server.uri()), vec![secret])).await;

    assert_eq!(outcome.failure, Some(SendFailure::Timeout));
    assert_eq!(outcome.status, None);
    assert!(outcome.duration >= Duration::from_millis(300) && outcome.duration < Duration::from_secs(3));
}

#[tokio::test]
async fn a_closed_port_is_a_connect_failure() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address").port()
    };
    let sender = sender(TargetPolicy::AllowPrivate);
    let secret = sender.new_secret().expect("a secret");

    let outcome = sender.send(&message(&format!("http://127.0.0.1:{port}/hook"), vec![secret])).await;

    assert_eq!(outcome.status, None);
    assert_eq!(outcome.failure, Some(SendFailure::Connect("the connection was refused".to_owned())));
}

#[tokio::test]
async fn public_only_refuses_loopback_targets_without_connecting() {
    let server = receiver(ResponseTemplate::new(200), 0).await;
    let port = server.address().port();
    let sender = sender(TargetPolicy::PublicOnly);
    let secret = sender.new_secret().expect("a secret");
    let cases = [
        (format!("http://127.0.0.1:{port}/hook"), "the URL's host 127.0.0.1 is a loopback address"),
        (format!("http://[::ffff:127.0.0.1]:{port}/hook"), "the URL's host ::ffff:127.0.0.1 is a loopback address"),
        (format!("http://localhost:{port}/hook"), "localhost resolves only to"),
    ];

    for (url, expected) in cases {
        let outcome = sender.send(&message(&url, vec![secret.clone()])).await;
        assert_eq!(outcome.status, None, "{url}");
        match outcome.failure {
            Some(SendFailure::Refused(reason)) => {
                assert!(reason.contains(expected), "{url}: {reason}");
                assert!(reason.contains("a loopback address"), "{url}: {reason}");
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    server.verify().await;
}

#[tokio::test]
async fn an_invalid_secret_is_refused_without_connecting() {
    let server = receiver(ResponseTemplate::new(200), 0).await;
    let sender = sender(TargetPolicy::AllowPrivate);
    let secret = SigningSecret::new("whsec_!!!".to_owned());

    let outcome = sender.send(&message(&format!("{}/hook", server.uri()), vec![secret])).await;

    assert!(matches!(outcome.failure, Some(SendFailure::Refused(_))), "{outcome:?}");
    server.verify().await;
}

#[tokio::test]
async fn registration_checks_what_the_host_resolves_to() {
    let public_only = sender(TargetPolicy::PublicOnly);
    let allow_private = sender(TargetPolicy::AllowPrivate);
    let url = |text: &str| WebhookUrl::parse(text, TargetPolicy::AllowPrivate).expect("a URL");

    let reason = public_only.check_target(&url("http://localhost/")).await.expect_err("loopback");
    assert_eq!(
        reason,
        "the URL's host localhost resolves to 127.0.0.1, a loopback address; webhooks are only sent to public addresses"
    );
    let reason = public_only.check_target(&url("http://127.0.0.1:8080/")).await.expect_err("loopback");
    assert!(reason.contains("127.0.0.1 is a loopback address"), "{reason}");
    let reason = public_only.check_target(&url("http://[fd00:ec2::254]/")).await.expect_err("unique-local");
    assert!(reason.contains("fd00:ec2::254 is a unique-local (private) address"), "{reason}");

    assert_eq!(allow_private.check_target(&url("http://localhost:9876/")).await, Ok(()));
    assert_eq!(allow_private.check_target(&url("http://127.0.0.1:9876/")).await, Ok(()));
    assert_eq!(public_only.policy(), TargetPolicy::PublicOnly);
    assert_eq!(allow_private.policy(), TargetPolicy::AllowPrivate);
}

#[test]
fn a_new_secret_is_32_random_bytes_in_base64() {
    use base64::Engine;

    let sender = sender(TargetPolicy::PublicOnly);
    let secret = sender.new_secret().expect("a secret");
    let encoded = secret.expose().strip_prefix("whsec_").expect("the prefix");
    assert_eq!(encoded.len(), 44);
    let key = base64::engine::general_purpose::STANDARD.decode(encoded).expect("base64");
    assert_eq!(key.len(), 32);
    assert_ne!(sender.new_secret().expect("a secret"), secret);
    assert_eq!(format!("{secret:?}"), "SigningSecret(…)");
}

#[tokio::test]
async fn a_tls_failure_is_a_connect_failure_with_a_reason() {
    // A plain-HTTP receiver spoken to over https: the handshake fails.
    let server = MockServer::start().await;
    let sender = sender(TargetPolicy::AllowPrivate);
    let secret = sender.new_secret().expect("a secret");
    let url = format!("https://{}/hook", server.address());

    let outcome = sender.send(&message(&url, vec![secret])).await;

    assert_eq!(outcome.status, None);
    match outcome.failure {
        Some(SendFailure::Connect(reason)) => {
            assert!(!reason.is_empty() && !reason.contains("127.0.0.1"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}
