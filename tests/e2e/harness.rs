//! The harness the webhook tests stand on, checked on its own: a [`Receiver`] records what it
//! gets and answers by its script (statuses, `Retry-After`, redirects, delays) and verifies
//! Standard Webhooks signatures; a [`ChildServer`] starts the real binary, serves, dies of
//! SIGKILL with its port closed, and a new one starts on the same database with the data kept.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keel_tests::{Answer, ChildServer, PASSWORD, Receiver, Script, TestDatabase};
use serde_json::json;

/// The `keel` binary's code, run as a child process.
const KEEL_CHILD: &str = env!("CARGO_BIN_EXE_keel-child");

/// POSTs `body` to `receiver` signed the Standard Webhooks way with `secret` as message `id`.
async fn send_signed(
    http: &reqwest::Client,
    receiver: &Receiver,
    secret: &str,
    id: &str,
    body: &str,
) -> reqwest::Response {
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = standardwebhooks::Webhook::new(secret)
        .and_then(|webhook| webhook.sign(id, timestamp, body.as_bytes()))
        .expect("a signature");
    http.post(receiver.url())
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .expect("the receiver answers")
}

#[tokio::test]
async fn a_receiver_records_every_request_answers_by_its_script_and_verifies_signatures() {
    let target = "http://127.0.0.1:9/elsewhere";
    let script = Script::first(1, Answer::status(500))
        .next(1, Answer::retry_after(7))
        .next(1, Answer::redirect(302, target))
        .then(Answer::ok().after(Duration::from_millis(300)));
    let receiver = Receiver::start(script).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a client");
    let secret = format!("whsec_{}", STANDARD.encode([7_u8; 32]));
    let other = format!("whsec_{}", STANDARD.encode([8_u8; 32]));
    let body = json!({ "type": "order.placed", "data": { "version": 1 } }).to_string();

    let mut answers = Vec::new();
    for n in 0..5 {
        answers.push(send_signed(&http, &receiver, &secret, &format!("msg_{n}"), &body).await);
    }
    let received = receiver.received();

    let statuses: Vec<u16> = answers.iter().map(|answer| answer.status().as_u16()).collect();
    assert_eq!(statuses, [500, 429, 302, 200, 200]);
    assert_eq!(answers[1].headers()["retry-after"], "7");
    assert_eq!(answers[2].headers()["location"], target);
    assert_eq!(received.len(), 5);
    assert_eq!(received.iter().map(|r| r.status).collect::<Vec<_>>(), statuses, "each records its answer");
    assert_eq!(received.iter().filter(|r| r.succeeded()).count(), 2);
    assert_eq!(received[3].webhook_id(), "msg_3");
    assert_eq!(received[3].method, "POST");
    assert_eq!(received[3].path, keel_tests::HOOK_PATH);
    assert_eq!(received[3].json()["type"], "order.placed");
    assert_eq!(received[3].signatures().len(), 1);
    let answered = received[3].answered.expect("answered");
    assert!(answered - received[3].arrived >= Duration::from_millis(300), "the answer waited as scripted");
    assert!(received.iter().all(|r| r.verify(&secret).is_ok()), "every request verifies with its secret");
    assert!(received[0].verify(&other).is_err(), "another secret does not verify");
    let mut tampered = received[0].clone();
    tampered.body = tampered.body.replace("order.placed", "order.paid");
    assert!(tampered.verify(&secret).is_err(), "a changed body does not verify");

    receiver.set_script(Script::always(Answer::status(410)));
    let gone = send_signed(&http, &receiver, &secret, "msg_5", &body).await;
    assert_eq!(gone.status().as_u16(), 410, "a new script answers from the next request on");
}

#[tokio::test]
async fn a_child_server_serves_dies_of_sigkill_and_restarts_on_its_database() {
    let database = TestDatabase::create().await;

    let mut first = ChildServer::start(KEEL_CHILD, &database.url(), &[]).await;
    let health = reqwest::get(first.url("/healthz")).await.expect("healthz answers");
    let shop = first.client().register_shop("acme").await;
    let me = shop.owner.gql("{ me { tenant { slug } } }", json!({})).await;
    let address = first.address();
    let status = first.kill();
    let after_kill = tokio::net::TcpStream::connect(address).await;
    let second = ChildServer::start(KEEL_CHILD, &database.url(), &[]).await;
    let signed_in = second.client().login("acme", "owner@acme.test", PASSWORD).await;

    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(me.data()["me"]["tenant"]["slug"], "acme", "{}", me.text);
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status}");
    assert!(after_kill.is_err(), "the killed server's port still accepts connections");
    signed_in.assert_accepted("login");
    assert!(second.log().contains("Keel is listening"), "the log is kept: {}", second.log());
}
