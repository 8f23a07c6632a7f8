//! Payments as shops and their customers meet them: paying an order through the processor (the
//! built-in simulated one, or a Stripe-shaped HTTP API faked with wiremock, which counts and
//! scripts what the processor sees), declines, idempotent and racing payment requests, unknown
//! outcomes settled by reconciliation, the circuit breaker in front of a processor that times out
//! or cannot be reached, refunds (partial, full, racing), cancelling a paid order, and the
//! `MANUAL` payment `markOrderPaid` records.
//!
//! Every test ends by reading the orders back and checking the invariant: an order is
//! paid exactly when it has a `SUCCEEDED` payment of its total ([`assert_payment_invariant`]).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keel_tests::{Client, GqlResponse, Shop, TestApp, TestDatabase};
use serde_json::{Value, json};
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const PAY: &str = "mutation($input: PayOrderInput!) { payOrder(input: $input) {
    payment { id orderId status amount { amount currencyCode } processor paymentMethod processorReference
              failureCode failureMessage }
    order { id status } userErrors { field code message } } }";
const REFUND: &str = "mutation($input: RefundPaymentInput!) { refundPayment(input: $input) {
    refund { id status amount { amount } cancelsOrder }
    payment { id refundedAmount { amount } refundableAmount { amount } }
    order { status } userErrors { field code message } } }";
const CANCEL: &str = "mutation($input: CancelOrderInput!) { cancelOrder(input: $input) {
    order { status } userErrors { field code message } } }";
const MARK_PAID: &str = "mutation($input: MarkOrderPaidInput!) { markOrderPaid(input: $input) {
    order { status } userErrors { field code message } } }";
const FULFILL: &str = "mutation($input: FulfillOrderInput!) { fulfillOrder(input: $input) {
    order { status } userErrors { field code message } } }";
const PLACE_OWN: &str = "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) {
    order { id } userErrors { field code message } } }";
const ORDER: &str = "query($id: ID!) { order(id: $id) { id status total { amount }
    history { from to }
    payments { id status amount { amount } processor paymentMethod processorReference failureCode
               refundedAmount { amount } refundableAmount { amount }
               refunds { status amount { amount } cancelsOrder } } } }";

/// The fixture product's unit price; a fixture order is two units, [`ORDER_TOTAL`].
const UNIT_PRICE: &str = "12.50";
/// The total of every fixture order.
const ORDER_TOTAL: &str = "25.00";
/// Units a fixture order reserves.
const ORDER_UNITS: i64 = 2;
/// Units the fixture shop holds.
const STOCK: i64 = 1000;
/// The secret the `http` processor is started with.
const PROCESSOR_SECRET: &str = "sk_test_keel";
/// How long a test waits for a background job before failing.
const JOB_DEADLINE: Duration = Duration::from_secs(30);
/// The margin the issue allows over the processor timeout ("within the timeout plus a small
/// margin").
const MARGIN: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A shop "acme" selling one product, TEE at [`UNIT_PRICE`], with [`STOCK`] units at one
/// location.
struct Fixture {
    shop: Shop,
    product: String,
    location: String,
}

impl Fixture {
    async fn new(app: &TestApp) -> Fixture {
        let shop = app.shop("acme").await;
        let location = shop.owner.create_location("MAIN", "Main").await;
        let product = shop.owner.create_product("TEE", "Tee", UNIT_PRICE).await;
        shop.owner.receive_stock(&product, &location, STOCK).await;
        Fixture { shop, product, location }
    }

    /// Places an order of [`ORDER_UNITS`] TEE (total [`ORDER_TOTAL`]) as the owner; its id.
    async fn order(&self) -> String {
        self.shop.owner.place_order(json!([{ "sku": "TEE", "quantity": ORDER_UNITS }])).await
    }

    /// Places `count` fixture orders.
    async fn orders(&self, count: usize) -> Vec<String> {
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            ids.push(self.order().await);
        }
        ids
    }

    /// The product's stock level: `{ onHand, reserved, available }`.
    async fn stock(&self) -> Value {
        self.shop.owner.stock_level(&self.product, &self.location).await
    }
}

/// Places a fixture-sized order as `customer`, under their own email; its id.
async fn customer_order(customer: &Client) -> String {
    let placed =
        customer.gql(PLACE_OWN, json!({ "input": { "lines": [{ "sku": "TEE", "quantity": ORDER_UNITS }] } })).await;
    placed.assert_accepted("placeOrder").expect_str("/data/placeOrder/order/id")
}

/// Boots a server on a fresh database with `args`.
async fn spawn(args: &[&str]) -> TestApp {
    TestApp::spawn_with(TestDatabase::create().await, args).await
}

/// Boots a server whose `http` processor is at `url`, with `extra` arguments.
async fn spawn_http(url: &str, extra: &[&str]) -> TestApp {
    spawn(&http_args(url, extra)).await
}

/// The arguments that point a server at an `http` processor at `url`, then `extra`.
fn http_args<'a>(url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--payment-processor",
        "http",
        "--payment-processor-url",
        url,
        "--payment-processor-secret",
        PROCESSOR_SECRET,
    ];
    args.extend_from_slice(extra);
    args
}

/// A URL of 127.0.0.1 on which nothing listens (a port bound and let go at once).
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = listener.local_addr().expect("its address");
    drop(listener);
    format!("http://{address}")
}

// ---------------------------------------------------------------------------------------------
// Requests and answers
// ---------------------------------------------------------------------------------------------

/// Pays `order` with `method` under `key`, as `client`.
async fn pay(client: &Client, order: &str, method: &str, key: &str) -> GqlResponse {
    client.gql(PAY, json!({ "input": { "orderId": order, "paymentMethod": method, "idempotencyKey": key } })).await
}

/// Refunds `amount` USD of `payment` (the rest when `None`) under `key`, as `client`.
async fn refund(client: &Client, payment: &str, amount: Option<&str>, key: &str) -> GqlResponse {
    let amount = amount.map(|amount| json!({ "amount": amount, "currencyCode": "USD" }));
    client
        .gql(
            REFUND,
            json!({ "input": { "paymentId": payment, "amount": amount, "reason": "test", "idempotencyKey": key } }),
        )
        .await
}

/// Cancels `order`, as `client`.
async fn cancel(client: &Client, order: &str) -> GqlResponse {
    client.gql(CANCEL, json!({ "input": { "orderId": order, "reason": "customer asked" } })).await
}

/// The payment a [`PAY`] answer made.
fn paid(answer: &GqlResponse) -> &Value {
    let payment = &answer.data()["payOrder"]["payment"];
    assert!(payment.is_object(), "no payment in the answer: {}", answer.text);
    payment
}

/// The id of the payment a [`PAY`] answer made.
fn payment_id(answer: &GqlResponse) -> String {
    answer.expect_str("/data/payOrder/payment/id")
}

/// Order `id` as [`ORDER`] reads it (status, total, history, payments with refunds), as `client`.
async fn order_state(client: &Client, id: &str) -> Value {
    let read = client.gql(ORDER, json!({ "id": id })).await;
    let order = read.data()["order"].clone();
    assert!(order.is_object(), "order {id} could not be read: {}", read.text);
    order
}

/// The statuses of an order's payments, oldest first.
fn payment_statuses(order: &Value) -> Vec<String> {
    payments_of(order).iter().map(|p| p["status"].as_str().unwrap_or("?").to_owned()).collect()
}

fn payments_of(order: &Value) -> Vec<Value> {
    order["payments"].as_array().cloned().unwrap_or_else(|| panic!("no payments listed: {order}"))
}

/// The `extensions.retryAfter` of an answer's first error, which must be there.
fn retry_after(answer: &GqlResponse) -> u64 {
    answer.body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap_or_else(|| panic!("no extensions.retryAfter: {}", answer.text))
}

/// Reads order `id` until its status is `status`, failing after [`JOB_DEADLINE`]; the order.
async fn wait_for_status(client: &Client, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + JOB_DEADLINE;
    loop {
        let order = order_state(client, id).await;
        if order["status"] == status {
            return order;
        }
        assert!(Instant::now() < deadline, "order {id} never became {status}: {order}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks the invariant on an order read by [`ORDER`]: it is paid (`PAID`, refunded or
/// fulfilled) exactly when it has a `SUCCEEDED` payment of its total; an order cancelled after
/// payment keeps its payment only refunded in full; it never has two live payments.
fn assert_payment_invariant(order: &Value) {
    let payments = payments_of(order);
    let status = order["status"].as_str().unwrap_or_else(|| panic!("no status: {order}"));
    let succeeded: Vec<&Value> = payments.iter().filter(|p| p["status"] == "SUCCEEDED").collect();
    let live = payments.iter().filter(|p| p["status"] == "SUCCEEDED" || p["status"] == "PENDING").count();
    assert!(live <= 1, "an order with {live} live payments: {order}");
    match status {
        "PAID" | "PARTIALLY_REFUNDED" | "REFUNDED" | "FULFILLED" => {
            let [payment] = succeeded.as_slice() else {
                panic!("a {status} order without one SUCCEEDED payment: {order}")
            };
            assert_eq!(payment["amount"]["amount"], order["total"]["amount"], "paid in full: {order}");
        }
        "CANCELLED" => {
            for payment in succeeded {
                assert_eq!(payment["refundedAmount"], payment["amount"], "cancelled, not refunded: {order}");
            }
        }
        _ => assert!(succeeded.is_empty(), "a SUCCEEDED payment on a {status} order: {order}"),
    }
}

/// Runs the `count` futures `request` makes at once (each waits at one barrier), each timed
/// from its release; their outputs with the time each took.
async fn all_at_once<F, Fut, T>(count: usize, request: F) -> Vec<(T, Duration)>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(count));
    let mut tasks = JoinSet::new();
    for n in 0..count {
        let (barrier, request) = (barrier.clone(), request(n));
        tasks.spawn(async move {
            barrier.wait().await;
            let started = Instant::now();
            let output = request.await;
            (output, started.elapsed())
        });
    }
    tasks.join_all().await
}

// ---------------------------------------------------------------------------------------------
// A Stripe-shaped processor, faked
// ---------------------------------------------------------------------------------------------

/// Answers `POST /v1/payment_intents` with an intent of `status` named after the Keel payment
/// it is for (`pi_<payment uuid>`), so that every payment gets its own reference, as at a real
/// processor (and as Keel's unique index on references requires).
struct IntentAnswer {
    status: &'static str,
    delay: Duration,
}

impl Respond for IntentAnswer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let payment = form_field(request, "metadata[keel_payment_id]").unwrap_or_default();
        ResponseTemplate::new(200)
            .set_body_json(json!({
                "id": format!("pi_{}", payment.replace('-', "")), "object": "payment_intent", "status": self.status,
                "metadata": { "keel_payment_id": payment },
            }))
            .set_delay(self.delay)
    }
}

/// Answers `POST /v1/refunds` with a refund of `status` named after the Keel refund
/// (`re_<refund uuid>`), with `failure_reason` when it failed.
struct RefundAnswer {
    status: &'static str,
}

impl Respond for RefundAnswer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let refund = form_field(request, "metadata[keel_refund_id]").unwrap_or_default();
        let failure_reason = (self.status == "failed").then_some("lost_or_stolen_card");
        ResponseTemplate::new(200).set_body_json(json!({
            "id": format!("re_{}", refund.replace('-', "")), "object": "refund", "status": self.status,
            "failure_reason": failure_reason, "metadata": { "keel_refund_id": refund },
        }))
    }
}

/// Mounts `answer` for `POST <route>`, for the first `times` requests (all when `None`); mounted
/// earlier, it is tried first.
async fn answer_with(server: &MockServer, route: &str, answer: impl Respond + 'static, times: Option<u64>) {
    let mock = Mock::given(method("POST")).and(path(route)).respond_with(answer);
    let mock = match times {
        Some(times) => mock.up_to_n_times(times),
        None => mock,
    };
    mock.mount(server).await;
}

/// Succeeds every charge at once.
async fn charges_succeed(server: &MockServer) {
    answer_with(server, "/v1/payment_intents", IntentAnswer { status: "succeeded", delay: Duration::ZERO }, None).await;
}

/// The form field `name` of a recorded request.
fn form_field(request: &Request, name: &str) -> Option<String> {
    url::form_urlencoded::parse(&request.body).find(|(field, _)| field == name).map(|(_, value)| value.into_owned())
}

/// The `Idempotency-Key` header of a recorded request.
fn idempotency_key(request: &Request) -> String {
    request
        .headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no Idempotency-Key on {} {}", request.method, request.url))
}

/// The `POST <route>` requests the processor received, in order.
async fn received(server: &MockServer, route: &str) -> Vec<Request> {
    let all = server.received_requests().await.expect("requests are recorded");
    all.into_iter().filter(|r| r.method == wiremock::http::Method::POST && r.url.path() == route).collect()
}

/// The charge requests (`POST /v1/payment_intents`) the processor received.
async fn charges(server: &MockServer) -> Vec<Request> {
    received(server, "/v1/payment_intents").await
}

// ---------------------------------------------------------------------------------------------
// 1. Paying
// ---------------------------------------------------------------------------------------------

/// A card that succeeds pays the order's total at once, for the owner and for staff: the
/// payment is `SUCCEEDED`, the order `PAID` with a `PENDING_PAYMENT → PAID` step in its
/// history, and `Order.payments` lists the payment.
#[tokio::test]
async fn the_owner_and_staff_pay_an_order_in_full_with_a_card_that_succeeds() {
    let app = TestApp::spawn().await;
    let f = Fixture::new(&app).await;
    let (staff, _) = f.shop.member("STAFF", "staff@acme.test").await;
    let [by_owner, by_staff] = [f.order().await, f.order().await];

    for (who, client, order) in [("owner", &f.shop.owner, &by_owner), ("staff", &staff, &by_staff)] {
        let answer = pay(client, order, "pm_card_visa", &format!("pay-{who}")).await;
        let state = order_state(&f.shop.owner, order).await;

        answer.assert_accepted("payOrder");
        let payment = paid(&answer);
        assert_eq!(payment["status"], "SUCCEEDED", "{who}: {}", answer.text);
        assert_eq!(payment["amount"], json!({ "amount": ORDER_TOTAL, "currencyCode": "USD" }), "{who}");
        assert_eq!((&payment["processor"], &payment["paymentMethod"]), (&json!("SIMULATED"), &json!("pm_card_visa")));
        assert_eq!(payment["orderId"], order.as_str());
        assert!(payment["processorReference"].as_str().is_some_and(|r| r.starts_with("pi_")), "{}", answer.text);
        assert_eq!(answer.data()["payOrder"]["order"], json!({ "id": order, "status": "PAID" }), "{who}");
        assert_eq!(state["status"], "PAID", "{who}: {state}");
        assert_eq!(payments_of(&state).len(), 1, "{state}");
        assert_eq!(state["payments"][0]["id"], payment["id"], "Order.payments lists it: {state}");
        assert_eq!(state["payments"][0]["status"], "SUCCEEDED");
        let last = state["history"].as_array().and_then(|h| h.last()).cloned().unwrap_or_default();
        assert_eq!((&last["from"], &last["to"]), (&json!("PENDING_PAYMENT"), &json!("PAID")), "{state}");
        assert_payment_invariant(&state);
    }
    assert_eq!(f.stock().await["reserved"], 2 * ORDER_UNITS, "paid orders keep their stock reserved");
}

/// An API key holding only `payments:write` pays an order, and sees the payment but not the
/// order (that needs `orders:read`); its repeat replays the payment.
#[tokio::test]
async fn a_key_with_only_payments_write_pays_but_is_not_shown_the_order() {
    let app = TestApp::spawn().await;
    let f = Fixture::new(&app).await;
    let key = f.shop.api_key(&["PAYMENTS_WRITE"]).await;
    let order = f.order().await;

    let answer = pay(&key.client, &order, "pm_card_visa", "pay-by-key").await;
    let repeat = pay(&key.client, &order, "pm_card_visa", "pay-by-key").await;
    let state = order_state(&f.shop.owner, &order).await;

    answer.assert_accepted("payOrder");
    assert_eq!(paid(&answer)["status"], "SUCCEEDED", "{}", answer.text);
    assert_eq!(paid(&answer)["amount"]["amount"], ORDER_TOTAL);
    assert_eq!(answer.data()["payOrder"]["order"], Value::Null, "no orders:read, no order: {}", answer.text);
    repeat.assert_accepted("payOrder");
    assert_eq!(payment_id(&repeat), payment_id(&answer), "an API key's repeat replays");
    assert_eq!(state["status"], "PAID");
    assert_eq!(payment_statuses(&state), ["SUCCEEDED"]);
    assert_eq!(state["payments"][0]["id"], paid(&answer)["id"]);
    assert_payment_invariant(&state);
}

/// A customer pays their own order, and their repeat replays it; another customer's order is
/// `NOT_FOUND` to them, and their attempt leaves no payment on it. A customer's keys are their
/// own: the shop using the same key pays another order.
#[tokio::test]
async fn a_customer_pays_their_own_order_and_not_another_customers() {
    let app = TestApp::spawn().await;
    let f = Fixture::new(&app).await;
    let (alice, _) = f.shop.member("CUSTOMER", "alice@acme.test").await;
    let (bob, _) = f.shop.member("CUSTOMER", "bob@acme.test").await;
    let alices = customer_order(&alice).await;
    let shops = f.order().await;

    let by_bob = pay(&bob, &alices, "pm_card_visa", "pay-1").await;
    let untouched = order_state(&f.shop.owner, &alices).await;
    let by_alice = pay(&alice, &alices, "pm_card_visa", "pay-1").await;
    let alice_again = pay(&alice, &alices, "pm_card_visa", "pay-1").await;
    let by_owner = pay(&f.shop.owner, &shops, "pm_card_visa", "pay-1").await;
    let state = order_state(&f.shop.owner, &alices).await;

    assert_eq!(by_bob.error_code(), Some("NOT_FOUND"), "{}", by_bob.text);
    assert_eq!(by_bob.data()["payOrder"], Value::Null);
    assert_eq!((&untouched["status"], &untouched["payments"]), (&json!("PENDING_PAYMENT"), &json!([])));
    by_alice.assert_accepted("payOrder");
    assert_eq!(paid(&by_alice)["status"], "SUCCEEDED", "{}", by_alice.text);
    assert_eq!(paid(&by_alice)["amount"]["amount"], ORDER_TOTAL);
    assert_eq!(by_alice.data()["payOrder"]["order"]["status"], "PAID", "a customer reads their own order");
    alice_again.assert_accepted("payOrder");
    assert_eq!(payment_id(&alice_again), payment_id(&by_alice), "a customer's repeat replays");
    by_owner.assert_accepted("payOrder");
    assert_eq!(paid(&by_owner)["status"], "SUCCEEDED", "{}", by_owner.text);
    assert_eq!(paid(&by_owner)["orderId"], shops.as_str(), "the shop's key pay-1 is not alice's");
    assert_eq!(state["status"], "PAID");
    assert_eq!(payment_statuses(&state), ["SUCCEEDED"]);
    assert_payment_invariant(&state);
}

// ---------------------------------------------------------------------------------------------
// 2. Declines
// ---------------------------------------------------------------------------------------------

/// A declined card and a card without funds each leave a `FAILED` payment with the processor's
/// code and a `userErrors` entry on `paymentMethod`; the order stays payable, and another key
/// with a good card pays it. A paid order cannot be paid again.
#[tokio::test]
async fn declines_leave_failed_payments_and_the_order_payable_until_a_good_card_pays_it() {
    let app = TestApp::spawn().await;
    let f = Fixture::new(&app).await;
    let order = f.order().await;

    let declined = pay(&f.shop.owner, &order, "pm_card_visa_chargeDeclined", "try-1").await;
    let no_funds = pay(&f.shop.owner, &order, "pm_card_visa_chargeDeclinedInsufficientFunds", "try-2").await;
    let between = order_state(&f.shop.owner, &order).await;
    let good = pay(&f.shop.owner, &order, "pm_card_visa", "try-3").await;
    let again = pay(&f.shop.owner, &order, "pm_card_visa", "try-4").await;
    let state = order_state(&f.shop.owner, &order).await;

    for (answer, failure, code) in
        [(&declined, "card_declined", "PAYMENT_DECLINED"), (&no_funds, "insufficient_funds", "INSUFFICIENT_FUNDS")]
    {
        assert!(answer.errors().is_empty(), "a decline is a user error: {}", answer.text);
        assert_eq!((&paid(answer)["status"], &paid(answer)["failureCode"]), (&json!("FAILED"), &json!(failure)));
        assert!(paid(answer)["failureMessage"].as_str().is_some_and(|m| !m.is_empty()), "{}", answer.text);
        let errors = answer.user_errors("payOrder");
        assert_eq!(errors.len(), 1, "{}", answer.text);
        assert_eq!((&errors[0]["field"], &errors[0]["code"]), (&json!(["paymentMethod"]), &json!(code)));
        assert_eq!(answer.data()["payOrder"]["order"]["status"], "PENDING_PAYMENT");
    }
    assert_eq!(between["status"], "PENDING_PAYMENT");
    assert_eq!(payment_statuses(&between), ["FAILED", "FAILED"]);
    good.assert_accepted("payOrder");
    assert_eq!(paid(&good)["status"], "SUCCEEDED", "{}", good.text);
    assert_eq!(again.user_error_codes("payOrder"), ["ORDER_NOT_PAYABLE"], "{}", again.text);
    assert_eq!(again.user_errors("payOrder")[0]["field"], json!(["orderId"]));
    assert_eq!(again.data()["payOrder"]["payment"], Value::Null, "nothing charged: {}", again.text);
    assert_eq!(state["status"], "PAID");
    assert_eq!(payment_statuses(&state), ["FAILED", "FAILED", "SUCCEEDED"], "declined attempts are listed too");
    assert_eq!(state["payments"][0]["failureCode"], "card_declined");
    assert_payment_invariant(&state);
}

// ---------------------------------------------------------------------------------------------
// 3. Idempotency
// ---------------------------------------------------------------------------------------------

/// The same key and input answer the first payment without a second processor call; the same
/// key with another payment method is `IDEMPOTENCY_KEY_REUSED`. The processor's key is derived
/// from the client's, not the client's itself.
#[tokio::test]
async fn a_repeated_payment_is_answered_without_calling_the_processor_again() {
    let processor = MockServer::start().await;
    charges_succeed(&processor).await;
    let app = spawn_http(&processor.uri(), &["--payment-reconcile-interval", "0"]).await;
    let f = Fixture::new(&app).await;
    let order = f.order().await;

    let first = pay(&f.shop.owner, &order, "pm_card_visa", "checkout-42").await;
    let repeat = pay(&f.shop.owner, &order, "pm_card_visa", "checkout-42").await;
    let other_method = pay(&f.shop.owner, &order, "pm_card_mastercard", "checkout-42").await;
    let sent = charges(&processor).await;
    let state = order_state(&f.shop.owner, &order).await;

    first.assert_accepted("payOrder");
    assert_eq!((&paid(&first)["status"], &paid(&first)["processor"]), (&json!("SUCCEEDED"), &json!("HTTP")));
    repeat.assert_accepted("payOrder");
    assert_eq!(payment_id(&repeat), payment_id(&first), "the same payment, replayed");
    assert_eq!(paid(&repeat)["status"], "SUCCEEDED");
    assert_eq!(other_method.error_code(), Some("IDEMPOTENCY_KEY_REUSED"), "{}", other_method.text);
    assert_eq!(sent.len(), 1, "the processor was asked once");
    let key = idempotency_key(&sent[0]);
    assert!(!key.contains("checkout-42"), "the processor key is derived, not the client's: {key}");
    assert_eq!(form_field(&sent[0], "amount").as_deref(), Some("2500"), "the total, in minor units");
    assert_eq!(form_field(&sent[0], "confirm").as_deref(), Some("true"));
    assert_eq!(state["status"], "PAID");
    assert_eq!(payment_statuses(&state), ["SUCCEEDED"]);
    assert_payment_invariant(&state);
}

/// A request cut off by the server's request deadline while the processor is still answering
/// does not leave its payment `PENDING`: the payment runs to its end without the client, and the
/// order is `PAID` as soon as the processor answers, with the reconciliation job off.
#[tokio::test]
async fn a_payment_cut_off_by_the_request_deadline_still_settles() {
    let processor = MockServer::start().await;
    let slow = IntentAnswer { status: "succeeded", delay: Duration::from_millis(2500) };
    answer_with(&processor, "/v1/payment_intents", slow, None).await;
    let app = spawn_http(&processor.uri(), &["--payment-reconcile-interval", "0", "--http-request-timeout", "1"]).await;
    let f = Fixture::new(&app).await;
    let order = f.order().await;

    let cut_off = pay(&f.shop.owner, &order, "pm_card_visa", "cut-off").await;

    assert_eq!(cut_off.error_code(), Some("SERVICE_UNAVAILABLE"), "the deadline answered: {}", cut_off.text);
    let state = wait_for_status(&f.shop.owner, &order, "PAID").await;
    assert_eq!(payment_statuses(&state), ["SUCCEEDED"]);
    assert_eq!(charges(&processor).await.len(), 1, "charged once");
    assert_payment_invariant(&state);
}

/// Twenty identical `payOrder`s at once charge once: the processor receives one request, every
/// answer names the same payment (`PENDING` while the processor is still answering), and the
/// order ends `PAID`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_identical_payments_at_once_charge_once() {
    let processor = MockServer::start().await;
    // A processor that takes a moment, so that copies arrive while the first request waits on it.
    let slow = IntentAnswer { status: "succeeded", delay: Duration::from_millis(500) };
    answer_with(&processor, "/v1/payment_intents", slow, None).await;
    let app = spawn_http(&processor.uri(), &["--payment-reconcile-interval", "0"]).await;
    let f = Fixture::new(&app).await;
    let order = f.order().await;

    let answers = all_at_once(20, |_| {
        let (owner, order) = (f.shop.owner.clone(), order.clone());
        async move { pay(&owner, &order, "pm_card_visa", "double-tap").await }
    })
    .await;
    let state = order_state(&f.shop.owner, &order).await;
    let sent = charges(&processor).await;

    let ids: HashSet<String> = answers.iter().map(|(answer, _)| payment_id(answer)).collect();
    assert_eq!(ids.len(), 1, "every answer names one payment: {ids:?}");
    for (answer, _) in &answers {
        answer.assert_accepted("payOrder");
        let status = &paid(answer)["status"];
        assert!(status == "SUCCEEDED" || status == "PENDING", "{}", answer.text);
    }
    assert_eq!(sent.len(), 1, "one charge request reached the processor");
    assert_eq!(state["status"], "PAID");
    assert_eq!(payment_statuses(&state), ["SUCCEEDED"]);
    assert_eq!(ids.iter().next(), state["payments"][0]["id"].as_str().map(str::to_owned).as_ref());
    assert_payment_invariant(&state);
}

// ---------------------------------------------------------------------------------------------
// 4. Unknown outcomes and reconciliation
// ---------------------------------------------------------------------------------------------

/// Reconciliation runs every second but leaves a payment alone for its first five seconds:
/// long enough for the test to see the payment `PENDING` (and the order refuse cancelling)
/// before the job settles it.
const RECONCILE_SOON: [&str; 4] = ["--payment-reconcile-interval", "1", "--payment-reconcile-after", "5"];

/// A charge whose answer comes after the timeout (the simulated processor charges, then answers
/// 2 s later than asked): `payOrder` answers within the timeout plus a margin with a `PENDING`
/// payment, the order stays `PENDING_PAYMENT` and cannot be cancelled meanwhile; the
/// reconciliation job sends the charge again under its key and settles it: `SUCCEEDED`, `PAID`.
#[tokio::test]
async fn a_charge_answered_too_late_is_pending_until_reconciliation_settles_it() {
    let timeout = Duration::from_millis(300);
    let app = spawn(
        &[&["--payment-processor-timeout", "300", "--simulated-answer-delay", "2000"][..], &RECONCILE_SOON[..]]
            .concat(),
    )
    .await;
    let f = Fixture::new(&app).await;
    let order = f.order().await;

    let asked = Instant::now();
    let answer = pay(&f.shop.owner, &order, "pm_card_simulated_timeout", "slow-1").await;
    let took = asked.elapsed();
    let cancelled = cancel(&f.shop.owner, &order).await;
    let meanwhile = order_state(&f.shop.owner, &order).await;
    let settled = wait_for_status(&f.shop.owner, &order, "PAID").await;

    answer.assert_accepted("payOrder");
    assert!(took < timeout + MARGIN, "payOrder took {took:?} with a {timeout:?} timeout");
    assert_eq!(paid(&answer)["status"], "PENDING", "{}", answer.text);
    assert_eq!(answer.data()["payOrder"]["order"]["status"], "PENDING_PAYMENT");
    assert_eq!(cancelled.user_error_codes("cancelOrder"), ["PAYMENT_IN_PROGRESS"], "{}", cancelled.text);
    assert_eq!(meanwhile["status"], "PENDING_PAYMENT", "{meanwhile}");
    assert_eq!(payment_statuses(&meanwhile), ["PENDING"]);
    assert_eq!(payment_statuses(&settled), ["SUCCEEDED"], "{settled}");
    assert_eq!(settled["payments"][0]["id"], paid(&answer)["id"], "the same payment, settled");
    assert_eq!(settled["payments"][0]["amount"]["amount"], ORDER_TOTAL);
    assert_payment_invariant(&meanwhile);
    assert_payment_invariant(&settled);
}

/// An asynchronous method answers `PENDING` at once; the reconciliation job looks it up and
/// settles it: `SUCCEEDED`, `PAID`.
#[tokio::test]
async fn an_asynchronous_payment_is_pending_until_reconciliation_settles_it() {
    let app = spawn(&RECONCILE_SOON).await;
    let f = Fixture::new(&app).await;
    let order = f.order().await;

    let answer = pay(&f.shop.owner, &order, "pm_card_simulated_async", "async-1").await;
    let meanwhile = order_state(&f.shop.owner, &order).await;
    let settled = wait_for_status(&f.shop.owner, &order, "PAID").await;

    answer.assert_accepted("payOrder");
    assert_eq!(paid(&answer)["status"], "PENDING", "{}", answer.text);
    assert!(paid(&answer)["processorReference"].is_string(), "the processor named it: {}", answer.text);
    assert_eq!(meanwhile["status"], "PENDING_PAYMENT");
    assert_eq!(payment_statuses(&meanwhile), ["PENDING"]);
    assert_eq!(payment_statuses(&settled), ["SUCCEEDED"], "{settled}");
    assert_eq!(settled["payments"][0]["id"], paid(&answer)["id"]);
    assert_payment_invariant(&settled);
}

/// A processor that answers 500 leaves the payment `PENDING`. A second process whose
/// reconciliation job runs sends the charge again with the same `Idempotency-Key`; the processor
/// now answers it succeeded, and the order is `PAID`.
#[tokio::test]
async fn a_processor_error_is_sent_again_under_the_same_key_by_reconciliation() {
    let processor = MockServer::start().await;
    answer_with(&processor, "/v1/payment_intents", ResponseTemplate::new(500), Some(1)).await;
    charges_succeed(&processor).await;
    let app = spawn_http(&processor.uri(), &["--payment-reconcile-interval", "0"]).await;
    let f = Fixture::new(&app).await;
    let order = f.order().await;

    let answer = pay(&f.shop.owner, &order, "pm_card_visa", "pay-500").await;
    let cancelled = cancel(&f.shop.owner, &order).await;
    let meanwhile = order_state(&f.shop.owner, &order).await;
    let reconciler = app
        .spawn_beside(&http_args(
            &processor.uri(),
            &["--payment-reconcile-interval", "1", "--payment-reconcile-after", "0"],
        ))
        .await;
    let settled = wait_for_status(&f.shop.owner, &order, "PAID").await;
    let sent = charges(&processor).await;
    drop(reconciler);

    answer.assert_accepted("payOrder");
    assert_eq!(paid(&answer)["status"], "PENDING", "{}", answer.text);
    assert_eq!(cancelled.user_error_codes("cancelOrder"), ["PAYMENT_IN_PROGRESS"], "{}", cancelled.text);
    assert_eq!(
        (&meanwhile["status"], payment_statuses(&meanwhile)),
        (&json!("PENDING_PAYMENT"), vec!["PENDING".into()])
    );
    assert_eq!(payment_statuses(&settled), ["SUCCEEDED"], "{settled}");
    assert_eq!(settled["payments"][0]["id"], paid(&answer)["id"]);
    assert_eq!(sent.len(), 2, "the first charge and the reconciliation's");
    let keys: Vec<String> = sent.iter().map(idempotency_key).collect();
    assert_eq!(keys[0], keys[1], "the re-send carries the first request's key");
    assert!(!keys[0].contains("pay-500"), "a derived key: {}", keys[0]);
    let payments: Vec<Option<String>> = sent.iter().map(|r| form_field(r, "metadata[keel_payment_id]")).collect();
    assert_eq!(payments[0], payments[1], "for the same payment");
    assert_payment_invariant(&settled);
}

// ---------------------------------------------------------------------------------------------
// 5. Outages
// ---------------------------------------------------------------------------------------------

/// Orders paid at once while the processor times out.
const TIMING_OUT: usize = 50;
/// Orders tried one by one afterwards, with the breaker open.
const WHILE_OPEN: usize = 5;

/// The outage test. Against a processor that answers every charge a minute late, 50
/// concurrent `payOrder`s (one per order) all answer within the timeout plus 2 s, `PENDING`
/// (or `SERVICE_UNAVAILABLE` once the breaker opened); later calls are `SERVICE_UNAVAILABLE`
/// with `retryAfter` at once, without reaching the processor and writing nothing; the invariant
/// holds for every order. Once the breaker's time is up and the processor is healthy again,
/// payments succeed; and a process that reconciles sends each pending charge again under its
/// first key, so every order ends paid exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_processor_that_times_out_opens_the_breaker_and_no_order_is_paid_without_its_money() {
    let timeout = Duration::from_millis(1000);
    let processor = MockServer::start().await;
    let late = IntentAnswer { status: "succeeded", delay: Duration::from_secs(60) };
    answer_with(&processor, "/v1/payment_intents", late, None).await;
    // A 1 s timeout makes "refused at once" (well under the timeout) a generous bound; the
    // breaker stays open 3 s, long after the last of the 50 answers, so the calls that follow
    // meet it open.
    let breaker = [
        "--payment-processor-timeout",
        "1000",
        "--payment-breaker-threshold",
        "5",
        "--payment-breaker-open-for",
        "3",
        "--payment-reconcile-interval",
        "0",
    ];
    let app = spawn_http(&processor.uri(), &breaker).await;
    let f = Fixture::new(&app).await;
    let orders = f.orders(TIMING_OUT + WHILE_OPEN + 1).await;

    let answers = all_at_once(TIMING_OUT, |n| {
        let (owner, order) = (f.shop.owner.clone(), orders[n].clone());
        async move { pay(&owner, &order, "pm_card_visa", &format!("outage-{n}")).await }
    })
    .await;
    let mut while_open = Vec::new();
    for (n, order) in orders[TIMING_OUT..TIMING_OUT + WHILE_OPEN].iter().enumerate() {
        let asked = Instant::now();
        let answer = pay(&f.shop.owner, order, "pm_card_visa", &format!("open-{n}")).await;
        while_open.push((answer, asked.elapsed()));
    }
    let sent_during_outage = charges(&processor).await;
    let mut states = Vec::new();
    for order in &orders {
        states.push(order_state(&f.shop.owner, order).await);
    }

    let mut pending = 0;
    for (answer, took) in &answers {
        assert!(*took < timeout + MARGIN, "a payOrder took {took:?} with a {timeout:?} timeout: {}", answer.text);
        if answer.error_code() == Some("SERVICE_UNAVAILABLE") {
            assert!(retry_after(answer) >= 1, "{}", answer.text);
        } else {
            answer.assert_accepted("payOrder");
            assert_eq!(paid(answer)["status"], "PENDING", "an unknown outcome: {}", answer.text);
            pending += 1;
        }
    }
    assert!(pending >= 5, "the breaker opened after the calls that timed out; {pending} did");
    for (answer, took) in &while_open {
        assert_eq!(answer.error_code(), Some("SERVICE_UNAVAILABLE"), "the breaker is open: {}", answer.text);
        assert!((1..=3).contains(&retry_after(answer)), "{}", answer.text);
        assert!(*took < timeout, "refused at once, not after a timeout: {took:?}");
    }
    assert_eq!(sent_during_outage.len(), pending, "only the pending payments reached the processor");
    for state in &states {
        assert_eq!(state["status"], "PENDING_PAYMENT", "{state}");
        assert_payment_invariant(state);
    }
    assert_eq!(states.iter().filter(|s| payment_statuses(s) == ["PENDING"]).count(), pending);
    for state in &states[TIMING_OUT..] {
        assert_eq!(state["payments"], json!([]), "a refused call writes nothing: {state}");
    }

    // Recovery: the processor answers again; after the breaker's time a trial call closes it.
    processor.reset().await;
    charges_succeed(&processor).await;
    let recovering = &orders[TIMING_OUT];
    let deadline = Instant::now() + JOB_DEADLINE;
    let recovered = loop {
        let answer = pay(&f.shop.owner, recovering, "pm_card_visa", "recover").await;
        if answer.error_code() != Some("SERVICE_UNAVAILABLE") {
            break answer;
        }
        assert!(Instant::now() < deadline, "the breaker never closed: {}", answer.text);
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let after = pay(&f.shop.owner, &orders[TIMING_OUT + 1], "pm_card_visa", "after-recovery").await;

    recovered.assert_accepted("payOrder");
    assert_eq!(paid(&recovered)["status"], "SUCCEEDED", "{}", recovered.text);
    after.assert_accepted("payOrder");
    assert_eq!(paid(&after)["status"], "SUCCEEDED", "{}", after.text);

    // A process that reconciles sends every pending charge again, under its first key.
    let reconciler = app
        .spawn_beside(&http_args(
            &processor.uri(),
            &["--payment-reconcile-interval", "1", "--payment-reconcile-after", "0"],
        ))
        .await;
    let mut settled = Vec::new();
    for (order, state) in orders.iter().zip(&states) {
        if payment_statuses(state) == ["PENDING"] {
            settled.push(wait_for_status(&f.shop.owner, order, "PAID").await);
        }
    }
    drop(reconciler);
    let resent = charges(&processor).await;
    let mut final_states = Vec::new();
    for order in &orders {
        final_states.push(order_state(&f.shop.owner, order).await);
    }

    assert_eq!(settled.len(), pending);
    let first_keys: HashMap<String, String> = sent_during_outage
        .iter()
        .map(|r| (form_field(r, "metadata[keel_payment_id]").unwrap_or_default(), idempotency_key(r)))
        .collect();
    assert_eq!(first_keys.len(), pending, "one charge request per pending payment");
    for request in &resent {
        let payment = form_field(request, "metadata[keel_payment_id]").unwrap_or_default();
        if let Some(first) = first_keys.get(&payment) {
            assert_eq!(&idempotency_key(request), first, "payment {payment} was sent again under another key");
        }
    }
    assert_eq!(resent.len(), pending + 2, "each pending charge sent again once, and the two new payments");
    for state in &final_states {
        assert_payment_invariant(state);
    }
    let paid_orders = final_states.iter().filter(|s| s["status"] == "PAID").count();
    assert_eq!(paid_orders, pending + 2, "the pending payments and the two made after recovery");
}

/// A processor that refuses connections: `payOrder` is `SERVICE_UNAVAILABLE` with `retryAfter`
/// and writes nothing (the order has no payment), so the very same request succeeds once the
/// processor listens.
#[tokio::test]
async fn an_unreachable_processor_is_unavailable_writes_nothing_and_the_same_key_works_later() {
    let url = closed_port_url();
    let app = spawn_http(&url, &["--payment-reconcile-interval", "0"]).await;
    let f = Fixture::new(&app).await;
    let order = f.order().await;

    let refused = pay(&f.shop.owner, &order, "pm_card_visa", "pay-when-up").await;
    let after_refusal = order_state(&f.shop.owner, &order).await;
    // The processor comes up on that very address.
    let address = url.trim_start_matches("http://");
    let listener = std::net::TcpListener::bind(address).expect("the processor's port is free again");
    let processor = MockServer::builder().listener(listener).start().await;
    charges_succeed(&processor).await;
    let retried = pay(&f.shop.owner, &order, "pm_card_visa", "pay-when-up").await;
    let state = order_state(&f.shop.owner, &order).await;

    assert_eq!(refused.error_code(), Some("SERVICE_UNAVAILABLE"), "{}", refused.text);
    assert!(retry_after(&refused) >= 1);
    assert_eq!(refused.data()["payOrder"], Value::Null);
    assert_eq!((&after_refusal["status"], &after_refusal["payments"]), (&json!("PENDING_PAYMENT"), &json!([])));
    retried.assert_accepted("payOrder");
    assert_eq!(paid(&retried)["status"], "SUCCEEDED", "the key was given back: {}", retried.text);
    assert_eq!(charges(&processor).await.len(), 1);
    assert_eq!(state["status"], "PAID");
    assert_eq!(payment_statuses(&state), ["SUCCEEDED"]);
    assert_payment_invariant(&state);
}

// ---------------------------------------------------------------------------------------------
// 6. Refunds
// ---------------------------------------------------------------------------------------------

/// Pays `order` with `pm_card_visa` as the owner; the payment's id.
async fn pay_with_visa(f: &Fixture, order: &str) -> String {
    let answer = pay(&f.shop.owner, order, "pm_card_visa", &format!("visa-{order}")).await;
    answer.assert_accepted("payOrder");
    assert_eq!(paid(&answer)["status"], "SUCCEEDED", "{}", answer.text);
    payment_id(&answer)
}

/// A refund of 40% makes the order `PARTIALLY_REFUNDED` and keeps its stock reserved; asking
/// for more than is left is `REFUND_EXCEEDS_AVAILABLE`; the same key replays the first refund;
/// the rest (amount omitted, here by an API key holding only `payments:refund`, whose repeat
/// replays too) makes it `REFUNDED` and, as it never shipped, releases its stock. Staff, without
/// `payments:refund`, are `FORBIDDEN`.
#[tokio::test]
async fn a_partial_then_a_full_refund_move_the_order_and_release_its_stock_at_the_end() {
    let app = TestApp::spawn().await;
    let f = Fixture::new(&app).await;
    let (staff, _) = f.shop.member("STAFF", "staff@acme.test").await;
    let key = f.shop.api_key(&["PAYMENTS_REFUND"]).await.client;
    let order = f.order().await;
    let payment = pay_with_visa(&f, &order).await;

    let by_staff = refund(&staff, &payment, Some("1.00"), "staff-refund").await;
    let partial = refund(&f.shop.owner, &payment, Some("10.00"), "refund-1").await;
    let stock_after_partial = f.stock().await;
    let too_much = refund(&f.shop.owner, &payment, Some("15.01"), "refund-2").await;
    let replay = refund(&f.shop.owner, &payment, Some("10.00"), "refund-1").await;
    let rest = refund(&key, &payment, None, "refund-3").await;
    let rest_again = refund(&key, &payment, None, "refund-3").await;
    let nothing_left = refund(&f.shop.owner, &payment, Some("0.01"), "refund-4").await;
    let state = order_state(&f.shop.owner, &order).await;

    assert_eq!(by_staff.error_code(), Some("FORBIDDEN"), "{}", by_staff.text);
    partial.assert_accepted("refundPayment");
    let r = &partial.data()["refundPayment"];
    assert_eq!((&r["refund"]["status"], &r["refund"]["amount"]["amount"]), (&json!("SUCCEEDED"), &json!("10.00")));
    assert_eq!(r["refund"]["cancelsOrder"], false);
    assert_eq!(r["payment"]["refundedAmount"]["amount"], "10.00");
    assert_eq!(r["payment"]["refundableAmount"]["amount"], "15.00");
    assert_eq!(r["order"]["status"], "PARTIALLY_REFUNDED");
    assert_eq!(stock_after_partial["reserved"], ORDER_UNITS, "refunded in part, it may still ship");
    assert_eq!(too_much.user_error_codes("refundPayment"), ["REFUND_EXCEEDS_AVAILABLE"], "{}", too_much.text);
    assert_eq!(too_much.data()["refundPayment"]["refund"], Value::Null);
    replay.assert_accepted("refundPayment");
    assert_eq!(replay.data()["refundPayment"]["refund"]["id"], r["refund"]["id"], "the same refund, replayed");
    assert_eq!(replay.data()["refundPayment"]["payment"]["refundedAmount"]["amount"], "10.00", "not refunded twice");
    rest.assert_accepted("refundPayment");
    rest_again.assert_accepted("refundPayment");
    assert_eq!(rest_again.data()["refundPayment"]["refund"]["id"], rest.data()["refundPayment"]["refund"]["id"]);
    let rest = &rest.data()["refundPayment"];
    assert_eq!(
        (&rest["refund"]["status"], &rest["refund"]["amount"]["amount"]),
        (&json!("SUCCEEDED"), &json!("15.00"))
    );
    assert_eq!(rest["payment"]["refundedAmount"]["amount"], ORDER_TOTAL);
    assert_eq!(rest["payment"]["refundableAmount"]["amount"], "0.00");
    assert_eq!(rest["order"], Value::Null, "no orders:read, no order");
    assert_eq!(nothing_left.user_error_codes("refundPayment"), ["ALREADY_REFUNDED"], "{}", nothing_left.text);
    assert_eq!(state["status"], "REFUNDED");
    let refunds = &state["payments"][0]["refunds"];
    assert_eq!(refunds.as_array().map(Vec::len), Some(2), "two refunds, no more: {state}");
    assert_eq!(f.stock().await, json!({ "onHand": STOCK, "reserved": 0, "available": STOCK }), "stock released");
    assert_payment_invariant(&state);
}

/// Stock follows refunds: an order refunded in full before it shipped releases its reservation;
/// one refunded in part may still ship; one that shipped and is then refunded in full gives
/// nothing back to stock (its units are gone); a paid order keeps its reservation.
#[tokio::test]
async fn a_full_refund_releases_the_stock_only_of_an_order_that_never_shipped() {
    let app = TestApp::spawn().await;
    let f = Fixture::new(&app).await;
    let [refunded, shipped_then_refunded, refunded_in_part_then_shipped, kept] =
        [f.order().await, f.order().await, f.order().await, f.order().await];
    let mut payments = HashMap::new();
    for order in [&refunded, &shipped_then_refunded, &refunded_in_part_then_shipped, &kept] {
        payments.insert(order.clone(), pay_with_visa(&f, order).await);
    }
    let fulfill = |order: &String| f.shop.owner.gql(FULFILL, json!({ "input": { "orderId": order } }));

    let whole = refund(&f.shop.owner, &payments[&refunded], None, "whole").await;
    let stock_after_whole = f.stock().await;
    let shipped = fulfill(&shipped_then_refunded).await;
    let first_part = refund(&f.shop.owner, &payments[&shipped_then_refunded], Some("5.00"), "part-a").await;
    let the_rest = refund(&f.shop.owner, &payments[&shipped_then_refunded], None, "rest-a").await;
    let part = refund(&f.shop.owner, &payments[&refunded_in_part_then_shipped], Some("5.00"), "part-b").await;
    let shipped_after_part = fulfill(&refunded_in_part_then_shipped).await;
    let mut states = Vec::new();
    for order in [&refunded, &shipped_then_refunded, &refunded_in_part_then_shipped, &kept] {
        states.push(order_state(&f.shop.owner, order).await);
    }

    assert_eq!(whole.data()["refundPayment"]["order"]["status"], "REFUNDED", "{}", whole.text);
    assert_eq!(
        stock_after_whole,
        json!({ "onHand": STOCK, "reserved": 3 * ORDER_UNITS, "available": STOCK - 3 * ORDER_UNITS }),
        "refunded in full before it shipped: its reservation is released"
    );
    assert_eq!(shipped.data()["fulfillOrder"]["order"]["status"], "FULFILLED", "{}", shipped.text);
    assert_eq!(first_part.data()["refundPayment"]["order"]["status"], "PARTIALLY_REFUNDED");
    assert_eq!(the_rest.data()["refundPayment"]["order"]["status"], "REFUNDED", "{}", the_rest.text);
    assert_eq!(part.data()["refundPayment"]["order"]["status"], "PARTIALLY_REFUNDED");
    assert_eq!(
        shipped_after_part.data()["fulfillOrder"]["order"]["status"],
        "FULFILLED",
        "{}",
        shipped_after_part.text
    );
    let statuses: Vec<&Value> = states.iter().map(|s| &s["status"]).collect();
    assert_eq!(statuses, [&json!("REFUNDED"), &json!("REFUNDED"), &json!("FULFILLED"), &json!("PAID")]);
    for state in &states {
        assert_payment_invariant(state);
    }
    let shipped_units = 2 * ORDER_UNITS;
    assert_eq!(
        f.stock().await,
        json!({ "onHand": STOCK - shipped_units, "reserved": ORDER_UNITS, "available": STOCK - shipped_units - ORDER_UNITS }),
        "two orders shipped, one still holds its units, nothing released twice"
    );
}

/// Twenty refunds of one payment at once, each of 10% plus one cent under its own key: exactly
/// nine fit and succeed, the others are `REFUND_EXCEEDS_AVAILABLE`, and the refunds never add up
/// to more than was captured.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_refunds_at_once_never_return_more_than_was_captured() {
    let app = TestApp::spawn().await;
    let f = Fixture::new(&app).await;
    let order = f.order().await;
    let payment = pay_with_visa(&f, &order).await;

    // 10% of 25.00 plus one cent: nine fit (22.59), a tenth would not (25.10).
    let answers = all_at_once(20, |n| {
        let (owner, payment) = (f.shop.owner.clone(), payment.clone());
        async move { refund(&owner, &payment, Some("2.51"), &format!("slice-{n}")).await }
    })
    .await;
    let state = order_state(&f.shop.owner, &order).await;

    let mut succeeded = 0;
    for (answer, _) in &answers {
        if answer.user_errors("refundPayment").is_empty() {
            answer.assert_accepted("refundPayment");
            assert_eq!(answer.data()["refundPayment"]["refund"]["status"], "SUCCEEDED", "{}", answer.text);
            succeeded += 1;
        } else {
            assert_eq!(answer.user_error_codes("refundPayment"), ["REFUND_EXCEEDS_AVAILABLE"], "{}", answer.text);
        }
    }
    assert_eq!(succeeded, 9, "exactly as many as fit");
    let refunds = state["payments"][0]["refunds"].as_array().cloned().unwrap_or_default();
    let cents: i64 = refunds
        .iter()
        .filter(|r| r["status"] == "SUCCEEDED")
        .map(|r| r["amount"]["amount"].as_str().unwrap_or("0").replace('.', "").parse::<i64>().unwrap_or(0))
        .sum();
    assert_eq!(cents, 9 * 251, "nine refunds of 2.51: {state}");
    assert!(cents <= 2500, "never more than captured");
    assert_eq!(refunds.len(), 9, "refused refunds leave nothing: {state}");
    assert_eq!(state["payments"][0]["refundedAmount"]["amount"], "22.59");
    assert_eq!(state["payments"][0]["refundableAmount"]["amount"], "2.41");
    assert_eq!(state["status"], "PARTIALLY_REFUNDED");
    assert_payment_invariant(&state);
}

// ---------------------------------------------------------------------------------------------
// 7. Cancelling a paid order
// ---------------------------------------------------------------------------------------------

/// The owner cancels a paid order: its payment is refunded first (a `SUCCEEDED` refund that
/// `cancelsOrder`), the order is `CANCELLED` and its stock released. Staff may cancel orders but
/// not refund, so they cannot cancel a paid one.
#[tokio::test]
async fn cancelling_a_paid_order_refunds_it_first_and_releases_its_stock() {
    let app = TestApp::spawn().await;
    let f = Fixture::new(&app).await;
    let (staff, _) = f.shop.member("STAFF", "staff@acme.test").await;
    let order = f.order().await;
    pay_with_visa(&f, &order).await;

    let by_staff = cancel(&staff, &order).await;
    let after_staff = order_state(&f.shop.owner, &order).await;
    let by_owner = cancel(&f.shop.owner, &order).await;
    let state = order_state(&f.shop.owner, &order).await;

    assert_eq!(by_staff.error_code(), Some("FORBIDDEN"), "needs payments:refund: {}", by_staff.text);
    assert_eq!((&after_staff["status"], payment_statuses(&after_staff)), (&json!("PAID"), vec!["SUCCEEDED".into()]));
    assert_eq!(after_staff["payments"][0]["refunds"], json!([]));
    by_owner.assert_accepted("cancelOrder");
    assert_eq!(by_owner.data()["cancelOrder"]["order"]["status"], "CANCELLED");
    assert_eq!(state["status"], "CANCELLED");
    assert_eq!(
        state["payments"][0]["refunds"],
        json!([{ "status": "SUCCEEDED", "amount": { "amount": ORDER_TOTAL }, "cancelsOrder": true }]),
        "{state}"
    );
    assert_eq!(state["payments"][0]["refundedAmount"]["amount"], ORDER_TOTAL);
    assert_eq!(f.stock().await, json!({ "onHand": STOCK, "reserved": 0, "available": STOCK }), "stock released");
    assert_payment_invariant(&state);
}

/// When the processor refuses the refund of a cancellation (an error answer, or a refund that
/// failed), `cancelOrder` answers `REFUND_FAILED` saying why, the order stays `PAID` and its
/// stock stays reserved.
#[tokio::test]
async fn a_refused_refund_keeps_a_cancelled_paid_order_paid_with_its_stock() {
    let processor = MockServer::start().await;
    charges_succeed(&processor).await;
    let already = json!({ "error": { "type": "invalid_request_error", "code": "charge_already_refunded",
                                     "message": "This charge has already been refunded." } });
    answer_with(&processor, "/v1/refunds", ResponseTemplate::new(400).set_body_json(already), Some(1)).await;
    answer_with(&processor, "/v1/refunds", RefundAnswer { status: "failed" }, None).await;
    let app = spawn_http(&processor.uri(), &["--payment-reconcile-interval", "0"]).await;
    let f = Fixture::new(&app).await;
    let orders = f.orders(2).await;
    for order in &orders {
        pay_with_visa(&f, order).await;
    }

    let refused = cancel(&f.shop.owner, &orders[0]).await;
    let failed = cancel(&f.shop.owner, &orders[1]).await;
    let sent = received(&processor, "/v1/refunds").await;

    for (answer, why, order) in
        [(&refused, "charge_already_refunded", &orders[0]), (&failed, "lost_or_stolen_card", &orders[1])]
    {
        assert_eq!(answer.user_error_codes("cancelOrder"), ["REFUND_FAILED"], "{}", answer.text);
        let message = answer.user_errors("cancelOrder")[0]["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.contains(why), "the error says why ({why}): {message}");
        let state = order_state(&f.shop.owner, order).await;
        assert_eq!(state["status"], "PAID", "{state}");
        let payment = &state["payments"][0];
        assert_eq!(payment["refunds"][0]["status"], "FAILED", "{state}");
        assert_eq!(
            (&payment["refundedAmount"]["amount"], &payment["refundableAmount"]["amount"]),
            (&json!("0.00"), &json!(ORDER_TOTAL))
        );
        assert_payment_invariant(&state);
    }
    assert_eq!(sent.len(), 2);
    assert_eq!(f.stock().await["reserved"], 2 * ORDER_UNITS, "both orders keep their stock");
}

// ---------------------------------------------------------------------------------------------
// 8. Money taken outside Keel
// ---------------------------------------------------------------------------------------------

/// `markOrderPaid` records a `SUCCEEDED` payment of method and processor `MANUAL`, which is
/// refunded without any processor: here the configured one cannot even be reached.
#[tokio::test]
async fn a_manual_payment_is_recorded_and_refunded_without_a_processor() {
    let app = spawn_http(&closed_port_url(), &["--payment-reconcile-interval", "0"]).await;
    let f = Fixture::new(&app).await;
    let [manual, card] = [f.order().await, f.order().await];

    let marked = f.shop.owner.gql(MARK_PAID, json!({ "input": { "orderId": manual, "reference": "bank 42" } })).await;
    let recorded = order_state(&f.shop.owner, &manual).await;
    let payment = recorded["payments"][0]["id"].as_str().unwrap_or_else(|| panic!("no payment: {recorded}")).to_owned();
    let refunded = refund(&f.shop.owner, &payment, None, "manual-refund").await;
    let by_card = pay(&f.shop.owner, &card, "pm_card_visa", "card").await;
    let state = order_state(&f.shop.owner, &manual).await;

    marked.assert_accepted("markOrderPaid");
    assert_eq!(recorded["status"], "PAID");
    let p = &recorded["payments"][0];
    assert_eq!(
        (&p["status"], &p["paymentMethod"], &p["processor"]),
        (&json!("SUCCEEDED"), &json!("MANUAL"), &json!("MANUAL"))
    );
    assert_eq!(p["amount"]["amount"], ORDER_TOTAL);
    assert_payment_invariant(&recorded);
    refunded.assert_accepted("refundPayment");
    assert_eq!(refunded.data()["refundPayment"]["refund"]["status"], "SUCCEEDED", "{}", refunded.text);
    assert_eq!(refunded.data()["refundPayment"]["order"]["status"], "REFUNDED");
    assert_eq!(by_card.error_code(), Some("SERVICE_UNAVAILABLE"), "the processor is down: {}", by_card.text);
    assert_eq!(state["status"], "REFUNDED");
    assert_eq!(state["payments"][0]["refundedAmount"]["amount"], ORDER_TOTAL);
    assert_payment_invariant(&state);
    assert_eq!(f.stock().await["reserved"], ORDER_UNITS, "only the unpaid card order holds stock");
}
