//! Delivering webhooks: every event of a type an enabled endpoint lists reaches it as one signed
//! POST (Standard Webhooks, verified here by the reference `standardwebhooks` crate), retried
//! on 5xx, 429 (no sooner than its `Retry-After`), timeouts and refused connections until the
//! attempts run out (`DEAD`), never retried on another 4xx or a redirect (`FAILED`, the
//! redirect not followed), cancelled when the endpoint is disabled, redelivered on request; a
//! slow receiver holds up no other endpoint; a thousand deliveries arrive exactly once each;
//! two processes on one PostgreSQL database never send one attempt twice; and a process killed
//! with SIGKILL mid-delivery leaves nothing undelivered and no delivery logged as delivered twice.
//!
//! Receivers are real HTTP servers on 127.0.0.1 ([`Receiver`]), so every server here allows
//! private targets. Waits are polls with a deadline ([`eventually`]); no assertion rests on a
//! fixed sleep, and none on how fast anything is.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use keel_tests::{
    Answer, ChildServer, Client, PASSWORD, Received, Receiver, Script, Shop, TestApp, TestDatabase, eventually,
    global_id_uuid,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The `keel` binary's code, run as a child process.
const KEEL_CHILD: &str = env!("CARGO_BIN_EXE_keel-child");
/// Private targets allowed (receivers are on 127.0.0.1), quick polls, quick retries.
const DELIVERING: [&str; 6] =
    ["--webhook-allow-private", "true", "--webhook-poll-ms", "50", "--webhook-backoff-base-ms", "50"];
/// How long a test waits for deliveries that need no more than a few retries.
const DEADLINE: Duration = Duration::from_secs(30);
/// The fixture product's price, and so the total of a one-unit order.
const PRICE: &str = "5.00";
const REDELIVER: &str = "mutation($id: ID!) { redeliverWebhook(input: { deliveryId: $id }) {
    delivery { id endpoint { id } eventId eventType status attemptCount attempts { number } }
    userErrors { field code message } } }";
const DISABLE: &str = "mutation($id: ID!) { disableWebhookEndpoint(input: { endpointId: $id }) {
    endpoint { status } userErrors { field code message } } }";
const ENABLE: &str = "mutation($id: ID!) { enableWebhookEndpoint(input: { endpointId: $id }) {
    endpoint { status } userErrors { field code message } } }";
const ROTATE: &str = "mutation($input: RotateWebhookSecretInput!) { rotateWebhookSecret(input: $input) {
    endpoint { previousSecretExpiresAt } secret userErrors { field code message } } }";
const MARK_PAID: &str = "mutation($input: MarkOrderPaidInput!) { markOrderPaid(input: $input) {
    order { status } userErrors { field code message } } }";

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A shop "acme" selling TEE at [`PRICE`], with plenty of it at MAIN.
struct Fixture {
    shop: Shop,
    product: String,
    location: String,
}

impl Fixture {
    /// Sets the shop up through `client` (an anonymous client of the server).
    async fn new(client: &Client) -> Fixture {
        let shop = client.register_shop("acme").await;
        let location = shop.owner.create_location("MAIN", "Main").await;
        let product = shop.owner.create_product("TEE", "Tee", PRICE).await;
        shop.owner.receive_stock(&product, &location, 100_000).await;
        Fixture { shop, product, location }
    }

    /// Places a one-unit order as the owner; its id.
    async fn order(&self) -> String {
        self.shop.owner.place_order(json!([{ "sku": "TEE", "quantity": 1 }])).await
    }

    /// Places `count` orders, one after another; their ids in order.
    async fn orders(&self, count: usize) -> Vec<String> {
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            ids.push(self.order().await);
        }
        ids
    }
}

/// A server on a fresh database with `args`, and the fixture shop.
async fn spawn(args: &[&str]) -> (TestApp, Fixture) {
    let app = TestApp::spawn_with(TestDatabase::create().await, args).await;
    let fixture = Fixture::new(&app.anonymous()).await;
    (app, fixture)
}

/// [`DELIVERING`] followed by `extra`.
fn delivering_with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    [&DELIVERING[..], extra].concat()
}

/// The `data` of an `order.*` webhook as the events documentation promises it.
fn order_data(order: &str, number: i64, status: &str, total: &str) -> Value {
    json!({
        "version": 1, "orderId": global_id_uuid(order).to_string(), "number": number, "status": status,
        "total": { "amount": total, "currencyCode": "USD" },
    })
}

/// A URL of 127.0.0.1 on which nothing listens (a port bound and let go at once).
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = listener.local_addr().expect("its address");
    drop(listener);
    format!("http://{address}/hook")
}

// ---------------------------------------------------------------------------------------------
// Waiting and reading
// ---------------------------------------------------------------------------------------------

/// The status of a delivery.
fn status(delivery: &Value) -> &str {
    delivery["status"].as_str().unwrap_or_else(|| panic!("a delivery without a status: {delivery}"))
}

/// How many of `deliveries` have each status, for failure messages.
fn statuses(deliveries: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for delivery in deliveries {
        *counts.entry(status(delivery).to_owned()).or_default() += 1;
    }
    counts
}

/// Waits until `endpoint` has exactly `count` deliveries, every one `wanted`; returns them,
/// newest first.
async fn wait_deliveries(
    client: &Client,
    endpoint: &str,
    count: usize,
    wanted: &str,
    deadline: Duration,
) -> Vec<Value> {
    eventually(&format!("{count} deliveries {wanted} to {endpoint}"), deadline, || async {
        let deliveries = client.webhook_deliveries(endpoint, None).await;
        if deliveries.len() == count && deliveries.iter().all(|delivery| status(delivery) == wanted) {
            Ok(deliveries)
        } else {
            Err(format!("{} deliveries: {:?}", deliveries.len(), statuses(&deliveries)))
        }
    })
    .await
}

/// Waits until `receiver` has had at least `count` requests; returns them all.
async fn wait_received(receiver: &Receiver, count: usize, deadline: Duration) -> Vec<Received> {
    eventually(&format!("{count} requests at {}", receiver.url()), deadline, || async {
        let received = receiver.received();
        if received.len() >= count { Ok(received) } else { Err(format!("{} requests", received.len())) }
    })
    .await
}

/// The attempts of a delivery.
fn attempts(delivery: &Value) -> Vec<Value> {
    delivery["attempts"].as_array().cloned().unwrap_or_else(|| panic!("a delivery without attempts: {delivery}"))
}

/// The `httpStatus` of each attempt of a delivery, in order (`None` for no answer).
fn attempt_statuses(delivery: &Value) -> Vec<Option<u64>> {
    attempts(delivery).iter().map(|attempt| attempt["httpStatus"].as_u64()).collect()
}

/// The string at `field` of `value`.
fn string(value: &Value, field: &str) -> String {
    value[field].as_str().map(str::to_owned).unwrap_or_else(|| panic!("no string {field} in {value}"))
}

/// Parses a `DateTime` the API answered.
fn time_of(value: &Value) -> OffsetDateTime {
    let text = value.as_str().unwrap_or_else(|| panic!("not a DateTime: {value}"));
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|err| panic!("{text} is not RFC 3339: {err}"))
}

/// Asserts every attempt of `delivery` that did not succeed says why, and the one that did
/// says nothing.
fn assert_errors_explain_failures(delivery: &Value) {
    for attempt in attempts(delivery) {
        let succeeded = attempt["httpStatus"].as_u64().is_some_and(|status| (200..300).contains(&status));
        let error = attempt["error"].as_str();
        if succeeded {
            assert_eq!(attempt["error"], Value::Null, "a successful attempt has no error: {delivery}");
        } else {
            assert!(error.is_some_and(|error| !error.is_empty()), "a failed attempt says why: {delivery}");
        }
    }
}

/// Asserts every request verifies with `secret`.
fn assert_all_verify(received: &[Received], secret: &str) {
    for request in received {
        if let Err(reason) = request.verify(secret) {
            panic!("a webhook does not verify ({reason}): {request:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One delivery
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_placed_order_is_posted_once_signed_and_logged_as_delivered() {
    let receiver = Receiver::ok().await;
    let (_app, fixture) = spawn(&DELIVERING).await;
    let owner = &fixture.shop.owner;
    let endpoint = owner.create_webhook_endpoint(&receiver.url(), &["order.placed"]).await;

    let order = fixture.order().await;
    let placed_at = OffsetDateTime::now_utc();
    let deliveries = wait_deliveries(owner, &endpoint.id, 1, "DELIVERED", DEADLINE).await;
    let received = receiver.received();

    assert_eq!(received.len(), 1, "one POST: {received:?}");
    let request = &received[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, keel_tests::HOOK_PATH, "posted to the registered URL");
    request.verify(&endpoint.secret).unwrap_or_else(|reason| panic!("does not verify: {reason}: {request:?}"));
    assert_eq!(request.signatures().len(), 1, "one secret, one signature: {request:?}");
    assert!(request.signatures()[0].starts_with("v1,"), "{request:?}");
    let content_type = request.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("application/json"), "content-type {content_type}");
    let sent_at: i64 = request.header("webhook-timestamp").and_then(|t| t.parse().ok()).expect("webhook-timestamp");
    assert!((sent_at - placed_at.unix_timestamp()).abs() <= 120, "webhook-timestamp {sent_at} is about now");
    let body = request.json();
    let keys: BTreeSet<&str> = body.as_object().expect("a JSON object").keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["data", "timestamp", "type"]), "{body}");
    assert_eq!(body["type"], "order.placed");
    assert_eq!(body["data"], order_data(&order, 1001, "PENDING_PAYMENT", PRICE));
    assert!((time_of(&body["timestamp"]) - placed_at).abs() <= time::Duration::minutes(2), "{body}");

    let delivery = &deliveries[0];
    assert_eq!(request.webhook_id(), string(delivery, "eventId"), "webhook-id is the delivery's eventId");
    assert_eq!(delivery["endpoint"]["id"], json!(endpoint.id));
    assert_eq!(delivery["eventType"], "order.placed");
    assert_eq!(delivery["attemptCount"], 1);
    assert_eq!(delivery["nextAttemptAt"], Value::Null, "nothing more is due: {delivery}");
    let attempt = &attempts(delivery)[0];
    assert_eq!(attempts(delivery).len(), 1, "{delivery}");
    assert_eq!((&attempt["number"], &attempt["httpStatus"], &attempt["error"]), (&json!(1), &json!(200), &Value::Null));
    assert!(attempt["durationMs"].as_u64().is_some(), "a duration in ms: {attempt}");
    assert!((time_of(&attempt["attemptedAt"]) - placed_at).abs() <= time::Duration::minutes(2), "{attempt}");
    let by_node = owner.webhook_delivery(&string(delivery, "id")).await;
    assert_eq!(&by_node, delivery, "node answers the delivery as the list does");
}

#[tokio::test]
async fn an_endpoint_gets_only_the_event_types_it_lists_and_only_from_its_own_shop() {
    let (placed_rx, paid_rx, both_rx, globex_rx) =
        (Receiver::ok().await, Receiver::ok().await, Receiver::ok().await, Receiver::ok().await);
    let (app, fixture) = spawn(&DELIVERING).await;
    let owner = &fixture.shop.owner;
    let globex = app.shop("globex").await;
    let placed = owner.create_webhook_endpoint(&placed_rx.url(), &["order.placed"]).await;
    let paid = owner.create_webhook_endpoint(&paid_rx.url(), &["order.paid"]).await;
    let both = owner.create_webhook_endpoint(&both_rx.url(), &["order.placed", "order.paid"]).await;
    let theirs = globex.owner.create_webhook_endpoint(&globex_rx.url(), &["order.placed", "order.paid"]).await;

    let order = fixture.order().await;
    wait_deliveries(owner, &placed.id, 1, "DELIVERED", DEADLINE).await;
    wait_deliveries(owner, &both.id, 1, "DELIVERED", DEADLINE).await;
    let paid_before = owner.webhook_deliveries(&paid.id, None).await;
    let paid_rx_before = paid_rx.count();
    owner
        .gql(MARK_PAID, json!({ "input": { "orderId": order, "reference": "bank 1" } }))
        .await
        .assert_accepted("markOrderPaid");
    wait_deliveries(owner, &paid.id, 1, "DELIVERED", DEADLINE).await;
    wait_deliveries(owner, &both.id, 2, "DELIVERED", DEADLINE).await;
    let placed_after = owner.webhook_deliveries(&placed.id, None).await;

    assert!(paid_before.is_empty(), "order.placed was queued for an order.paid endpoint: {paid_before:?}");
    assert_eq!(paid_rx_before, 0, "an order.paid endpoint got order.placed");
    assert_eq!(placed_after.len(), 1, "order.paid was queued for an order.placed endpoint: {placed_after:?}");
    let types = |receiver: &Receiver| {
        let mut types: Vec<String> = receiver.received().iter().map(|r| string(&r.json(), "type")).collect();
        types.sort();
        types
    };
    assert_eq!(types(&placed_rx), ["order.placed"]);
    assert_eq!(types(&paid_rx), ["order.paid"]);
    assert_eq!(types(&both_rx), ["order.paid", "order.placed"]);
    assert_eq!(paid_rx.received()[0].json()["data"], order_data(&order, 1001, "PAID", PRICE));
    // Another shop's endpoint: nothing is queued for it (queued in the transaction of the
    // event, so there would be a row by now), and nothing arrives.
    let foreign = globex.owner.webhook_deliveries(&theirs.id, None).await;
    assert!(foreign.is_empty(), "acme's events were queued for globex: {foreign:?}");
    assert_eq!(globex_rx.count(), 0, "acme's events reached globex");
}

// ---------------------------------------------------------------------------------------------
// Retries and refusals
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_receiver_failing_three_times_gets_the_event_on_the_fourth_attempt() {
    let receiver = Receiver::start(Script::first(3, Answer::status(500))).await;
    let base = Duration::from_millis(200);
    let base_ms = base.as_millis().to_string();
    let args = ["--webhook-allow-private", "true", "--webhook-poll-ms", "50", "--webhook-backoff-base-ms", &base_ms];
    let (_app, fixture) = spawn(&args).await;
    let owner = &fixture.shop.owner;
    let endpoint = owner.create_webhook_endpoint(&receiver.url(), &["order.placed"]).await;

    fixture.order().await;
    let deliveries = wait_deliveries(owner, &endpoint.id, 1, "DELIVERED", DEADLINE).await;
    let received = receiver.received();

    let delivery = &deliveries[0];
    assert_eq!(delivery["attemptCount"], 4, "{delivery}");
    assert_eq!(attempt_statuses(delivery), [Some(500), Some(500), Some(500), Some(200)], "{delivery}");
    let numbers: Vec<u64> = attempts(delivery).iter().filter_map(|a| a["number"].as_u64()).collect();
    assert_eq!(numbers, [1, 2, 3, 4], "{delivery}");
    assert_errors_explain_failures(delivery);
    assert_eq!(delivery["nextAttemptAt"], Value::Null, "{delivery}");

    assert_eq!(received.len(), 4, "four attempts reached the receiver: {received:?}");
    assert_eq!(received.iter().filter(|r| r.succeeded()).count(), 1, "exactly one success");
    let ids: BTreeSet<&str> = received.iter().map(Received::webhook_id).collect();
    assert_eq!(ids, BTreeSet::from([string(delivery, "eventId").as_str()]), "one webhook-id for every attempt");
    assert_all_verify(&received, &endpoint.secret);
    let first = received[0].json();
    for request in &received {
        let body = request.json();
        assert_eq!((&body["type"], &body["data"]), (&first["type"], &first["data"]), "every attempt sends the event");
    }
    // The delay before attempt n+1 is base·2^(n-1), jittered down to half of it at most. A
    // lower bound only (the poll interval and the machine's load only ever add to it), with
    // 20 ms for the time between an attempt starting and its request arriving.
    for n in 1..4_u32 {
        let gap = received[n as usize].arrived - received[n as usize - 1].arrived;
        let least = base * 2_u32.pow(n - 1) / 2;
        assert!(gap + Duration::from_millis(20) >= least, "attempt {} came {gap:?} after attempt {n}", n + 1);
    }
}

#[tokio::test]
async fn a_429_is_retried_no_sooner_than_its_retry_after() {
    let receiver = Receiver::start(Script::first(1, Answer::retry_after(1))).await;
    let (_app, fixture) = spawn(&DELIVERING).await;
    let owner = &fixture.shop.owner;
    let endpoint = owner.create_webhook_endpoint(&receiver.url(), &["order.placed"]).await;

    fixture.order().await;
    let deliveries = wait_deliveries(owner, &endpoint.id, 1, "DELIVERED", DEADLINE).await;
    let received = receiver.received();

    assert_eq!(attempt_statuses(&deliveries[0]), [Some(429), Some(200)], "{}", deliveries[0]);
    assert_errors_explain_failures(&deliveries[0]);
    assert_eq!(received.len(), 2, "{received:?}");
    let gap = received[1].arrived - received[0].arrived;
    // Retry-After: 1 against a 50 ms backoff: the receiver's wish wins. 100 ms of slack for
    // a next-attempt time the database may round.
    assert!(gap >= Duration::from_millis(900), "retried {gap:?} after a Retry-After of 1 s");
}

#[tokio::test]
async fn a_410_fails_the_delivery_at_once_and_is_never_retried() {
    let receiver = Receiver::start(Script::first(1, Answer::status(410))).await;
    let (_app, fixture) = spawn(&DELIVERING).await;
    let owner = &fixture.shop.owner;
    let endpoint = owner.create_webhook_endpoint(&receiver.url(), &["order.placed"]).await;

    fixture.order().await;
    wait_deliveries(owner, &endpoint.id, 1, "FAILED", DEADLINE).await;
    // A second event, delivered after the first failed: had the first been retried (50 ms
    // backoff), the retry would have come before or with it.
    fixture.order().await;
    let both = eventually("the second delivery", DEADLINE, || async {
        let deliveries = owner.webhook_deliveries(&endpoint.id, None).await;
        let done = deliveries.len() == 2 && status(&deliveries[0]) == "DELIVERED";
        if done { Ok(deliveries) } else { Err(format!("{:?}", statuses(&deliveries))) }
    })
    .await;
    let received = receiver.received();
    let failed_only = owner.webhook_deliveries(&endpoint.id, Some("FAILED")).await;
    let delivered_only = owner.webhook_deliveries(&endpoint.id, Some("DELIVERED")).await;
    let pending_only = owner.webhook_deliveries(&endpoint.id, Some("PENDING")).await;

    let failed = &both[1];
    assert_eq!(status(failed), "FAILED", "newest first: {both:?}");
    assert_eq!(failed["attemptCount"], 1, "{failed}");
    assert_eq!(attempt_statuses(failed), [Some(410)], "{failed}");
    assert_errors_explain_failures(failed);
    assert_eq!(failed["nextAttemptAt"], Value::Null, "no retry is due: {failed}");
    assert_eq!(received.len(), 2, "one request per event, no retry: {received:?}");
    assert_ne!(received[0].webhook_id(), received[1].webhook_id());
    assert_eq!(received[0].webhook_id(), string(failed, "eventId"));
    assert_eq!(&failed_only, std::slice::from_ref(failed), "the status filter");
    assert_eq!(&delivered_only, &both[..1], "the status filter");
    assert!(pending_only.is_empty(), "{pending_only:?}");
}

#[tokio::test]
async fn a_redirect_fails_the_delivery_and_is_not_followed() {
    let target = Receiver::ok().await;
    let redirectors = [
        (302, Receiver::start(Script::always(Answer::redirect(302, &target.url()))).await),
        (307, Receiver::start(Script::always(Answer::redirect(307, &target.url()))).await),
        (308, Receiver::start(Script::always(Answer::redirect(308, &target.url()))).await),
    ];
    let (_app, fixture) = spawn(&DELIVERING).await;
    let owner = &fixture.shop.owner;
    let mut endpoints = Vec::new();
    for (code, receiver) in &redirectors {
        endpoints.push((*code, owner.create_webhook_endpoint(&receiver.url(), &["order.placed"]).await));
    }

    fixture.order().await;
    let mut failed = Vec::new();
    for (code, endpoint) in &endpoints {
        failed.push((*code, wait_deliveries(owner, &endpoint.id, 1, "FAILED", DEADLINE).await.remove(0)));
    }

    for (code, delivery) in &failed {
        assert_eq!(attempt_statuses(delivery), [Some(*code)], "{code}: {delivery}");
        assert_eq!(delivery["attemptCount"], 1, "{code}: {delivery}");
        assert_errors_explain_failures(delivery);
    }
    for (code, receiver) in &redirectors {
        assert_eq!(receiver.count(), 1, "{code}: one request, no retry");
    }
    assert_eq!(target.count(), 0, "a redirect was followed: {:?}", target.received());
}

#[tokio::test]
async fn after_the_last_allowed_attempt_a_delivery_is_dead() {
    let failing = Receiver::start(Script::always(Answer::status(500))).await;
    let slow = Receiver::start(Script::always(Answer::ok().after(Duration::from_secs(5)))).await;
    let closed = closed_port_url();
    let (_app, fixture) =
        spawn(&delivering_with(&["--webhook-max-attempts", "3", "--webhook-timeout-ms", "1000"])).await;
    let owner = &fixture.shop.owner;
    let to_failing = owner.create_webhook_endpoint(&failing.url(), &["order.placed"]).await;
    let to_slow = owner.create_webhook_endpoint(&slow.url(), &["order.placed"]).await;
    let to_closed = owner.create_webhook_endpoint(&closed, &["order.placed"]).await;

    fixture.order().await;
    let deadline = Duration::from_secs(60);
    let on_failing = wait_deliveries(owner, &to_failing.id, 1, "DEAD", deadline).await.remove(0);
    let on_slow = wait_deliveries(owner, &to_slow.id, 1, "DEAD", deadline).await.remove(0);
    let on_closed = wait_deliveries(owner, &to_closed.id, 1, "DEAD", deadline).await.remove(0);

    assert_eq!(attempt_statuses(&on_failing), [Some(500); 3], "{on_failing}");
    assert_eq!(attempt_statuses(&on_slow), [None; 3], "timed out: no status: {on_slow}");
    assert_eq!(attempt_statuses(&on_closed), [None; 3], "refused: no status: {on_closed}");
    for delivery in [&on_failing, &on_slow, &on_closed] {
        assert_eq!(delivery["attemptCount"], 3, "{delivery}");
        assert_eq!(delivery["nextAttemptAt"], Value::Null, "nothing more is due: {delivery}");
        assert_errors_explain_failures(delivery);
    }
    for attempt in attempts(&on_slow) {
        let duration = attempt["durationMs"].as_u64().unwrap_or_default();
        assert!(duration >= 900, "an attempt cut off by the 1 s timeout lasted {duration} ms: {on_slow}");
    }
    assert_eq!(failing.count(), 3, "{:?}", failing.received());
    assert_eq!(slow.count(), 3, "{:?}", slow.received());
}

// ---------------------------------------------------------------------------------------------
// Secrets, disabling, redelivery
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn after_a_rotation_deliveries_verify_with_both_secrets_until_the_grace_ends() {
    let receiver = Receiver::ok().await;
    let (_app, fixture) = spawn(&DELIVERING).await;
    let owner = &fixture.shop.owner;
    let endpoint = owner.create_webhook_endpoint(&receiver.url(), &["order.placed"]).await;
    let rotate = |grace: Option<i64>| {
        let input = match grace {
            Some(seconds) => json!({ "endpointId": endpoint.id, "gracePeriodSeconds": seconds }),
            None => json!({ "endpointId": endpoint.id }),
        };
        owner.gql(ROTATE, json!({ "input": input }))
    };

    let rotated = rotate(None).await;
    let new = rotated.assert_accepted("rotateWebhookSecret").expect_str("/data/rotateWebhookSecret/secret");
    fixture.order().await;
    wait_deliveries(owner, &endpoint.id, 1, "DELIVERED", DEADLINE).await;
    let in_grace = receiver.received().remove(0);
    let cut = rotate(Some(0)).await;
    let newest = cut.assert_accepted("rotateWebhookSecret").expect_str("/data/rotateWebhookSecret/secret");
    let cut_at = OffsetDateTime::now_utc();
    fixture.order().await;
    wait_deliveries(owner, &endpoint.id, 2, "DELIVERED", DEADLINE).await;
    let after_grace = receiver.received().remove(1);

    assert_eq!(in_grace.signatures().len(), 2, "old and new secret both sign: {in_grace:?}");
    assert_eq!(in_grace.verify(&endpoint.secret), Ok(()), "the old secret still verifies during the grace");
    assert_eq!(in_grace.verify(&new), Ok(()), "the new secret verifies");
    assert_eq!(after_grace.signatures().len(), 1, "no grace, one signature: {after_grace:?}");
    assert_eq!(after_grace.verify(&newest), Ok(()), "the newest secret verifies");
    assert!(after_grace.verify(&new).is_err(), "the secret rotated away with no grace still verifies");
    assert!(after_grace.verify(&endpoint.secret).is_err(), "the first secret still verifies");
    let expiry = &cut.data()["rotateWebhookSecret"]["endpoint"]["previousSecretExpiresAt"];
    assert!(expiry.is_null() || time_of(expiry) <= cut_at, "a grace of 0 ends at once: {expiry}");
}

#[tokio::test]
async fn a_disabled_endpoint_is_sent_nothing_and_gets_only_what_happens_once_enabled() {
    let (on_rx, off_rx) = (Receiver::ok().await, Receiver::ok().await);
    let (_app, fixture) = spawn(&DELIVERING).await;
    let owner = &fixture.shop.owner;
    let on = owner.create_webhook_endpoint(&on_rx.url(), &["order.placed"]).await;
    let off = owner.create_webhook_endpoint(&off_rx.url(), &["order.placed"]).await;
    owner.gql(DISABLE, json!({ "id": off.id })).await.assert_accepted("disableWebhookEndpoint");

    fixture.orders(5).await;
    wait_deliveries(owner, &on.id, 5, "DELIVERED", DEADLINE).await;
    let queued_while_off = owner.webhook_deliveries(&off.id, None).await;
    let received_while_off = off_rx.count();
    owner.gql(ENABLE, json!({ "id": off.id })).await.assert_accepted("enableWebhookEndpoint");
    let later = fixture.order().await;
    wait_deliveries(owner, &off.id, 1, "DELIVERED", DEADLINE).await;
    wait_deliveries(owner, &on.id, 6, "DELIVERED", DEADLINE).await;

    assert!(queued_while_off.is_empty(), "events were queued for a disabled endpoint: {queued_while_off:?}");
    assert_eq!(received_while_off, 0, "a disabled endpoint was sent {received_while_off} requests");
    let received = off_rx.received();
    assert_eq!(received.len(), 1, "only the order placed once enabled: {received:?}");
    assert_eq!(received[0].json()["data"]["orderId"], json!(global_id_uuid(&later).to_string()));
}

#[tokio::test]
async fn disabling_an_endpoint_cancels_its_pending_deliveries() {
    // One success, then failures retried only a minute later: the failed ones stay PENDING.
    let receiver = Receiver::start(Script::first(1, Answer::ok()).then(Answer::status(500))).await;
    let args = [
        "--webhook-allow-private",
        "true",
        "--webhook-poll-ms",
        "50",
        "--webhook-backoff-base-ms",
        "60000",
        "--webhook-backoff-max-ms",
        "600000",
    ];
    let (_app, fixture) = spawn(&args).await;
    let owner = &fixture.shop.owner;
    let endpoint = owner.create_webhook_endpoint(&receiver.url(), &["order.placed"]).await;

    fixture.order().await;
    wait_deliveries(owner, &endpoint.id, 1, "DELIVERED", DEADLINE).await;
    fixture.orders(2).await;
    let waiting = eventually("two deliveries waiting for their second attempt", DEADLINE, || async {
        let deliveries = owner.webhook_deliveries(&endpoint.id, Some("PENDING")).await;
        // The attempt recorded, not just claimed: a claimed attempt in flight counts but has
        // no log entry yet.
        let tried = deliveries
            .iter()
            .filter(|d| d["attemptCount"] == 1 && d["nextAttemptAt"].is_string() && attempts(d).len() == 1)
            .count();
        if tried == 2 { Ok(deliveries) } else { Err(format!("{deliveries:?}")) }
    })
    .await;
    let disabled = owner.gql(DISABLE, json!({ "id": endpoint.id })).await;
    let after = owner.webhook_deliveries(&endpoint.id, None).await;
    fixture.order().await;
    let after_new_order = owner.webhook_deliveries(&endpoint.id, None).await;

    for delivery in &waiting {
        // The first retry waits base·2⁰ = 60 s, jittered to between 30 and 60 s.
        let attempted = time_of(&attempts(delivery)[0]["attemptedAt"]);
        let wait = time_of(&delivery["nextAttemptAt"]) - attempted;
        let expected = time::Duration::seconds(29)..=time::Duration::seconds(61);
        assert!(expected.contains(&wait), "the second attempt is due {wait} after the first: {delivery}");
    }
    assert_eq!(
        disabled.assert_accepted("disableWebhookEndpoint").data()["disableWebhookEndpoint"]["endpoint"]["status"],
        "DISABLED"
    );
    assert_eq!(
        after.iter().map(status).collect::<Vec<_>>(),
        ["CANCELLED", "CANCELLED", "DELIVERED"],
        "pending ones are cancelled, the delivered one stays: {after:?}"
    );
    for cancelled in &after[..2] {
        assert_eq!(cancelled["nextAttemptAt"], Value::Null, "nothing is due: {cancelled}");
        assert_eq!(cancelled["attemptCount"], 1, "{cancelled}");
    }
    assert_eq!(after_new_order.len(), 3, "nothing is queued for a disabled endpoint: {after_new_order:?}");
    assert_eq!(receiver.count(), 3, "one success and two failures, nothing after: {:?}", receiver.received());
}

#[tokio::test]
async fn redelivering_sends_the_same_event_again_as_a_new_delivery() {
    let receiver = Receiver::start(Script::first(1, Answer::status(410))).await;
    let (_app, fixture) = spawn(&DELIVERING).await;
    let owner = &fixture.shop.owner;
    let (staff, _) = fixture.shop.member("STAFF", "staff@acme.test").await;
    let endpoint = owner.create_webhook_endpoint(&receiver.url(), &["order.placed"]).await;

    fixture.order().await;
    let failed = wait_deliveries(owner, &endpoint.id, 1, "FAILED", DEADLINE).await.remove(0);
    let failed_id = string(&failed, "id");
    let by_staff = staff.gql(REDELIVER, json!({ "id": failed_id })).await;
    let redelivered = owner.gql(REDELIVER, json!({ "id": failed_id })).await;
    let deliveries = eventually("the redelivery", DEADLINE, || async {
        let deliveries = owner.webhook_deliveries(&endpoint.id, None).await;
        let done = deliveries.len() == 2 && status(&deliveries[0]) == "DELIVERED";
        if done { Ok(deliveries) } else { Err(format!("{deliveries:?}")) }
    })
    .await;
    let received = receiver.received();

    assert_eq!(by_staff.error_code(), Some("FORBIDDEN"), "{}", by_staff.text);
    let queued = &redelivered.assert_accepted("redeliverWebhook").data()["redeliverWebhook"]["delivery"];
    assert_ne!(queued["id"], failed["id"], "a new delivery: {queued}");
    assert_eq!((&queued["eventId"], &queued["eventType"]), (&failed["eventId"], &failed["eventType"]), "{queued}");
    assert_eq!(queued["endpoint"]["id"], json!(endpoint.id));
    assert_eq!(
        (&queued["status"], &queued["attemptCount"], &queued["attempts"]),
        (&json!("PENDING"), &json!(0), &json!([]))
    );
    assert_eq!(deliveries[0]["id"], queued["id"], "newest first: {deliveries:?}");
    assert_eq!(attempt_statuses(&deliveries[0]), [Some(200)], "{deliveries:?}");
    assert_eq!(deliveries[1], failed, "the failed delivery is left as it was");
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(received[0].webhook_id(), received[1].webhook_id(), "the same webhook-id again");
    assert_eq!(received[1].webhook_id(), string(&failed, "eventId"));
    assert_eq!(received[0].json()["data"], received[1].json()["data"], "the same event");
    assert_all_verify(&received, &endpoint.secret);
}

// ---------------------------------------------------------------------------------------------
// Many deliveries, slow receivers, several processes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_slow_receiver_does_not_hold_up_another_endpoint() {
    let slow = Receiver::start(Script::always(Answer::ok().after(Duration::from_secs(10)))).await;
    let fast = Receiver::ok().await;
    let (_app, fixture) = spawn(&DELIVERING).await;
    let owner = &fixture.shop.owner;
    let to_slow = owner.create_webhook_endpoint(&slow.url(), &["order.placed"]).await;
    let to_fast = owner.create_webhook_endpoint(&fast.url(), &["order.placed"]).await;

    fixture.orders(6).await;
    wait_deliveries(owner, &to_fast.id, 6, "DELIVERED", DEADLINE).await;
    wait_received(&slow, 1, DEADLINE).await;
    let at_slow = slow.received();
    let slow_deliveries = owner.webhook_deliveries(&to_slow.id, None).await;

    // Every slow answer takes 10 s: if the fast endpoint's deliveries had queued behind the
    // slow ones, one of them would have been answered by now.
    let answered = at_slow.iter().filter(|request| request.answered.is_some()).count();
    assert_eq!(answered, 0, "the fast endpoint waited for the slow one to answer");
    assert!(at_slow.len() <= 4, "{} requests in flight to one endpoint, over the limit of 4", at_slow.len());
    assert_eq!(fast.count(), 6, "{:?}", fast.received());
    assert_eq!(slow_deliveries.len(), 6, "every event was queued for the slow endpoint too");
    assert!(slow_deliveries.iter().all(|d| status(d) == "PENDING"), "{:?}", statuses(&slow_deliveries));
}

#[tokio::test]
async fn a_thousand_deliveries_to_ten_endpoints_each_arrive_exactly_once() {
    const ENDPOINTS: usize = 10;
    const EVENTS: usize = 100;
    let mut receivers = Vec::new();
    for _ in 0..ENDPOINTS {
        receivers.push(Receiver::ok().await);
    }
    let (_app, fixture) = spawn(&DELIVERING).await;
    let owner = &fixture.shop.owner;
    let mut endpoints = Vec::new();
    for receiver in &receivers {
        endpoints.push(owner.create_webhook_endpoint(&receiver.url(), &["stock.changed"]).await);
    }

    for _ in 0..EVENTS {
        owner.receive_stock(&fixture.product, &fixture.location, 1).await;
    }
    let deadline = Duration::from_secs(90);
    for receiver in &receivers {
        wait_received(receiver, EVENTS, deadline).await;
    }
    let mut id_sets = Vec::new();
    for (receiver, endpoint) in receivers.iter().zip(&endpoints) {
        let deliveries = wait_deliveries(owner, &endpoint.id, EVENTS, "DELIVERED", deadline).await;
        let received = receiver.received();

        assert_eq!(received.len(), EVENTS, "{} got {} requests for {EVENTS} events", receiver.url(), received.len());
        let ids: BTreeSet<String> = received.iter().map(|r| r.webhook_id().to_owned()).collect();
        assert_eq!(ids.len(), EVENTS, "a webhook-id arrived twice at {}", receiver.url());
        assert!(received.iter().all(Received::succeeded));
        assert_all_verify(&received, &endpoint.secret);
        for request in &received {
            let body = request.json();
            assert_eq!((&body["type"], &body["data"]["version"]), (&json!("stock.changed"), &json!(1)), "{body}");
        }
        for delivery in &deliveries {
            assert_eq!(delivery["attemptCount"], 1, "{delivery}");
        }
        let event_ids: BTreeSet<String> = deliveries.iter().map(|d| string(d, "eventId")).collect();
        assert_eq!(ids, event_ids, "the webhook-ids are the deliveries' event ids");
        id_sets.push(ids);
    }
    assert!(id_sets.windows(2).all(|pair| pair[0] == pair[1]), "every endpoint got the same hundred events");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run with KEEL_TEST_POSTGRES_URL set (the PostgreSQL pass of .ci/run runs them)"]
async fn on_postgres_two_processes_never_send_one_attempt_twice() {
    const EVENTS: usize = 200;
    // A short pause in every answer keeps attempts in flight while the other process polls.
    let receiver = Receiver::start(Script::always(Answer::ok().after(Duration::from_millis(20)))).await;
    let first = TestApp::spawn_with(TestDatabase::create_postgres().await, &DELIVERING).await;
    let second = first.spawn_beside(&DELIVERING).await;
    let fixture = Fixture::new(&first.anonymous()).await;
    let key = fixture.shop.api_key(&["INVENTORY_WRITE", "WEBHOOKS_MANAGE"]).await;
    let through_second = second.with_bearer(&key.secret);
    let endpoint = key.client.create_webhook_endpoint(&receiver.url(), &["stock.changed"]).await;

    for n in 0..EVENTS {
        let client = if n % 2 == 0 { &key.client } else { &through_second };
        client.receive_stock(&fixture.product, &fixture.location, 1).await;
    }
    let deadline = Duration::from_secs(90);
    wait_received(&receiver, EVENTS, deadline).await;
    let deliveries = wait_deliveries(&key.client, &endpoint.id, EVENTS, "DELIVERED", deadline).await;
    let received = receiver.received();

    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for request in &received {
        *per_id.entry(request.webhook_id()).or_default() += 1;
    }
    let twice: Vec<_> = per_id.iter().filter(|(_, count)| **count > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    assert_eq!(received.len(), EVENTS, "one request per event");
    for delivery in &deliveries {
        assert_eq!(delivery["attemptCount"], 1, "{delivery}");
        assert_eq!(attempt_statuses(delivery), [Some(200)], "one attempt logged: {delivery}");
    }
    assert_all_verify(&received, &endpoint.secret);
}

#[tokio::test]
async fn a_process_killed_mid_delivery_leaves_every_event_delivered_and_logged_once() {
    const ORDERS: usize = 20;
    // Every answer takes 3 s, so attempts are in flight when the process dies.
    let receiver = Receiver::start(Script::always(Answer::ok().after(Duration::from_secs(3)))).await;
    let database = TestDatabase::create().await;
    let args = delivering_with(&["--webhook-timeout-ms", "5000"]);
    let mut first = ChildServer::start(KEEL_CHILD, &database.url(), &args).await;
    let fixture = Fixture::new(&first.client()).await;
    let endpoint = fixture.shop.owner.create_webhook_endpoint(&receiver.url(), &["order.placed"]).await;

    fixture.orders(ORDERS).await;
    wait_received(&receiver, 1, DEADLINE).await;
    let killed = first.kill();
    let arrived_before_kill = receiver.count();
    let restarted_at = Instant::now();
    let second = ChildServer::start(KEEL_CHILD, &database.url(), &args).await;
    let token = second.client().sign_in("acme", "owner@acme.test", PASSWORD).await;
    let owner = second.client().with_bearer(&token);
    // A delivery the killed process had claimed waits out its lease (the 5 s timeout + 5 s).
    let deliveries = wait_deliveries(&owner, &endpoint.id, ORDERS, "DELIVERED", Duration::from_secs(90)).await;
    let received = receiver.received();

    assert_eq!(killed.signal(), Some(9), "the first process died of SIGKILL: {killed}");
    assert!(arrived_before_kill >= 1, "no attempt was in flight at the kill");
    assert!(arrived_before_kill < ORDERS, "everything was sent before the kill: nothing was tested");
    for delivery in &deliveries {
        let statuses = attempt_statuses(delivery);
        let successes = statuses.iter().filter(|s| s.is_some_and(|s| (200..300).contains(&s))).count();
        assert_eq!(successes, 1, "one successful attempt logged per delivery: {delivery}");
        assert_eq!(statuses.last().copied().flatten(), Some(200), "the success is the last attempt: {delivery}");
        assert_eq!(delivery["attemptCount"].as_u64(), Some(statuses.len() as u64), "{delivery}");
    }
    let event_ids: BTreeSet<String> = deliveries.iter().map(|d| string(d, "eventId")).collect();
    let received_ids: BTreeSet<String> = received.iter().map(|r| r.webhook_id().to_owned()).collect();
    assert_eq!(received_ids, event_ids, "every event reached the receiver");
    // At least once: an attempt cut off by the kill may come again, but the new process sends
    // each event once.
    let mut after_restart: HashMap<&str, usize> = HashMap::new();
    for request in received.iter().filter(|r| r.arrived >= restarted_at) {
        *after_restart.entry(request.webhook_id()).or_default() += 1;
    }
    let twice: Vec<_> = after_restart.iter().filter(|(_, count)| **count > 1).collect();
    assert!(twice.is_empty(), "the restarted process sent an event twice: {twice:?}");
    assert_all_verify(&received, &endpoint.secret);
}
