//! Races a careful reviewer would run against a shop: revoking an API key while it is in use,
//! opposite stock transfers of one product, order numbers taken by many placements at once (in
//! one server process or two), and the order-expiry job meeting suspended shops and an order
//! that cannot be expired. Each race is run with many real tasks released together.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use keel_tests::{ChildServer, Client, GqlResponse, Outside, PASSWORD, Shop, TestApp, TestDatabase, logs};
use serde_json::{Value, json};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

const ME: &str = "{ me { apiKey { name } } }";
const REVOKE_KEY: &str = "mutation($id: ID!) { revokeApiKey(input: { apiKeyId: $id }) { apiKey { active } } }";
const API_KEYS: &str = "{ apiKeys(first: 100) { edges { node { id active revokedAt } } } }";
const TRANSFER: &str = "mutation($input: TransferStockInput!) { transferStock(input: $input) {
    from { onHand } to { onHand } userErrors { field code message } } }";
const LEDGER_PAGE: &str = "query($p: ID!, $l: ID!, $after: String) {
    stockMovements(productId: $p, locationId: $l, first: 100, after: $after) {
        edges { node { deltaOnHand } } pageInfo { hasNextPage endCursor } } }";
const ORDER: &str = "query($id: ID!) { order(id: $id) { status history { actorKind reason } } }";
const PLACE_ORDER: &str = "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) {
    order { id } userErrors { field code message } } }";
const PLACE_NUMBERED: &str = "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) {
    order { id number } userErrors { field code message } } }";
const ORDER_NUMBERS: &str = "{ orders(first: 100) { edges { node { number } } } }";

/// The `keel` binary's code, run as a child process.
const KEEL_CHILD: &str = env!("CARGO_BIN_EXE_keel-child");

/// How many times each race is run: one run can miss a window that a few runs hit.
const ROUNDS: usize = 8;
/// Requests using a key while it is revoked, per round.
const USES_PER_ROUND: usize = 30;
/// Transfers in each direction.
const TRANSFERS_EACH_WAY: usize = 50;
/// How long the order-expiry tests wait for the job before failing.
const JOB_DEADLINE: Duration = Duration::from_secs(30);
/// Placements of one shop released together in the order-number races.
const PLACEMENTS: usize = 64;

/// Sends the `count` requests `request` makes at once: each waits at one barrier, so they reach
/// the server together.
async fn all_at_once<F, Fut>(count: usize, request: F) -> Vec<GqlResponse>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = GqlResponse> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(count));
    let mut tasks = JoinSet::new();
    for n in 0..count {
        let (barrier, request) = (barrier.clone(), request(n));
        tasks.spawn(async move {
            barrier.wait().await;
            request.await
        });
    }
    tasks.join_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_revoked_while_requests_use_it_stays_revoked() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;

    for round in 0..ROUNDS {
        // A fresh key: never used, so every request that authenticates with it records its use.
        let key = shop.api_key(&["PROFILE_READ"]).await;
        let answers = all_at_once(USES_PER_ROUND + 1, |n| {
            let (owner, client, id) = (shop.owner.clone(), key.client.clone(), key.id.clone());
            async move {
                if n == USES_PER_ROUND / 2 {
                    owner.gql(REVOKE_KEY, json!({ "id": id })).await
                } else {
                    client.gql(ME, json!({})).await
                }
            }
        })
        .await;
        let listed = shop.owner.gql(API_KEYS, json!({})).await;
        let later = key.client.gql(ME, json!({})).await;

        for answer in &answers {
            let used = answer.data()["me"]["apiKey"]["name"] == "fixture key";
            let revoked = answer.data()["revokeApiKey"]["apiKey"]["active"] == false;
            let refused = (answer.status, answer.error_code()) == (401, Some("UNAUTHENTICATED"));
            assert!(used || revoked || refused, "round {round}: {}", answer.text);
        }
        let edges = listed.data()["apiKeys"]["edges"].as_array().cloned().unwrap_or_default();
        let listed_key = edges.iter().find(|edge| edge["node"]["id"] == key.id.as_str());
        let listed_key = listed_key.unwrap_or_else(|| panic!("round {round}: key not listed: {}", listed.text));
        assert_eq!(listed_key["node"]["active"], false, "round {round}: the revocation was undone: {listed_key}");
        assert!(listed_key["node"]["revokedAt"].is_string(), "round {round}: {listed_key}");
        assert_eq!((later.status, later.error_code()), (401, Some("UNAUTHENTICATED")), "round {round}: {}", later.text);
    }
}

/// The sum of a location's ledger for one product, every page read.
async fn ledger_sum(client: &Client, product: &str, location: &str) -> i64 {
    let (mut sum, mut after) = (0, Value::Null);
    loop {
        let page = client.gql(LEDGER_PAGE, json!({ "p": product, "l": location, "after": after })).await;
        let movements = &page.data()["stockMovements"];
        let edges = movements["edges"].as_array().unwrap_or_else(|| panic!("no ledger page: {}", page.text));
        sum += edges.iter().filter_map(|edge| edge["node"]["deltaOnHand"].as_i64()).sum::<i64>();
        if movements["pageInfo"]["hasNextPage"] != true {
            return sum;
        }
        after = movements["pageInfo"]["endCursor"].clone();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn opposite_transfers_racing_each_other_all_succeed_and_lose_no_unit() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let product = shop.owner.create_product("TEE-1", "Tee", "10.00").await;
    let (a, b) = (shop.owner.create_location("A", "A").await, shop.owner.create_location("B", "B").await);
    shop.owner.receive_stock(&product, &a, 100).await;
    shop.owner.receive_stock(&product, &b, 100).await;

    let answers = all_at_once(2 * TRANSFERS_EACH_WAY, |n| {
        let (from, to) = if n % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let input =
            json!({ "input": { "productId": product, "fromLocationId": from, "toLocationId": to, "quantity": 1 } });
        let owner = shop.owner.clone();
        async move { owner.gql(TRANSFER, input).await }
    })
    .await;

    for answer in &answers {
        assert!(answer.errors().is_empty(), "a transfer failed: {}", answer.text);
        answer.assert_accepted("transferStock");
    }
    let (at_a, at_b) = (shop.owner.stock_level(&product, &a).await, shop.owner.stock_level(&product, &b).await);
    assert_eq!((at_a["onHand"].as_i64(), at_b["onHand"].as_i64()), (Some(100), Some(100)), "{at_a} {at_b}");
    assert_eq!(ledger_sum(&shop.owner, &product, &a).await, 100, "A's ledger explains its level");
    assert_eq!(ledger_sum(&shop.owner, &product, &b).await, 100, "B's ledger explains its level");
}

/// Places one order of `quantity` units of `sku` for `email` under its own idempotency key.
async fn place_numbered(client: &Client, sku: &str, quantity: i64, email: &str, key: &str) -> GqlResponse {
    let input = json!({ "input": {
        "lines": [{ "sku": sku, "quantity": quantity }], "customerEmail": email, "idempotencyKey": key,
    }});
    client.gql(PLACE_NUMBERED, input).await
}

/// The number of the order a [`PLACE_NUMBERED`] answer placed, or `None` when it placed none.
fn number_of(answer: &GqlResponse) -> Option<i64> {
    answer.data()["placeOrder"]["order"]["number"].as_str().map(|n| n.parse().expect("an order number is digits"))
}

/// The numbers of the shop's orders (up to 100), each once.
///
/// # Panics
/// When two orders share a number.
async fn listed_numbers(client: &Client) -> BTreeSet<i64> {
    let listed = client.gql(ORDER_NUMBERS, json!({})).await;
    let numbers: Vec<String> = listed.node_strings("orders", "number");
    let unique: BTreeSet<i64> = numbers.iter().map(|n| n.parse().expect("an order number is digits")).collect();
    assert_eq!(unique.len(), numbers.len(), "two orders share a number: {numbers:?}");
    unique
}

/// The numbers `answers` placed orders under, checking that each placed one and no two share
/// a number.
fn distinct_numbers(answers: &[GqlResponse]) -> BTreeSet<i64> {
    for answer in answers {
        answer.assert_accepted("placeOrder");
    }
    let numbers: BTreeSet<i64> = answers.iter().filter_map(number_of).collect();
    assert_eq!(numbers.len(), answers.len(), "two placements got the same number: {numbers:?}");
    numbers
}

/// A product for each `(sku, units)` with its units in stock at the shop's only location, made
/// through `owner`: (location, product ids in the same order).
async fn in_stock(owner: &Client, items: &[(&str, i64)]) -> (String, Vec<String>) {
    let location = owner.create_location("MAIN", "Main").await;
    let mut products = Vec::new();
    for (sku, units) in items {
        let product = owner.create_product(sku, sku, "10.00").await;
        owner.receive_stock(&product, &location, *units).await;
        products.push(product);
    }
    (location, products)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn placements_released_together_get_one_number_each_from_1001_up() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    in_stock(&shop.owner, &[("TEE", 1_000)]).await;

    let answers = all_at_once(PLACEMENTS, |n| {
        let owner = shop.owner.clone();
        async move { place_numbered(&owner, "TEE", 1, "buyer@example.test", &format!("race-{n}")).await }
    })
    .await;

    let numbers = distinct_numbers(&answers);
    let first = 1001;
    let expected: BTreeSet<i64> = (first..first + PLACEMENTS as i64).collect();
    assert_eq!(numbers, expected, "nothing failed, so no number was skipped");
    assert_eq!(listed_numbers(&shop.owner).await, numbers, "every order stored under the number it was told");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_placements_among_racing_ones_take_no_number_and_later_ones_stay_unique() {
    const SCARCE: i64 = 20;
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let (location, products) = in_stock(&shop.owner, &[("TEE", 1_000), ("RARE", SCARCE)]).await;

    // Half buy the plentiful product; the other half race for the scarce one, and those past
    // its stock are refused in the middle of the others.
    let answers = all_at_once(PLACEMENTS, |n| {
        let owner = shop.owner.clone();
        let sku = if n % 2 == 0 { "TEE" } else { "RARE" };
        async move { place_numbered(&owner, sku, 1, "buyer@example.test", &format!("race-{n}")).await }
    })
    .await;
    let mut later = Vec::new();
    for n in 0..5 {
        later.push(place_numbered(&shop.owner, "TEE", 1, "buyer@example.test", &format!("later-{n}")).await);
    }

    let (placed, refused): (Vec<GqlResponse>, Vec<GqlResponse>) =
        answers.into_iter().partition(|answer| number_of(answer).is_some());
    for answer in &refused {
        assert_eq!(answer.user_error_codes("placeOrder"), ["INSUFFICIENT_STOCK"], "{}", answer.text);
    }
    assert_eq!(refused.len(), PLACEMENTS / 2 - SCARCE as usize, "only the scarce product's buyers past its stock");
    let racing = distinct_numbers(&placed);
    let after = distinct_numbers(&later);
    let last_racing = racing.last().copied().unwrap_or_default();
    assert!(after.iter().all(|n| *n > last_racing), "later orders come after: {racing:?} then {after:?}");
    let all: BTreeSet<i64> = racing.union(&after).copied().collect();
    let expected: BTreeSet<i64> = (1001..1001 + all.len() as i64).collect();
    assert_eq!(all, expected, "a refused placement takes no number");
    assert_eq!(listed_numbers(&shop.owner).await, all);
    assert_eq!(
        shop.owner.stock_level(&products[1], &location).await,
        json!({ "onHand": SCARCE, "reserved": SCARCE, "available": 0 }),
        "the scarce product sold out, not over"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn placements_failing_after_numbering_never_make_a_later_number_repeat() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    in_stock(&shop.owner, &[("TEE", 1_000)]).await;
    let poison = PoisonedPlacements::install(app.database(), "poison@example.test").await;

    // Every fourth placement fails as its order is written, after it was numbered.
    let answers = all_at_once(PLACEMENTS, |n| {
        let owner = shop.owner.clone();
        let email = if n % 4 == 0 { "poison@example.test" } else { "buyer@example.test" };
        async move { place_numbered(&owner, "TEE", 1, email, &format!("race-{n}")).await }
    })
    .await;
    poison.remove().await;
    let later = place_numbered(&shop.owner, "TEE", 1, "buyer@example.test", "later").await;

    let (placed, failed): (Vec<GqlResponse>, Vec<GqlResponse>) =
        answers.into_iter().partition(|answer| number_of(answer).is_some());
    assert_eq!(failed.len(), PLACEMENTS / 4, "the poisoned placements failed");
    assert!(failed.iter().all(|answer| answer.error_code() == Some("INTERNAL")), "{}", failed[0].text);
    let racing = distinct_numbers(&placed);
    let later = number_of(&later).unwrap_or_else(|| panic!("the later placement failed: {}", later.text));
    assert!(racing.iter().all(|n| *n >= 1001 && *n < later), "{racing:?} then {later}");
    // SQLite gives a failed placement's number back with its rollback; PostgreSQL never gives
    // a number back, so those placements leave gaps. Either way, no number is used twice.
    assert!(later <= 1001 + PLACEMENTS as i64, "numbers stay small: {later}");
    let mut all = racing.clone();
    all.insert(later);
    assert_eq!(listed_numbers(&shop.owner).await, all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: run with KEEL_TEST_POSTGRES_URL set (the PostgreSQL pass of .ci/run runs them)"]
async fn on_postgres_two_processes_placing_for_one_shop_never_share_a_number() {
    let database = TestDatabase::create_postgres().await;
    let first = ChildServer::start(KEEL_CHILD, &database.url(), &NO_JOBS).await;
    let second = ChildServer::start(KEEL_CHILD, &database.url(), &NO_JOBS).await;
    let shop = first.client().register_shop("acme").await;
    in_stock(&shop.owner, &[("TEE", 1_000)]).await;
    let token = second.client().sign_in("acme", "owner@acme.test", PASSWORD).await;
    let through_second = second.client().with_bearer(&token);

    let answers = all_at_once(PLACEMENTS, |n| {
        let client = if n % 2 == 0 { shop.owner.clone() } else { through_second.clone() };
        async move { place_numbered(&client, "TEE", 1, "buyer@example.test", &format!("race-{n}")).await }
    })
    .await;

    let numbers = distinct_numbers(&answers);
    let expected: BTreeSet<i64> = (1001..1001 + PLACEMENTS as i64).collect();
    assert_eq!(numbers, expected, "nothing failed, so no number was skipped");
    assert_eq!(listed_numbers(&shop.owner).await, numbers);
}

/// A trigger, installed from outside Keel, that makes writing any order of `email` fail: a
/// placement that fails after it took its number.
struct PoisonedPlacements(Outside);

impl PoisonedPlacements {
    async fn install(database: &TestDatabase, email: &str) -> PoisonedPlacements {
        let mut conn = Outside::connect(database).await;
        if conn.is_postgres() {
            conn.execute(
                "CREATE FUNCTION refuse_poisoned_placement() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$",
            )
            .await;
            conn.execute(&format!(
                "CREATE TRIGGER poisoned_placement BEFORE INSERT ON orders FOR EACH ROW \
                 WHEN (NEW.customer_email = '{email}') EXECUTE FUNCTION refuse_poisoned_placement()"
            ))
            .await;
        } else {
            conn.execute(&format!(
                "CREATE TRIGGER poisoned_placement BEFORE INSERT ON orders FOR EACH ROW \
                 WHEN NEW.customer_email = '{email}' BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            ))
            .await;
        }
        PoisonedPlacements(conn)
    }

    async fn remove(self) {
        let mut conn = self.0;
        let drop_trigger = if conn.is_postgres() {
            "DROP TRIGGER poisoned_placement ON orders"
        } else {
            "DROP TRIGGER poisoned_placement"
        };
        conn.execute(drop_trigger).await;
        conn.close().await;
    }
}

/// Arguments of a server whose only job is expiring orders unpaid for a second, every second.
const EXPIRY_JOB: [&str; 4] = ["--order-payment-timeout", "1", "--order-expiry-interval", "1"];
/// Arguments of a server that never runs the expiry job, to set up and read without it.
const NO_JOBS: [&str; 2] = ["--order-expiry-interval", "0"];

/// A shop with one product (`TEE`) of 10 units at its only location: (product, location).
async fn stocked(shop: &Shop) -> (String, String) {
    let product = shop.owner.create_product("TEE", "Tee", "10.00").await;
    let location = shop.owner.create_location("MAIN", "Main").await;
    shop.owner.receive_stock(&product, &location, 10).await;
    (product, location)
}

/// Places an order of `quantity` TEEs for `email`; returns its id.
async fn order_for(shop: &Shop, email: &str, quantity: i64) -> String {
    let input = json!({ "input": { "lines": [{ "sku": "TEE", "quantity": quantity }], "customerEmail": email } });
    let placed = shop.owner.gql(PLACE_ORDER, input).await;
    placed.assert_accepted("placeOrder").expect_str("/data/placeOrder/order/id")
}

async fn status_of(shop: &Shop, order: &str) -> String {
    let found = shop.owner.gql(ORDER, json!({ "id": order })).await;
    found.data()["order"]["status"].as_str().unwrap_or_else(|| panic!("no order {order}: {}", found.text)).to_owned()
}

/// Waits until every order in `orders` is `CANCELLED`, failing after [`JOB_DEADLINE`].
async fn until_cancelled(orders: &[(&Shop, &str)]) {
    let deadline = tokio::time::Instant::now() + JOB_DEADLINE;
    for (shop, order) in orders {
        loop {
            let status = status_of(shop, order).await;
            if status == "CANCELLED" {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "order {order} of {} is still {status}", shop.slug);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_expiry_job_releases_the_stock_of_a_suspended_shops_unpaid_orders() {
    let app = TestApp::spawn_with(TestDatabase::create().await, &NO_JOBS).await;
    let (acme, globex) = (app.shop("acme").await, app.shop("globex").await);
    let (product, location) = stocked(&acme).await;
    stocked(&globex).await;
    let suspended = order_for(&acme, "buyer@example.test", 3).await;
    // An active shop's order, placed later: once the job has cancelled it, a run has visited
    // every tenant the job visits.
    let witness = order_for(&globex, "buyer@example.test", 1).await;
    app.database().keel(&["tenant", "suspend", "--slug", "acme"]).await;

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let jobs = app.spawn_beside(&EXPIRY_JOB).await;
    until_cancelled(&[(&globex, &witness)]).await;
    // Stopping waits for the run in progress, so every order it would cancel is cancelled.
    jobs.into_database().await;
    app.database().keel(&["tenant", "activate", "--slug", "acme"]).await;

    let order = acme.owner.gql(ORDER, json!({ "id": suspended })).await;
    assert_eq!(order.data()["order"]["status"], "CANCELLED", "{}", order.text);
    assert_eq!(order.data()["order"]["history"][1]["actorKind"], "SYSTEM", "{}", order.text);
    assert_eq!(
        acme.owner.stock_level(&product, &location).await,
        json!({ "onHand": 10, "reserved": 0, "available": 10 }),
        "the suspended shop's reservation was released"
    );
}

/// A trigger, installed from outside Keel, that makes every status change of the orders of
/// `email` fail: one order that cannot be expired, whatever the reason.
struct PoisonedOrders(Outside);

impl PoisonedOrders {
    async fn install(database: &TestDatabase, email: &str) -> PoisonedOrders {
        let mut conn = Outside::connect(database).await;
        if conn.is_postgres() {
            conn.execute(
                "CREATE FUNCTION refuse_poisoned_order() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$",
            )
            .await;
            conn.execute(&format!(
                "CREATE TRIGGER poisoned_order BEFORE UPDATE ON orders FOR EACH ROW \
                 WHEN (OLD.customer_email = '{email}') EXECUTE FUNCTION refuse_poisoned_order()"
            ))
            .await;
        } else {
            conn.execute(&format!(
                "CREATE TRIGGER poisoned_order BEFORE UPDATE ON orders FOR EACH ROW \
                 WHEN OLD.customer_email = '{email}' BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            ))
            .await;
        }
        PoisonedOrders(conn)
    }

    async fn remove(self) {
        let mut conn = self.0;
        let drop_trigger =
            if conn.is_postgres() { "DROP TRIGGER poisoned_order ON orders" } else { "DROP TRIGGER poisoned_order" };
        conn.execute(drop_trigger).await;
        conn.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_that_cannot_expire_is_logged_and_retried_without_holding_up_the_others() {
    let capture = logs::capture();
    let app = TestApp::spawn_with(TestDatabase::create().await, &NO_JOBS).await;
    let (acme, globex) = (app.shop("acme").await, app.shop("globex").await);
    let (product, location) = stocked(&acme).await;
    stocked(&globex).await;
    // The oldest order is listed first: before the fix, its failure ended the whole run.
    let poisoned = order_for(&acme, "poison@example.test", 1).await;
    let same_shop = order_for(&acme, "buyer@example.test", 2).await;
    let other_shop = order_for(&globex, "buyer@example.test", 1).await;
    let poison = PoisonedOrders::install(app.database(), "poison@example.test").await;

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let jobs = app.spawn_beside(&EXPIRY_JOB).await;
    until_cancelled(&[(&acme, &same_shop), (&globex, &other_shop)]).await;
    let still_open = status_of(&acme, &poisoned).await;
    let held = acme.owner.stock_level(&product, &location).await;
    let order_key = uuid::Uuid::try_parse(&keel_tests::global_id_key(&poisoned)).expect("an order id").to_string();
    let warned = capture.text().lines().any(|line| {
        line.contains("\"level\":\"WARN\"") && line.contains(&order_key) && line.contains("\"code\":\"INTERNAL\"")
    });
    poison.remove().await;
    until_cancelled(&[(&acme, &poisoned)]).await;
    drop(jobs);

    assert_eq!(still_open, "PENDING_PAYMENT", "the poisoned order failed to expire");
    assert_eq!(held, json!({ "onHand": 10, "reserved": 1, "available": 9 }), "only its reservation is still held");
    assert!(warned, "the failure is logged as a warning with the order id and its code");
    assert_eq!(
        acme.owner.stock_level(&product, &location).await,
        json!({ "onHand": 10, "reserved": 0, "available": 10 }),
        "once it can be, the next run expires it"
    );
}
