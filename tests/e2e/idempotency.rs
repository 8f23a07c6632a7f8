//! Idempotency keys as clients meet them: the whole request is the fingerprint (an email that
//! differs only before the `@` is another request), every kind of caller gets its keys (a
//! customer's in a namespace of their own, with the longest legal key, on PostgreSQL too),
//! racing duplicates get the one result or are told to retry but never a misleading
//! `INSUFFICIENT_STOCK`, and keys are forgotten after their retention.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keel_tests::{Client, GqlResponse, Shop, TestApp, TestDatabase, global_id_key};
use serde_json::{Value, json};
use tokio::sync::Barrier;

const PLACE: &str = "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) {
    order { id customerEmail note } userErrors { field code message } } }";
const RECEIVE: &str = "mutation($input: ReceiveStockInput!) { receiveStock(input: $input) {
    stockLevel { onHand } userErrors { field code message } } }";
const ADJUST: &str = "mutation($input: AdjustStockInput!) { adjustStock(input: $input) {
    stockLevel { onHand reserved available } userErrors { field code message } } }";
const ORDERS: &str = "{ orders(first: 100) { edges { node { id } } } }";

/// How many identical requests a race sends at once.
const RACERS: usize = 20;

/// A shop's product TEE and location MAIN, with `units` of TEE received there.
struct Stocked {
    product: String,
    location: String,
}

async fn stocked(shop: &Shop, units: i64) -> Stocked {
    let location = shop.owner.create_location("MAIN", "Main").await;
    let product = shop.owner.create_product("TEE", "Tee", "10.00").await;
    if units > 0 {
        shop.owner.receive_stock(&product, &location, units).await;
    }
    Stocked { product, location }
}

/// A `placeOrder` of `quantity` TEE under `key`, with `extra` input fields.
fn order(key: &str, quantity: i64, extra: Value) -> Value {
    let mut input = json!({ "lines": [{ "sku": "TEE", "quantity": quantity }], "idempotencyKey": key });
    if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        input.extend(extra.clone());
    }
    json!({ "input": input })
}

/// The order a `placeOrder` answer placed or replayed.
fn placed_id(answer: &GqlResponse) -> String {
    answer.expect_str("/data/placeOrder/order/id")
}

/// How many orders `client` can see.
async fn order_count(client: &Client) -> usize {
    client.gql(ORDERS, json!({})).await.edges("orders").len()
}

/// Sends `variables` to `document` from [`RACERS`] tasks released at once by a barrier.
async fn race(client: &Client, document: &'static str, variables: Value) -> Vec<GqlResponse> {
    let start = Arc::new(Barrier::new(RACERS));
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..RACERS {
        let (client, variables, start) = (client.clone(), variables.clone(), start.clone());
        racers.spawn(async move {
            start.wait().await;
            client.gql(document, variables).await
        });
    }
    racers.join_all().await
}

/// Whether `answer` is a `CONFLICT` telling the client when to retry.
fn told_to_retry(answer: &GqlResponse) -> bool {
    answer.error_code() == Some("CONFLICT") && answer.body["errors"][0]["extensions"]["retryAfter"].as_u64().is_some()
}

#[tokio::test]
async fn a_key_replays_only_the_very_same_order_and_any_other_field_is_a_reused_key() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let s = stocked(&shop, 100).await;
    let first = json!({ "customerEmail": "alice@example.test", "note": "gift", "locationId": s.location });
    let placed = shop.owner.gql(PLACE, order("checkout-1", 1, first.clone())).await;
    let id = placed_id(&placed);

    let replay = shop.owner.gql(PLACE, order("checkout-1", 1, first.clone())).await;
    let mut others = vec![
        (
            "another local part",
            order(
                "checkout-1",
                1,
                json!({ "customerEmail": "bob@example.test", "note": "gift", "locationId": s.location }),
            ),
        ),
        (
            "another domain",
            order(
                "checkout-1",
                1,
                json!({ "customerEmail": "alice@example.org", "note": "gift", "locationId": s.location }),
            ),
        ),
        (
            "another note",
            order(
                "checkout-1",
                1,
                json!({ "customerEmail": "alice@example.test", "note": "gifts", "locationId": s.location }),
            ),
        ),
        ("no note", order("checkout-1", 1, json!({ "customerEmail": "alice@example.test", "locationId": s.location }))),
        ("no location", order("checkout-1", 1, json!({ "customerEmail": "alice@example.test", "note": "gift" }))),
        ("another quantity", order("checkout-1", 2, first.clone())),
    ];
    let by_id = json!({ "input": { "lines": [{ "productId": s.product, "quantity": 1 }], "idempotencyKey": "checkout-1",
        "customerEmail": "alice@example.test", "note": "gift", "locationId": s.location } });
    others.push(("the product by id", by_id));
    let mut answers = Vec::new();
    for (change, variables) in others {
        answers.push((change, shop.owner.gql(PLACE, variables).await));
    }

    assert_eq!(placed_id(&replay), id, "the same request replays the order");
    for (change, answer) in &answers {
        assert_eq!(answer.error_code(), Some("IDEMPOTENCY_KEY_REUSED"), "{change}: {}", answer.text);
    }
    assert_eq!(order_count(&shop.owner).await, 1, "one order, for alice");
}

#[tokio::test]
async fn two_lines_in_another_order_are_another_request() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let s = stocked(&shop, 100).await;
    let mug = shop.owner.create_product("MUG", "Mug", "5.00").await;
    shop.owner.receive_stock(&mug, &s.location, 100).await;
    let lines = |first: &str, second: &str| {
        json!({ "input": { "lines": [{ "sku": first, "quantity": 1 }, { "sku": second, "quantity": 1 }],
            "customerEmail": "alice@example.test", "idempotencyKey": "two-lines" } })
    };

    let placed = shop.owner.gql(PLACE, lines("TEE", "MUG")).await;
    let swapped = shop.owner.gql(PLACE, lines("MUG", "TEE")).await;

    placed.assert_accepted("placeOrder");
    assert_eq!(swapped.error_code(), Some("IDEMPOTENCY_KEY_REUSED"), "{}", swapped.text);
}

#[tokio::test]
async fn every_kind_of_caller_uses_the_longest_key_and_customers_each_have_their_own_keys() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let s = stocked(&shop, 100).await;
    let key = shop.api_key(&["ORDERS_READ", "ORDERS_WRITE", "INVENTORY_READ", "INVENTORY_WRITE"]).await.client;
    let (alice, _) = shop.member("CUSTOMER", "alice@acme.test").await;
    let (bob, _) = shop.member("CUSTOMER", "bob@acme.test").await;
    let longest = "k".repeat(255);
    let for_buyer = order(&longest, 1, json!({ "customerEmail": "buyer@example.test" }));
    let own = order(&longest, 1, json!({}));
    let receive = json!({ "input": { "productId": s.product, "locationId": s.location, "quantity": 5, "idempotencyKey": longest } });

    let owner_first = shop.owner.gql(PLACE, for_buyer.clone()).await;
    let owner_again = shop.owner.gql(PLACE, for_buyer.clone()).await;
    let key_same = key.gql(PLACE, for_buyer).await;
    let alice_first = alice.gql(PLACE, own.clone()).await;
    let alice_again = alice.gql(PLACE, own.clone()).await;
    let bob_first = bob.gql(PLACE, own.clone()).await;
    let bob_again = bob.gql(PLACE, own).await;
    let owner_receives = shop.owner.gql(RECEIVE, receive.clone()).await;
    let key_receives = key.gql(RECEIVE, receive).await;

    let ids = [&owner_first, &alice_first, &bob_first].map(placed_id);
    assert_eq!(placed_id(&owner_again), ids[0], "a member's repeat replays");
    assert_eq!(placed_id(&key_same), ids[0], "staff and programs share the shop's keys");
    assert_eq!(placed_id(&alice_again), ids[1], "a customer's repeat replays: {}", alice_again.text);
    assert_eq!(placed_id(&bob_again), ids[2], "{}", bob_again.text);
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "one key, three namespaces: {ids:?}");
    assert_eq!(alice_first.data()["placeOrder"]["order"]["customerEmail"], "alice@acme.test");
    assert_eq!(bob_first.data()["placeOrder"]["order"]["customerEmail"], "bob@acme.test");
    assert_eq!(order_count(&shop.owner).await, 3);
    assert_eq!(owner_receives.data()["receiveStock"]["stockLevel"]["onHand"], 105, "{}", owner_receives.text);
    assert_eq!(key_receives.data()["receiveStock"]["stockLevel"]["onHand"], 105, "an API key's repeat replays");
    assert_eq!(shop.owner.stock_level(&s.product, &s.location).await["onHand"], 105, "received once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_duplicates_for_the_last_units_place_one_order_and_never_hear_insufficient_stock() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let s = stocked(&shop, 2).await;
    let (alice, _) = shop.member("CUSTOMER", "alice@acme.test").await;

    let by_owner =
        race(&shop.owner, PLACE, order("last-two", 2, json!({ "customerEmail": "buyer@example.test" }))).await;
    shop.owner.receive_stock(&s.product, &s.location, 2).await;
    let by_customer = race(&alice, PLACE, order("last-two", 2, json!({}))).await;

    for answers in [&by_owner, &by_customer] {
        let placed: Vec<&str> = answers.iter().filter_map(|a| a.data()["placeOrder"]["order"]["id"].as_str()).collect();
        let others: Vec<&str> = answers
            .iter()
            .filter(|a| a.data()["placeOrder"]["order"]["id"].is_null() && !told_to_retry(a))
            .map(|a| a.text.as_str())
            .collect();
        assert!(others.is_empty(), "every answer is the order or a CONFLICT with retryAfter: {others:?}");
        assert!(!placed.is_empty(), "someone placed the order");
        assert!(placed.iter().all(|id| *id == placed[0]), "one order, replayed: {placed:?}");
    }
    let first_placed = |answers: &[GqlResponse]| answers.iter().find(|a| a.errors().is_empty()).map(placed_id);
    assert_ne!(first_placed(&by_owner), first_placed(&by_customer), "the customer's key is their own");
    assert_eq!(order_count(&shop.owner).await, 2, "one order per race");
    assert_eq!(
        shop.owner.stock_level(&s.product, &s.location).await,
        json!({ "onHand": 4, "reserved": 4, "available": 0 })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_duplicates_of_a_stock_adjustment_take_the_last_units_once() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let s = stocked(&shop, 2).await;
    let remove = json!({ "input": { "productId": s.product, "locationId": s.location, "delta": -2, "reason": "ADJUSTED", "idempotencyKey": "shrinkage-7" } });

    let answers = race(&shop.owner, ADJUST, remove).await;

    for answer in &answers {
        let level = &answer.data()["adjustStock"]["stockLevel"];
        let replayed = *level == json!({ "onHand": 0, "reserved": 0, "available": 0 });
        assert!(replayed || told_to_retry(answer), "the level after the one adjustment, or retry: {}", answer.text);
    }
    assert!(answers.iter().any(|a| a.errors().is_empty()), "someone adjusted");
    assert_eq!(shop.owner.stock_level(&s.product, &s.location).await["onHand"], 0);
}

#[tokio::test]
async fn keys_are_forgotten_after_their_retention_in_every_shop_and_then_start_afresh() {
    let retention = Duration::from_secs(3);
    let args = ["--idempotency-retention", "3", "--idempotency-purge-interval", "1"];
    let app = TestApp::spawn_with(TestDatabase::create().await, &args).await;
    let shops = [app.shop("acme").await, app.shop("globex").await];
    let mut firsts = Vec::new();
    for shop in &shops {
        stocked(shop, 100).await;
    }
    let first = order("weekly", 1, json!({ "customerEmail": "buyer@example.test", "note": "first" }));
    let second = order("weekly", 1, json!({ "customerEmail": "buyer@example.test", "note": "second" }));
    for shop in &shops {
        firsts.push(placed_id(&shop.owner.gql(PLACE, first.clone()).await));
    }
    let placed_at = Instant::now();

    let within = shops[0].owner.gql(PLACE, second.clone()).await;
    let mut afresh = Vec::new();
    for shop in &shops {
        afresh.push(loop {
            let answer = shop.owner.gql(PLACE, second.clone()).await;
            if answer.error_code() != Some("IDEMPOTENCY_KEY_REUSED") || placed_at.elapsed() > Duration::from_secs(30) {
                break answer;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        });
    }

    assert_eq!(within.error_code(), Some("IDEMPOTENCY_KEY_REUSED"), "kept within the retention: {}", within.text);
    assert!(placed_at.elapsed() >= retention, "forgotten only after the retention");
    for ((shop, first), answer) in shops.iter().zip(&firsts).zip(&afresh) {
        assert_eq!(answer.data()["placeOrder"]["order"]["note"], "second", "{}: {}", shop.slug, answer.text);
        assert_ne!(placed_id(answer), *first, "a new order");
        assert_eq!(order_count(&shop.owner).await, 2);
    }
}

/// A claim of `key` for `placeOrder` by `shop`'s staff, held by an uncommitted transaction from
/// outside Keel, as a first request still running would hold it.
async fn hold_claim(app: &TestApp, shop: &Shop, key: &str) -> sqlx::PgConnection {
    use sqlx::{Connection, Executor};
    let tenant = uuid::Uuid::try_parse(&global_id_key(&shop.tenant_id)).expect("a tenant id holds a UUID");
    let mut conn = sqlx::PgConnection::connect(&app.database().url()).await.expect("connect as the app role");
    conn.execute("BEGIN").await.expect("begin");
    conn.execute(sqlx::query("SELECT set_config('keel.tenant_id', $1, true)").bind(tenant.to_string()))
        .await
        .expect("set the tenant");
    conn.execute(
        sqlx::query(
            "INSERT INTO idempotency_keys (tenant_id, namespace, operation, key, request_hash, result, created_at) \
             VALUES ($1, $1, 'placeOrder', $2, 'held', NULL, now())",
        )
        .bind(tenant)
        .bind(key),
    )
    .await
    .expect("claim the key");
    conn
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run with KEEL_TEST_POSTGRES_URL set (the PostgreSQL pass of .ci/run runs them)"]
async fn on_postgres_a_duplicate_waiting_past_the_statement_timeout_is_told_to_retry() {
    use sqlx::{Connection, Executor};
    let args = ["--database-statement-timeout", "1"];
    let app = TestApp::spawn_with(TestDatabase::create_postgres().await, &args).await;
    let shop = app.shop("acme").await;
    stocked(&shop, 10).await;
    let request = order("slow-1", 1, json!({ "customerEmail": "buyer@example.test" }));
    let mut holder = hold_claim(&app, &shop, "slow-1").await;

    let asked = Instant::now();
    let waiting = shop.owner.gql(PLACE, request.clone()).await;
    let waited = asked.elapsed();
    holder.execute("ROLLBACK").await.expect("the first request gives up");
    drop(holder.close().await);
    let after = shop.owner.gql(PLACE, request).await;

    assert!(told_to_retry(&waiting), "{}", waiting.text);
    assert!(waited >= Duration::from_secs(1), "it waited for the first request: {waited:?}");
    after.assert_accepted("placeOrder");
    assert_eq!(order_count(&shop.owner).await, 1);
}
