//! Processor webhooks as a processor meets them, at `POST /webhooks/payments/{processor}/{shop}`:
//! the owner sets the shop's signing secret (never shown back); a correctly signed event
//! settles a pending payment; a bad, stale or missing signature is a 400 that changes nothing;
//! one event id changes state once however often (and however concurrently) it is delivered;
//! a refund notice arriving before its charge's confirmation leaves correct state; and one
//! shop's webhook never reaches another shop's payments.
//!
//! Every server here runs with reconciliation off, so only webhooks settle a pending payment.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use keel_tests::{GqlResponse, Shop, TestApp, TestDatabase, global_id_key};
use serde_json::{Value, json};
use sha2::Sha256;

/// acme's signing secret, as its processor account would issue it.
const SECRET: &str = "whsec_acme_signing_secret_0001";
const SETTINGS: &str = "{ paymentSettings { processor webhookSecretSet webhookPath } }";
const UPDATE_SETTINGS: &str = "mutation($secret: String) { updatePaymentSettings(input: { webhookSecret: $secret }) {
    paymentSettings { processor webhookSecretSet webhookPath } userErrors { field code message } } }";
const PAY: &str = "mutation($input: PayOrderInput!) { payOrder(input: $input) {
    payment { id status processorReference } order { status } userErrors { field code message } } }";
const ORDER: &str = "query($id: ID!) { order(id: $id) { status history { from to actorKind }
    payments { id status failureCode refundedAmount { amount } refundableAmount { amount }
               refunds { status amount { amount } processorReference createdByKind } } } }";

/// A server whose pending payments only webhooks settle (reconciliation off).
async fn spawn() -> TestApp {
    TestApp::spawn_with(TestDatabase::create().await, &["--payment-reconcile-interval", "0"]).await
}

/// Registers `slug` selling TEE at 10.00 from 100 in stock, with `secret` as its webhook
/// signing secret when given.
async fn selling_shop(app: &TestApp, slug: &str, secret: Option<&str>) -> Shop {
    let shop = app.shop(slug).await;
    let location = shop.owner.create_location("MAIN", "Main").await;
    let product = shop.owner.create_product("TEE", "Tee", "10.00").await;
    shop.owner.receive_stock(&product, &location, 100).await;
    if let Some(secret) = secret {
        shop.owner.gql(UPDATE_SETTINGS, json!({ "secret": secret })).await.assert_accepted("updatePaymentSettings");
    }
    shop
}

/// A payment the asynchronous test method left `PENDING`, and its order.
struct Pending {
    order: String,
    payment: String,
    /// The payment's uuid, as Keel put it in the processor's `metadata.keel_payment_id`.
    uuid: String,
    /// The processor's payment intent id.
    reference: String,
}

/// Places an order of `quantity` TEE and pays it with `pm_card_simulated_async` under `key`.
async fn pending_payment(shop: &Shop, quantity: i64, key: &str) -> Pending {
    let order = shop.owner.place_order(json!([{ "sku": "TEE", "quantity": quantity }])).await;
    let paid = shop
        .owner
        .gql(
            PAY,
            json!({ "input": { "orderId": order, "paymentMethod": "pm_card_simulated_async", "idempotencyKey": key } }),
        )
        .await;
    paid.assert_accepted("payOrder");
    assert_eq!(paid.data()["payOrder"]["payment"]["status"], "PENDING", "{}", paid.text);
    let payment = paid.expect_str("/data/payOrder/payment/id");
    let key = global_id_key(&payment);
    let uuid = uuid::Uuid::parse_str(&key).unwrap_or_else(|err| panic!("payment id {payment} holds {key}: {err}"));
    let reference = paid.expect_str("/data/payOrder/payment/processorReference");
    Pending { order, payment, uuid: uuid.to_string(), reference }
}

/// A Stripe-shaped payment intent event about `pending`.
fn charge_event(event_id: &str, kind: &str, status: &str, pending: &Pending) -> String {
    let mut intent = json!({
        "id": pending.reference, "object": "payment_intent", "status": status, "amount": 2000, "currency": "usd",
        "metadata": { "keel_payment_id": pending.uuid },
    });
    if status == "requires_payment_method" {
        intent["last_payment_error"] = json!({ "code": "card_declined", "message": "Your card was declined." });
    }
    json!({ "id": event_id, "type": kind, "data": { "object": intent } }).to_string()
}

/// The current unix time in seconds.
fn now() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970");
    i64::try_from(since_epoch.as_secs()).expect("seconds fit an i64")
}

/// The hex HMAC-SHA256 under `secret` of `"<timestamp>.<body>"`.
fn hmac_hex(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A `Keel-Signature` header value: `t=<timestamp>,v1=<hmac>`.
fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    format!("t={timestamp},v1={}", hmac_hex(secret, timestamp, body))
}

/// The path of `shop`'s webhooks on a server running the simulated processor.
fn hook(shop: &Shop) -> String {
    format!("/webhooks/payments/simulated/{}", shop.slug)
}

/// POSTs `body` to `path` as a processor does, with `Keel-Signature: <signature>` when given.
async fn deliver(app: &TestApp, path: &str, signature: Option<&str>, body: &str) -> GqlResponse {
    let mut request = app.client.post(app.url(path)).header("content-type", "application/json").body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("Keel-Signature", signature);
    }
    app.send(request).await
}

/// Delivers `body` to `shop`'s webhook, signed now with `secret`.
async fn signed(app: &TestApp, shop: &Shop, secret: &str, body: &str) -> GqlResponse {
    deliver(app, &hook(shop), Some(&signature(secret, now(), body)), body).await
}

/// The order as its owner reads it: status, history and payments with refunds.
async fn order_state(shop: &Shop, order: &str) -> Value {
    let read = shop.owner.gql(ORDER, json!({ "id": order })).await;
    assert!(read.errors().is_empty() && read.data()["order"].is_object(), "order unreadable: {}", read.text);
    read.data()["order"].clone()
}

/// How many times the order's history entered `status`.
fn times_entered(order: &Value, status: &str) -> usize {
    order["history"].as_array().map_or(0, |history| history.iter().filter(|t| t["to"] == status).count())
}

/// The `outcome` a 200 answer to a delivery names (`applied`, `duplicate`, `ignored`).
fn outcome(answer: &GqlResponse) -> String {
    assert_eq!(answer.status, 200, "the delivery was refused: {}", answer.text);
    answer.body["outcome"].as_str().map(str::to_owned).unwrap_or_else(|| panic!("no outcome: {}", answer.text))
}

/// An event of a type Keel ignores: a cheap way to see whether a signature is accepted.
fn ignored_event(event_id: &str) -> String {
    json!({ "id": event_id, "type": "customer.created", "data": { "object": { "id": "cus_1" } } }).to_string()
}

#[tokio::test]
async fn the_owner_sets_the_webhook_secret_which_is_never_shown_back() {
    let app = spawn().await;
    let acme = app.shop("acme").await;
    let (staff, _) = acme.member("STAFF", "staff@acme.test").await;
    let (admin, _) = acme.member("ADMIN", "admin@acme.test").await;
    let manager = acme.api_key(&["PAYMENTS_MANAGE"]).await.client;
    let other_key = acme.api_key(&["ORDERS_READ", "ORDERS_MANAGE", "PAYMENTS_WRITE", "PAYMENTS_REFUND"]).await.client;
    let rotated = "whsec_acme_rotated_secret_0002";
    let staffs = "whsec_chosen_by_a_staff_member";

    let before = acme.owner.gql(SETTINGS, json!({})).await;
    let no_secret_yet = signed(&app, &acme, SECRET, &ignored_event("evt_before")).await;
    let set = acme.owner.gql(UPDATE_SETTINGS, json!({ "secret": SECRET })).await;
    let after = acme.owner.gql(SETTINGS, json!({})).await;
    let staff_reads = staff.gql(SETTINGS, json!({})).await;
    let staff_sets = staff.gql(UPDATE_SETTINGS, json!({ "secret": staffs })).await;
    let other_key_reads = other_key.gql(SETTINGS, json!({})).await;
    let other_key_sets = other_key.gql(UPDATE_SETTINGS, json!({ "secret": staffs })).await;
    let too_short = acme.owner.gql(UPDATE_SETTINGS, json!({ "secret": "whsec_short" })).await;
    let admin_reads = admin.gql(SETTINGS, json!({})).await;
    let with_owners = signed(&app, &acme, SECRET, &ignored_event("evt_owner")).await;
    let with_staffs = signed(&app, &acme, staffs, &ignored_event("evt_staff")).await;
    let key_reads = manager.gql(SETTINGS, json!({})).await;
    let key_sets = manager.gql(UPDATE_SETTINGS, json!({ "secret": rotated })).await;
    let with_old = signed(&app, &acme, SECRET, &ignored_event("evt_old")).await;
    let with_rotated = signed(&app, &acme, rotated, &ignored_event("evt_rotated")).await;
    let removed = acme.owner.gql(UPDATE_SETTINGS, json!({ "secret": null })).await;
    let after_removal = signed(&app, &acme, rotated, &ignored_event("evt_removed")).await;

    let path = "/webhooks/payments/simulated/acme";
    let shown = |set: bool| json!({ "processor": "SIMULATED", "webhookSecretSet": set, "webhookPath": path });
    assert_eq!(before.data()["paymentSettings"], shown(false), "{}", before.text);
    assert_eq!(no_secret_yet.status, 404, "a shop without a secret has no webhook endpoint: {}", no_secret_yet.text);
    assert_eq!(
        set.assert_accepted("updatePaymentSettings").data()["updatePaymentSettings"]["paymentSettings"],
        shown(true)
    );
    assert_eq!(after.data()["paymentSettings"], shown(true), "{}", after.text);
    assert_eq!(admin_reads.data()["paymentSettings"], shown(true), "admins manage payments: {}", admin_reads.text);
    assert_eq!(key_reads.data()["paymentSettings"], shown(true), "{}", key_reads.text);
    for (who, answer) in [
        ("staff reads", &staff_reads),
        ("staff sets", &staff_sets),
        ("a key without payments:manage reads", &other_key_reads),
        ("a key without payments:manage sets", &other_key_sets),
    ] {
        assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{who}: {}", answer.text);
    }
    assert_eq!(
        too_short.user_errors("updatePaymentSettings")[0]["field"],
        json!(["webhookSecret"]),
        "{}",
        too_short.text
    );
    assert_eq!(outcome(&with_owners), "ignored", "the owner's secret signs acme's webhooks");
    assert_eq!(with_staffs.status, 400, "the refused changes changed nothing: {}", with_staffs.text);
    key_sets.assert_accepted("updatePaymentSettings");
    assert_eq!(key_sets.data()["updatePaymentSettings"]["paymentSettings"], shown(true));
    assert_eq!(with_old.status, 400, "a rotated-out secret no longer signs: {}", with_old.text);
    assert_eq!(outcome(&with_rotated), "ignored", "an API key with payments:manage rotated the secret");
    assert_eq!(
        removed.assert_accepted("updatePaymentSettings").data()["updatePaymentSettings"]["paymentSettings"],
        shown(false)
    );
    assert_eq!(after_removal.status, 404, "webhooks are refused once the secret is removed: {}", after_removal.text);
    for answer in [&before, &set, &after, &admin_reads, &key_reads, &key_sets, &removed, &staff_sets, &too_short] {
        for secret in [SECRET, rotated, staffs] {
            assert!(!answer.text.contains(secret), "the secret was shown back: {}", answer.text);
        }
    }
}

#[tokio::test]
async fn a_signed_success_event_settles_a_pending_payment_and_pays_its_order() {
    let app = spawn().await;
    let acme = selling_shop(&app, "acme", Some(SECRET)).await;
    let pending = pending_payment(&acme, 2, "pay-async-1").await;
    let before = order_state(&acme, &pending.order).await;

    let answer =
        signed(&app, &acme, SECRET, &charge_event("evt_ok_1", "payment_intent.succeeded", "succeeded", &pending)).await;
    let after = order_state(&acme, &pending.order).await;
    let payment =
        acme.owner.gql("query($id: ID!) { payment(id: $id) { status } }", json!({ "id": pending.payment })).await;

    assert_eq!(
        (before["status"].as_str(), before["payments"][0]["status"].as_str()),
        (Some("PENDING_PAYMENT"), Some("PENDING"))
    );
    assert_eq!(outcome(&answer), "applied");
    assert_eq!(answer.body["received"], true, "{}", answer.text);
    assert_eq!(after["status"], "PAID", "{after}");
    assert_eq!(after["payments"].as_array().map(Vec::len), Some(1), "{after}");
    assert_eq!(after["payments"][0]["id"], pending.payment.as_str());
    assert_eq!(after["payments"][0]["status"], "SUCCEEDED", "{after}");
    assert_eq!(payment.data()["payment"]["status"], "SUCCEEDED", "{}", payment.text);
    assert_eq!(after["history"][1], json!({ "from": "PENDING_PAYMENT", "to": "PAID", "actorKind": "SYSTEM" }));
}

#[tokio::test]
async fn a_signed_failure_event_fails_the_payment_and_the_order_stays_payable() {
    let app = spawn().await;
    let acme = selling_shop(&app, "acme", Some(SECRET)).await;
    let pending = pending_payment(&acme, 2, "pay-async-1").await;

    let answer = signed(
        &app,
        &acme,
        SECRET,
        &charge_event("evt_failed_1", "payment_intent.payment_failed", "requires_payment_method", &pending),
    )
    .await;
    let failed = order_state(&acme, &pending.order).await;
    let paid_again = acme
        .owner
        .gql(
            PAY,
            json!({ "input": {
                "orderId": pending.order, "paymentMethod": "pm_card_visa", "idempotencyKey": "pay-visa-2",
            } }),
        )
        .await;
    let after = order_state(&acme, &pending.order).await;

    assert_eq!(outcome(&answer), "applied");
    assert_eq!(failed["status"], "PENDING_PAYMENT", "{failed}");
    assert_eq!(failed["payments"][0]["status"], "FAILED", "{failed}");
    assert_eq!(failed["payments"][0]["failureCode"], "card_declined", "{failed}");
    assert_eq!(times_entered(&failed, "PAID"), 0);
    paid_again.assert_accepted("payOrder");
    assert_eq!(paid_again.data()["payOrder"]["payment"]["status"], "SUCCEEDED", "{}", paid_again.text);
    assert_eq!(after["status"], "PAID", "the order was still payable: {after}");
    let statuses: Vec<&Value> =
        after["payments"].as_array().map(|p| p.iter().map(|p| &p["status"]).collect()).unwrap_or_default();
    assert_eq!(statuses, [&json!("FAILED"), &json!("SUCCEEDED")], "{after}");
}

#[tokio::test]
async fn a_bad_stale_or_missing_signature_is_a_400_and_changes_nothing() {
    let app = spawn().await;
    let acme = selling_shop(&app, "acme", Some(SECRET)).await;
    let globex = selling_shop(&app, "globex", None).await;
    let pending = pending_payment(&acme, 2, "pay-async-1").await;
    let body = charge_event("evt_ok_1", "payment_intent.succeeded", "succeeded", &pending);
    let t = now();
    let good_hex = hmac_hex(SECRET, t, &body);
    let other_body = charge_event("evt_other", "payment_intent.succeeded", "succeeded", &pending);

    let refused: Vec<(&str, Option<String>)> = vec![
        ("another secret", Some(signature("whsec_not_acmes_secret_at_all", t, &body))),
        ("301 s old", Some(signature(SECRET, t - 301, &body))),
        ("6 minutes ahead", Some(signature(SECRET, t + 360, &body))),
        ("no header", None),
        ("empty header", Some(String::new())),
        ("garbage", Some("garbage".to_owned())),
        ("no timestamp", Some(format!("v1={good_hex}"))),
        ("no v1", Some(format!("t={t}"))),
        ("timestamp not a number", Some(format!("t=now,v1={good_hex}"))),
        ("another scheme only", Some(format!("t={t},v0={good_hex}"))),
        ("truncated hmac", Some(format!("t={t},v1={}", &good_hex[..32]))),
        ("another body's signature", Some(signature(SECRET, t, &other_body))),
        ("signature of a different timestamp", Some(format!("t={},v1={good_hex}", t - 1))),
    ];
    for (case, header) in &refused {
        let answer = deliver(&app, &hook(&acme), header.as_deref(), &body).await;
        let state = order_state(&acme, &pending.order).await;

        assert_eq!(answer.status, 400, "{case}: {}", answer.text);
        assert_eq!(state["status"], "PENDING_PAYMENT", "{case} changed the order");
        assert_eq!(state["payments"][0]["status"], "PENDING", "{case} changed the payment");
    }
    let not_json = "this is not JSON {";
    let not_an_event = json!({ "hello": "world" }).to_string();
    for (case, bad_body) in [("not JSON", not_json), ("JSON but not an event", not_an_event.as_str())] {
        let answer = signed(&app, &acme, SECRET, bad_body).await;
        assert_eq!(answer.status, 400, "{case}: {}", answer.text);
    }
    let unknown_shop =
        deliver(&app, "/webhooks/payments/simulated/nobody", Some(&signature(SECRET, t, &body)), &body).await;
    let unknown_processor =
        deliver(&app, "/webhooks/payments/paypal/acme", Some(&signature(SECRET, t, &body)), &body).await;
    let other_processor =
        deliver(&app, "/webhooks/payments/http/acme", Some(&signature(SECRET, t, &body)), &body).await;
    let no_secret = signed(&app, &globex, SECRET, &body).await;
    for (case, answer) in [
        ("unknown shop", &unknown_shop),
        ("unknown processor", &unknown_processor),
        ("not this server's processor", &other_processor),
        ("a shop without a secret", &no_secret),
    ] {
        assert_eq!(answer.status, 404, "{case}: {}", answer.text);
    }
    assert_eq!(order_state(&acme, &pending.order).await["payments"][0]["status"], "PENDING");

    // None of the refused deliveries used up the event: signed properly (4 minutes ago, within
    // the tolerance) it applies.
    let good = deliver(&app, &hook(&acme), Some(&signature(SECRET, now() - 240, &body)), &body).await;
    let after = order_state(&acme, &pending.order).await;

    assert_eq!(outcome(&good), "applied");
    assert_eq!((after["status"].as_str(), after["payments"][0]["status"].as_str()), (Some("PAID"), Some("SUCCEEDED")));
}

#[tokio::test]
async fn any_of_several_signatures_may_match_while_a_secret_rolls() {
    let app = spawn().await;
    let acme = selling_shop(&app, "acme", Some(SECRET)).await;
    let body = ignored_event("evt_rolling");
    let t = now();
    let header =
        format!("t={t},v1={},v1={}", hmac_hex("whsec_the_previous_secret_00", t, &body), hmac_hex(SECRET, t, &body));

    let answer = deliver(&app, &hook(&acme), Some(&header), &body).await;

    assert_eq!(outcome(&answer), "ignored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_event_delivered_ten_times_changes_state_once() {
    let app = Arc::new(spawn().await);
    let acme = selling_shop(&app, "acme", Some(SECRET)).await;
    let one_by_one = pending_payment(&acme, 2, "pay-async-1").await;
    let at_once = pending_payment(&acme, 1, "pay-async-2").await;
    let sequential_body = charge_event("evt_seq", "payment_intent.succeeded", "succeeded", &one_by_one);
    let concurrent_body = charge_event("evt_conc", "payment_intent.succeeded", "succeeded", &at_once);

    let mut sequential = Vec::new();
    for _ in 0..10 {
        sequential.push(signed(&app, &acme, SECRET, &sequential_body).await);
    }
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (app, acme, body) = (Arc::clone(&app), acme.clone(), concurrent_body.clone());
        racers.spawn(async move { signed(&app, &acme, SECRET, &body).await });
    }
    let concurrent = racers.join_all().await;
    // The processor also says the same thing again under a new event id: still nothing more.
    let restated =
        signed(&app, &acme, SECRET, &charge_event("evt_seq_2", "payment_intent.succeeded", "succeeded", &one_by_one))
            .await;
    let first = order_state(&acme, &one_by_one.order).await;
    let second = order_state(&acme, &at_once.order).await;

    let outcomes: Vec<String> = sequential.iter().map(outcome).collect();
    assert_eq!(outcomes[0], "applied");
    assert!(outcomes[1..].iter().all(|o| o == "duplicate"), "repeats are duplicates: {outcomes:?}");
    let mut outcomes: Vec<String> = concurrent.iter().map(outcome).collect();
    outcomes.sort();
    let mut expected = vec!["applied".to_owned()];
    expected.extend(std::iter::repeat_n("duplicate".to_owned(), 9));
    assert_eq!(outcomes, expected, "one concurrent copy applies, the others are duplicates");
    assert_eq!(restated.status, 200, "{}", restated.text);
    for order in [&first, &second] {
        assert_eq!(order["status"], "PAID", "{order}");
        assert_eq!(times_entered(order, "PAID"), 1, "exactly one order.paid transition: {order}");
        assert_eq!(order["history"].as_array().map(Vec::len), Some(2), "{order}");
        assert_eq!(order["payments"].as_array().map(Vec::len), Some(1), "{order}");
        assert_eq!(order["payments"][0]["status"], "SUCCEEDED", "{order}");
        assert_eq!(order["payments"][0]["refunds"], json!([]), "{order}");
    }
}

#[tokio::test]
async fn a_dashboard_refund_notice_before_the_charge_confirmation_leaves_correct_state() {
    let app = spawn().await;
    let acme = selling_shop(&app, "acme", Some(SECRET)).await;
    let pending = pending_payment(&acme, 2, "pay-async-1").await;
    let refund = |event_id: &str, kind: &str| {
        json!({ "id": event_id, "type": kind, "data": { "object": {
            "id": "re_dashboard_1", "object": "refund", "status": "succeeded", "amount": 500,
            "currency": "usd", "payment_intent": pending.reference, "metadata": {} } } })
        .to_string()
    };

    let refund_first = signed(&app, &acme, SECRET, &refund("evt_refund_1", "refund.updated")).await;
    let refunded = order_state(&acme, &pending.order).await;
    let charge_later =
        signed(&app, &acme, SECRET, &charge_event("evt_charge_1", "payment_intent.succeeded", "succeeded", &pending))
            .await;
    // The same refund reported again under another event: it is known by its reference.
    let refund_again = signed(&app, &acme, SECRET, &refund("evt_refund_2", "refund.created")).await;
    let after = order_state(&acme, &pending.order).await;

    assert_eq!(outcome(&refund_first), "applied");
    assert_eq!(refunded["status"], "PARTIALLY_REFUNDED", "{refunded}");
    let payment = &refunded["payments"][0];
    assert_eq!(payment["status"], "SUCCEEDED", "the refund notice implies the charge succeeded: {refunded}");
    assert_eq!(
        payment["refunds"],
        json!([{
            "status": "SUCCEEDED", "amount": { "amount": "5.00" },
            "processorReference": "re_dashboard_1", "createdByKind": "SYSTEM",
        }])
    );
    assert_eq!(payment["refundedAmount"]["amount"], "5.00");
    assert_eq!(payment["refundableAmount"]["amount"], "15.00");
    let steps: Vec<&Value> =
        refunded["history"].as_array().map(|h| h.iter().map(|t| &t["to"]).collect()).unwrap_or_default();
    assert_eq!(steps, [&json!("PENDING_PAYMENT"), &json!("PAID"), &json!("PARTIALLY_REFUNDED")]);
    assert_eq!(charge_later.status, 200, "{}", charge_later.text);
    assert_eq!(refund_again.status, 200, "{}", refund_again.text);
    assert_eq!(after, refunded, "the late confirmation and the repeated refund notice changed nothing");
}

/// The stock level of TEE at the shop's only location.
async fn tee_stock(shop: &Shop) -> Value {
    let ids = shop
        .owner
        .gql("{ productBySku(sku: \"TEE\") { id } locations(first: 1) { edges { node { id } } } }", json!({}))
        .await;
    let product = ids.expect_str("/data/productBySku/id");
    let location = ids.expect_str("/data/locations/edges/0/node/id");
    shop.owner.stock_level(&product, &location).await
}

#[tokio::test]
async fn a_whole_dashboard_refund_before_the_confirmation_refunds_the_order_and_releases_its_stock() {
    let app = spawn().await;
    let acme = selling_shop(&app, "acme", Some(SECRET)).await;
    let pending = pending_payment(&acme, 2, "pay-async-1").await;
    let refund = |event_id: &str, refund_id: &str, amount: i64| {
        json!({ "id": event_id, "type": "refund.updated", "data": { "object": {
            "id": refund_id, "object": "refund", "status": "succeeded", "amount": amount,
            "payment_intent": pending.reference, "metadata": {} } } })
        .to_string()
    };
    let reserved = tee_stock(&acme).await;

    let too_much = signed(&app, &acme, SECRET, &refund("evt_refund_0", "re_too_much", 2001)).await;
    let after_too_much = order_state(&acme, &pending.order).await;
    let whole = signed(&app, &acme, SECRET, &refund("evt_refund_1", "re_whole", 2000)).await;
    let refunded = order_state(&acme, &pending.order).await;
    let more = signed(&app, &acme, SECRET, &refund("evt_refund_2", "re_more", 100)).await;
    let charge_later =
        signed(&app, &acme, SECRET, &charge_event("evt_charge_1", "payment_intent.succeeded", "succeeded", &pending))
            .await;
    let after = order_state(&acme, &pending.order).await;

    assert_eq!(reserved, json!({ "onHand": 100, "reserved": 2, "available": 98 }));
    assert_eq!(too_much.status, 200, "{}", too_much.text);
    assert_eq!(after_too_much["payments"][0]["refunds"], json!([]), "more than was charged is not recorded");
    assert_eq!(outcome(&whole), "applied");
    assert_eq!(refunded["status"], "REFUNDED", "{refunded}");
    assert_eq!(refunded["payments"][0]["status"], "SUCCEEDED", "{refunded}");
    assert_eq!(refunded["payments"][0]["refundedAmount"]["amount"], "20.00", "{refunded}");
    assert_eq!(refunded["payments"][0]["refundableAmount"]["amount"], "0.00", "{refunded}");
    let steps: Vec<&Value> =
        refunded["history"].as_array().map(|h| h.iter().map(|t| &t["to"]).collect()).unwrap_or_default();
    assert_eq!(steps, [&json!("PENDING_PAYMENT"), &json!("PAID"), &json!("REFUNDED")]);
    assert_eq!(
        tee_stock(&acme).await,
        json!({ "onHand": 100, "reserved": 0, "available": 100 }),
        "refunded in full before it shipped, the order releases its stock"
    );
    assert_eq!((more.status, charge_later.status), (200, 200), "{} {}", more.text, charge_later.text);
    assert_eq!(after, refunded, "nothing is refunded beyond the charge, and the late confirmation changes nothing");
}

#[tokio::test]
async fn a_late_notice_of_an_earlier_state_does_not_undo_a_settled_payment() {
    let app = spawn().await;
    let acme = selling_shop(&app, "acme", Some(SECRET)).await;
    let pending = pending_payment(&acme, 2, "pay-async-1").await;

    let succeeded =
        signed(&app, &acme, SECRET, &charge_event("evt_2", "payment_intent.succeeded", "succeeded", &pending)).await;
    let paid = order_state(&acme, &pending.order).await;
    let processing =
        signed(&app, &acme, SECRET, &charge_event("evt_1", "payment_intent.processing", "processing", &pending)).await;
    let failed = signed(
        &app,
        &acme,
        SECRET,
        &charge_event("evt_0", "payment_intent.payment_failed", "requires_payment_method", &pending),
    )
    .await;
    let after = order_state(&acme, &pending.order).await;

    assert_eq!(outcome(&succeeded), "applied");
    assert_eq!((processing.status, failed.status), (200, 200), "{} {}", processing.text, failed.text);
    assert_eq!(paid["status"], "PAID", "{paid}");
    assert_eq!(after, paid, "a settled payment stays settled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_notices_of_one_charge_and_its_refund_settle_each_once() {
    let app = Arc::new(spawn().await);
    let acme = selling_shop(&app, "acme", Some(SECRET)).await;
    let pending = pending_payment(&acme, 2, "pay-async-1").await;
    let mut bodies = Vec::new();
    for n in 0..5 {
        bodies.push(charge_event(&format!("evt_charge_{n}"), "payment_intent.succeeded", "succeeded", &pending));
        // Stripe sends refund.created and then refund.updated for one refund, each its own event.
        let kind = if n % 2 == 0 { "refund.created" } else { "refund.updated" };
        bodies.push(
            json!({ "id": format!("evt_refund_{n}"), "type": kind, "data": { "object": {
                "id": "re_dashboard_1", "object": "refund", "status": "succeeded", "amount": 500,
                "payment_intent": pending.reference, "metadata": {} } } })
            .to_string(),
        );
    }

    let mut racers = tokio::task::JoinSet::new();
    for body in bodies {
        let (app, acme) = (Arc::clone(&app), acme.clone());
        racers.spawn(async move { signed(&app, &acme, SECRET, &body).await });
    }
    let answers = racers.join_all().await;
    let after = order_state(&acme, &pending.order).await;

    for answer in &answers {
        assert_eq!(answer.status, 200, "every notice is received: {}", answer.text);
    }
    assert_eq!(after["status"], "PARTIALLY_REFUNDED", "{after}");
    assert_eq!((times_entered(&after, "PAID"), times_entered(&after, "PARTIALLY_REFUNDED")), (1, 1), "{after}");
    assert_eq!(after["payments"][0]["status"], "SUCCEEDED", "{after}");
    assert_eq!(after["payments"][0]["refunds"].as_array().map(Vec::len), Some(1), "one refund recorded: {after}");
    assert_eq!(after["payments"][0]["refundedAmount"]["amount"], "5.00", "{after}");
}

#[tokio::test]
async fn one_shops_webhook_never_touches_another_shops_payment() {
    let app = spawn().await;
    let acme = selling_shop(&app, "acme", Some(SECRET)).await;
    let globex_secret = "whsec_globex_signing_secret_01";
    let globex = selling_shop(&app, "globex", Some(globex_secret)).await;
    let acmes = pending_payment(&acme, 2, "pay-async-1").await;
    let charge = charge_event("evt_cross_1", "payment_intent.succeeded", "succeeded", &acmes);
    let refund = json!({ "id": "evt_cross_2", "type": "refund.updated", "data": { "object": {
        "id": "re_cross", "object": "refund", "status": "succeeded", "amount": 500,
        "payment_intent": acmes.reference, "metadata": {} } } })
    .to_string();

    let charge_to_globex = signed(&app, &globex, globex_secret, &charge).await;
    let refund_to_globex = signed(&app, &globex, globex_secret, &refund).await;
    let globex_signs_for_acme = signed(&app, &acme, globex_secret, &charge).await;
    let acme_signs_for_globex = signed(&app, &globex, SECRET, &charge).await;
    let untouched = order_state(&acme, &acmes.order).await;
    let globex_sees = globex.owner.gql("{ payments(first: 10) { edges { node { id } } } }", json!({})).await;

    assert_eq!(outcome(&charge_to_globex), "ignored", "globex has no such payment");
    assert_eq!(outcome(&refund_to_globex), "ignored", "globex has no such charge");
    assert_eq!(globex_signs_for_acme.status, 400, "{}", globex_signs_for_acme.text);
    assert_eq!(acme_signs_for_globex.status, 400, "{}", acme_signs_for_globex.text);
    assert_eq!(untouched["status"], "PENDING_PAYMENT", "{untouched}");
    assert_eq!(untouched["payments"][0]["status"], "PENDING", "{untouched}");
    assert_eq!(untouched["payments"][0]["refunds"], json!([]), "{untouched}");
    assert_eq!(globex_sees.edges("payments"), Vec::<Value>::new(), "{}", globex_sees.text);

    // The same event id is acme's own to use: globex's delivery did not claim it for acme.
    let to_acme = signed(&app, &acme, SECRET, &charge).await;
    assert_eq!(outcome(&to_acme), "applied");
    assert_eq!(order_state(&acme, &acmes.order).await["status"], "PAID");
}
