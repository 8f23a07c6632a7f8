//! Orders as clients meet them: placement that reserves all lines or none, a strict status
//! machine with history, expiry that runs once across processes, idempotent retries, no
//! oversell under racing clients, and pages of orders at a fixed number of SQL statements.

use std::collections::{HashMap, HashSet};

use keel_tests::{GqlResponse, Shop, TestApp, logs, unknown_id};
use serde_json::{Value, json};

const PLACE: &str = "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) {
    order { id number status customerEmail subtotal { amount currencyCode } total { amount }
            lines { position sku name quantity unitPrice { amount } total { amount } product { id } } }
    userErrors { field code message } } }";
const CANCEL: &str = "mutation($input: CancelOrderInput!) { cancelOrder(input: $input) {
    order { status } userErrors { field code message } } }";
const MARK_PAID: &str = "mutation($input: MarkOrderPaidInput!) { markOrderPaid(input: $input) {
    order { status } userErrors { field code message } } }";
const FULFILL: &str = "mutation($input: FulfillOrderInput!) { fulfillOrder(input: $input) {
    order { status } userErrors { field code message } } }";
const PAY: &str = "mutation($input: PayOrderInput!) { payOrder(input: $input) {
    payment { id status } userErrors { field code message } } }";
const REFUND: &str = "mutation($input: RefundPaymentInput!) { refundPayment(input: $input) {
    refund { status } userErrors { field code message } } }";
const ORDER: &str = "query($id: ID!) { order(id: $id) { number status customerEmail
    history { from to reason actorKind memberId } } }";
const LEDGER: &str = "query($p: ID!, $l: ID!) { stockMovements(productId: $p, locationId: $l, first: 100) {
    edges { node { reason deltaOnHand deltaReserved reference actorKind } } } }";

/// A shop with products in stock at one location.
struct Stocked {
    location: String,
    /// Product ids by SKU.
    products: HashMap<String, String>,
}

impl Stocked {
    fn id(&self, sku: &str) -> String {
        self.products.get(sku).cloned().unwrap_or_else(|| panic!("no product {sku}"))
    }
}

/// Creates location MAIN and one product "Product <sku>" per `(sku, price, stock)`, receiving
/// the stock there.
async fn stocked(shop: &Shop, items: &[(&str, &str, i64)]) -> Stocked {
    let location = shop.owner.create_location("MAIN", "Main").await;
    let mut products = HashMap::new();
    for (sku, price, stock) in items {
        let id = shop.owner.create_product(sku, &format!("Product {sku}"), price).await;
        if *stock > 0 {
            shop.owner.receive_stock(&id, &location, *stock).await;
        }
        products.insert((*sku).to_owned(), id);
    }
    Stocked { location, products }
}

/// The id of the order a [`PLACE`] answer placed.
fn placed_id(response: &GqlResponse) -> String {
    response.expect_str("/data/placeOrder/order/id")
}

async fn place(client: &keel_tests::Client, lines: Value) -> GqlResponse {
    client.gql(PLACE, json!({ "input": { "lines": lines, "customerEmail": "buyer@example.test" } })).await
}

#[tokio::test]
async fn placing_an_order_prices_merges_and_reserves_every_line() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let s = stocked(&shop, &[("TEE", "10.00", 10), ("MUG", "2.50", 10)]).await;

    let placed = place(
        &shop.owner,
        json!([
            { "productId": s.id("TEE"), "quantity": 2 },
            { "sku": "mug", "quantity": 3 },
            { "productId": s.id("TEE"), "quantity": 1 },
        ]),
    )
    .await;
    // The price changes after placement; the order keeps what it sold at.
    shop.owner
        .gql(
            "mutation($id: ID!) { updateProduct(input: { id: $id, expectedVersion: 1, price: { amount: \"99.00\", currencyCode: \"USD\" } }) { product { version } } }",
            json!({ "id": s.id("TEE") }),
        )
        .await;
    let second = place(&shop.owner, json!([{ "sku": "TEE", "quantity": 1 }])).await;
    let order = shop.owner.gql(ORDER, json!({ "id": placed_id(&placed) })).await;

    let o = &placed.data()["placeOrder"]["order"];
    assert_eq!(placed.user_errors("placeOrder"), Vec::<Value>::new(), "{}", placed.text);
    assert_eq!((o["number"].as_str(), o["status"].as_str()), (Some("1001"), Some("PENDING_PAYMENT")));
    assert_eq!(o["customerEmail"], "buyer@example.test");
    assert_eq!(
        o["lines"],
        json!([
            { "position": 0, "sku": "TEE", "name": "Product TEE", "quantity": 3, "unitPrice": { "amount": "10.00" }, "total": { "amount": "30.00" }, "product": { "id": s.id("TEE") } },
            { "position": 1, "sku": "MUG", "name": "Product MUG", "quantity": 3, "unitPrice": { "amount": "2.50" }, "total": { "amount": "7.50" }, "product": { "id": s.id("MUG") } },
        ]),
        "lines of one product merge into the first"
    );
    assert_eq!(o["subtotal"], json!({ "amount": "37.50", "currencyCode": "USD" }));
    assert_eq!(o["total"]["amount"], "37.50");
    assert_eq!(second.data()["placeOrder"]["order"]["number"], "1002");
    assert_eq!(second.data()["placeOrder"]["order"]["total"]["amount"], "99.00", "priced at the moment of placing");
    assert_eq!(
        order.data()["order"]["history"],
        json!([{ "from": null, "to": "PENDING_PAYMENT", "reason": null, "actorKind": "MEMBER", "memberId": shop.owner_id }])
    );
    assert_eq!(
        shop.owner.stock_level(&s.id("TEE"), &s.location).await,
        json!({ "onHand": 10, "reserved": 4, "available": 6 })
    );
    assert_eq!(
        shop.owner.stock_level(&s.id("MUG"), &s.location).await,
        json!({ "onHand": 10, "reserved": 3, "available": 7 })
    );
    let ledger = shop.owner.gql(LEDGER, json!({ "p": s.id("MUG"), "l": s.location })).await;
    assert_eq!(
        ledger.data()["stockMovements"]["edges"][0]["node"],
        json!({ "reason": "RESERVED", "deltaOnHand": 0, "deltaReserved": 3, "reference": "order #1001", "actorKind": "MEMBER" })
    );
}

#[tokio::test]
async fn a_refused_order_names_the_line_and_reserves_nothing() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let s = stocked(&shop, &[("TEE", "10.00", 5), ("MUG", "2.50", 1), ("OLD", "1.00", 5)]).await;
    shop.owner
        .gql(
            "mutation($id: ID!) { archiveProduct(input: { id: $id, expectedVersion: 1 }) { product { active } } }",
            json!({ "id": s.id("OLD") }),
        )
        .await;
    let unknown = unknown_id("Product");

    let short =
        place(&shop.owner, json!([{ "productId": s.id("TEE"), "quantity": 2 }, { "sku": "MUG", "quantity": 2 }])).await;
    let missing =
        place(&shop.owner, json!([{ "sku": "TEE", "quantity": 1 }, { "productId": unknown, "quantity": 1 }])).await;
    let archived = place(&shop.owner, json!([{ "sku": "OLD", "quantity": 1 }])).await;
    let malformed = shop
        .owner
        .gql(
            PLACE,
            json!({ "input": { "lines": [{ "quantity": 0 }, { "sku": "TEE", "productId": s.id("TEE"), "quantity": 10001 }], "customerEmail": "nope" } }),
        )
        .await;
    let empty = place(&shop.owner, json!([])).await;
    let too_many = place(&shop.owner, json!(vec![json!({ "sku": "TEE", "quantity": 1 }); 101])).await;
    let no_email = shop.owner.gql(PLACE, json!({ "input": { "lines": [{ "sku": "TEE", "quantity": 1 }] } })).await;
    let merged_too_big =
        place(&shop.owner, json!([{ "sku": "TEE", "quantity": 6000 }, { "sku": "TEE", "quantity": 6000 }])).await;

    let first = |r: &GqlResponse| {
        r.user_errors("placeOrder").first().cloned().unwrap_or_else(|| panic!("no user error: {}", r.text))
    };
    assert_eq!(
        (first(&short)["field"].clone(), first(&short)["code"].clone()),
        (json!(["lines", "1", "quantity"]), json!("INSUFFICIENT_STOCK"))
    );
    assert_eq!(
        (first(&missing)["field"].clone(), first(&missing)["code"].clone()),
        (json!(["lines", "1", "productId"]), json!("UNKNOWN_PRODUCT"))
    );
    assert_eq!(
        (first(&archived)["field"].clone(), first(&archived)["code"].clone()),
        (json!(["lines", "0", "sku"]), json!("PRODUCT_INACTIVE"))
    );
    let fields: Vec<Value> = malformed.user_errors("placeOrder").iter().map(|e| e["field"].clone()).collect();
    assert_eq!(
        fields,
        [
            json!(["lines", "0", "productId"]),
            json!(["lines", "0", "quantity"]),
            json!(["lines", "1", "productId"]),
            json!(["lines", "1", "quantity"]),
            json!(["customerEmail"])
        ],
        "every problem at once: {}",
        malformed.text
    );
    assert_eq!(first(&empty)["field"], json!(["lines"]));
    assert_eq!(first(&too_many)["field"], json!(["lines"]));
    assert_eq!(first(&no_email)["field"], json!(["customerEmail"]));
    assert_eq!(first(&merged_too_big)["field"], json!(["lines", "0", "quantity"]));
    for response in [&short, &missing, &archived, &malformed, &empty, &too_many, &no_email, &merged_too_big] {
        assert_eq!(response.data()["placeOrder"]["order"], Value::Null, "{}", response.text);
        assert!(response.errors().is_empty(), "expected failures are userErrors: {}", response.text);
    }
    assert_eq!(shop.owner.stock_level(&s.id("TEE"), &s.location).await["reserved"], 0, "all lines or none");
    let orders = shop.owner.gql("{ orders(first: 10) { edges { node { id } } } }", json!({})).await;
    assert_eq!(orders.data()["orders"]["edges"], json!([]), "nothing was written");
}

#[tokio::test]
async fn statuses_change_only_along_the_table_and_move_stock() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let s = stocked(&shop, &[("TEE", "10.00", 10)]).await;
    let shipped = shop.owner.place_order(json!([{ "sku": "TEE", "quantity": 3 }])).await;
    let dropped = shop.owner.place_order(json!([{ "sku": "TEE", "quantity": 2 }])).await;

    let early = shop.owner.gql(FULFILL, json!({ "input": { "orderId": shipped } })).await;
    let paid =
        shop.owner.gql(MARK_PAID, json!({ "input": { "orderId": shipped, "reference": "bank transfer 42" } })).await;
    let fulfilled = shop.owner.gql(FULFILL, json!({ "input": { "orderId": shipped } })).await;
    let too_late = shop.owner.gql(CANCEL, json!({ "input": { "orderId": shipped, "reason": "changed mind" } })).await;
    let cancelled =
        shop.owner.gql(CANCEL, json!({ "input": { "orderId": dropped, "reason": "customer asked" } })).await;
    let again = shop.owner.gql(CANCEL, json!({ "input": { "orderId": dropped } })).await;
    let history = shop.owner.gql(ORDER, json!({ "id": shipped })).await;
    let dropped_history = shop.owner.gql(ORDER, json!({ "id": dropped })).await;

    assert_eq!(early.user_error_codes("fulfillOrder"), ["ILLEGAL_TRANSITION"]);
    let message = &early.user_errors("fulfillOrder")[0]["message"];
    assert!(message.as_str().is_some_and(|m| m.contains("PENDING_PAYMENT")), "{}", early.text);
    assert_eq!(paid.data()["markOrderPaid"]["order"]["status"], "PAID");
    assert_eq!(fulfilled.data()["fulfillOrder"]["order"]["status"], "FULFILLED");
    assert_eq!(too_late.user_error_codes("cancelOrder"), ["ILLEGAL_TRANSITION"]);
    let message = &too_late.user_errors("cancelOrder")[0]["message"];
    assert!(message.as_str().is_some_and(|m| m.contains("FULFILLED")), "{}", too_late.text);
    assert_eq!(cancelled.data()["cancelOrder"]["order"]["status"], "CANCELLED");
    assert_eq!(again.user_error_codes("cancelOrder"), ["ILLEGAL_TRANSITION"]);
    let message = &again.user_errors("cancelOrder")[0]["message"];
    assert!(message.as_str().is_some_and(|m| m.contains("CANCELLED")), "{}", again.text);
    let steps: Vec<(Value, Value, Value)> = history.data()["order"]["history"]
        .as_array()
        .unwrap_or_else(|| panic!("no history: {}", history.text))
        .iter()
        .map(|t| (t["from"].clone(), t["to"].clone(), t["reason"].clone()))
        .collect();
    assert_eq!(
        steps,
        [
            (Value::Null, json!("PENDING_PAYMENT"), Value::Null),
            (json!("PENDING_PAYMENT"), json!("PAID"), json!("bank transfer 42")),
            (json!("PAID"), json!("FULFILLED"), Value::Null),
        ]
    );
    assert_eq!(dropped_history.data()["order"]["history"][1]["reason"], "customer asked");
    assert_eq!(
        shop.owner.stock_level(&s.id("TEE"), &s.location).await,
        json!({ "onHand": 7, "reserved": 0, "available": 7 })
    );
    let ledger = shop.owner.gql(LEDGER, json!({ "p": s.id("TEE"), "l": s.location })).await;
    let reasons: Vec<(Value, Value, Value)> = ledger
        .nodes("stockMovements")
        .into_iter()
        .map(|n| (n["reason"].clone(), n["deltaOnHand"].clone(), n["deltaReserved"].clone()))
        .collect();
    assert_eq!(
        reasons,
        [
            (json!("RELEASED"), json!(0), json!(-2)),
            (json!("SHIPPED"), json!(-3), json!(-3)),
            (json!("RESERVED"), json!(0), json!(2)),
            (json!("RESERVED"), json!(0), json!(3)),
            (json!("RECEIVED"), json!(10), json!(0)),
        ],
        "newest first; the ledger explains the level"
    );
}

#[tokio::test]
async fn customers_order_for_themselves_and_see_only_their_own_orders() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let s = stocked(&shop, &[("TEE", "10.00", 10)]).await;
    let (alice, alice_id) = shop.member("CUSTOMER", "alice@acme.test").await;
    let (bob, _) = shop.member("CUSTOMER", "bob@acme.test").await;
    let (staff, _) = shop.member("STAFF", "staff@acme.test").await;

    let mine = alice.gql(PLACE, json!({ "input": { "lines": [{ "sku": "TEE", "quantity": 1 }] } })).await;
    let posing = alice
        .gql(
            PLACE,
            json!({ "input": { "lines": [{ "sku": "TEE", "quantity": 1 }], "customerEmail": "bob@acme.test" } }),
        )
        .await;
    let id = placed_id(&mine);
    let number = mine.expect_str("/data/placeOrder/order/number");
    let staff_order = staff.place_order(json!([{ "sku": "TEE", "quantity": 1 }])).await;

    let alice_list = alice.gql("{ orders(first: 10) { edges { node { id customerEmail } } } }", json!({})).await;
    let bob_list = bob.gql("{ orders(first: 10) { edges { node { id } } } }", json!({})).await;
    let staff_list = staff.gql("{ orders(first: 10) { edges { node { id } } } }", json!({})).await;
    let bob_reads = bob.gql(ORDER, json!({ "id": id })).await;
    let bob_by_number =
        bob.gql("query($n: String!) { orderByNumber(number: $n) { id } }", json!({ "n": number })).await;
    let bob_cancels = bob.gql(CANCEL, json!({ "input": { "orderId": id } })).await;
    let alice_pays_herself = alice.gql(MARK_PAID, json!({ "input": { "orderId": id } })).await;
    let alice_reads_staff_order = alice.gql(ORDER, json!({ "id": staff_order })).await;
    let alice_cancels = alice.gql(CANCEL, json!({ "input": { "orderId": id, "reason": "too slow" } })).await;
    let history = shop.owner.gql(ORDER, json!({ "id": id })).await;

    assert_eq!(mine.data()["placeOrder"]["order"]["customerEmail"], "alice@acme.test");
    assert_eq!(posing.user_error_codes("placeOrder"), ["INVALID"]);
    assert_eq!(posing.user_errors("placeOrder")[0]["field"], json!(["customerEmail"]));
    assert_eq!(
        alice_list.data()["orders"]["edges"],
        json!([{ "node": { "id": id, "customerEmail": "alice@acme.test" } }])
    );
    assert_eq!(bob_list.data()["orders"]["edges"], json!([]));
    assert_eq!(staff_list.data()["orders"]["edges"].as_array().map(Vec::len), Some(2), "staff see every order");
    for (what, response) in [
        ("order", &bob_reads),
        ("orderByNumber", &bob_by_number),
        ("cancelOrder", &bob_cancels),
        ("staff order", &alice_reads_staff_order),
    ] {
        assert_eq!(response.error_code(), Some("NOT_FOUND"), "{what}: {}", response.text);
    }
    assert_eq!(alice_pays_herself.error_code(), Some("FORBIDDEN"));
    assert_eq!(alice_cancels.data()["cancelOrder"]["order"]["status"], "CANCELLED");
    assert_eq!(history.data()["order"]["history"][1]["memberId"], alice_id);
    assert_eq!(
        shop.owner.stock_level(&s.id("TEE"), &s.location).await["reserved"],
        1,
        "only the staff order holds stock"
    );
}

#[tokio::test]
async fn orders_list_newest_first_with_filters_and_keyset_pages() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    stocked(&shop, &[("TEE", "10.00", 100)]).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let response = shop
            .owner
            .gql(PLACE, json!({ "input": { "lines": [{ "sku": "TEE", "quantity": 1 }], "customerEmail": format!("buyer{}@example.test", n % 2) } }))
            .await;
        ids.push(placed_id(&response));
    }
    shop.owner.gql(CANCEL, json!({ "input": { "orderId": ids[1] } })).await;
    let page = |args: &str| {
        let owner = shop.owner.clone();
        let document = format!(
            "{{ orders({args}) {{ edges {{ cursor node {{ id number }} }} pageInfo {{ hasNextPage hasPreviousPage endCursor startCursor }} }} }}"
        );
        async move { owner.gql(&document, json!({})).await }
    };
    let node_ids = |r: &GqlResponse| r.node_strings("orders", "id");

    let first = page("first: 2").await;
    let end = first.expect_str("/data/orders/pageInfo/endCursor");
    let second = page(&format!("first: 2, after: \"{end}\"")).await;
    let last = page("last: 2").await;
    let cancelled = page("first: 10, filter: { status: [CANCELLED] }").await;
    let buyer0 = page("first: 10, filter: { customerEmail: \"BUYER0@example.test\" }").await;
    let future = page("first: 10, filter: { createdAfter: \"2999-01-01T00:00:00Z\" }").await;
    let past = page("first: 10, filter: { createdBefore: \"2999-01-01T00:00:00Z\" }").await;
    let by_number = shop.owner.gql("{ orderByNumber(number: \"#1002\") { id } }", json!({})).await;
    let nonsense = shop.owner.gql("{ orderByNumber(number: \"DROP TABLE\") { id } }", json!({})).await;
    let too_big = page("first: 1000").await;

    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(node_ids(&first), newest_first[..2]);
    assert_eq!(first.data()["orders"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(first.data()["orders"]["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(node_ids(&second), newest_first[2..4]);
    assert_eq!(second.data()["orders"]["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(node_ids(&last), newest_first[3..]);
    assert_eq!(last.data()["orders"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(last.data()["orders"]["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(node_ids(&cancelled), [ids[1].clone()]);
    assert_eq!(node_ids(&buyer0), [ids[4].clone(), ids[2].clone(), ids[0].clone()]);
    assert_eq!(node_ids(&future), Vec::<String>::new());
    assert_eq!(node_ids(&past).len(), 5);
    assert_eq!(by_number.data()["orderByNumber"]["id"], ids[1].as_str());
    assert_eq!(nonsense.error_code(), Some("NOT_FOUND"));
    assert_eq!(too_big.error_code(), Some("BAD_USER_INPUT"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_idempotency_key_places_one_order_however_often_it_is_sent() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let other = app.shop("globex").await;
    let s = stocked(&shop, &[("TEE", "10.00", 50)]).await;
    stocked(&other, &[("TEE", "10.00", 50)]).await;
    let input = |key: &str, quantity: i64| json!({ "input": { "lines": [{ "sku": "TEE", "quantity": quantity }], "customerEmail": "buyer@example.test", "idempotencyKey": key } });

    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (client, variables) = (shop.owner.clone(), input("checkout-7f3a", 2));
        racers.spawn(async move { client.gql(PLACE, variables).await });
    }
    let answers = racers.join_all().await;
    let replay = shop.owner.gql(PLACE, input("checkout-7f3a", 2)).await;
    let changed = shop.owner.gql(PLACE, input("checkout-7f3a", 3)).await;
    let elsewhere = other.owner.gql(PLACE, input("checkout-7f3a", 2)).await;
    let orders = shop.owner.gql("{ orders(first: 100) { edges { node { id } } } }", json!({})).await;

    let placed: HashSet<String> = answers.iter().map(placed_id).collect();
    assert_eq!(placed.len(), 1, "20 concurrent requests with one key place one order");
    assert!(answers.iter().all(|a| a.errors().is_empty()), "no request failed");
    assert_eq!(placed_id(&replay), *placed.iter().next().expect("one"), "a later repeat replays it");
    assert_eq!(changed.error_code(), Some("IDEMPOTENCY_KEY_REUSED"));
    assert_ne!(placed_id(&elsewhere), placed_id(&replay), "keys are per tenant");
    assert_eq!(orders.data()["orders"]["edges"].as_array().map(Vec::len), Some(1));
    assert_eq!(shop.owner.stock_level(&s.id("TEE"), &s.location).await["reserved"], 2, "stock reserved once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_buyers_of_a_hundred_units_place_exactly_a_hundred_orders() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let s = stocked(&shop, &[("TEE", "10.00", 100)]).await;

    let mut buyers = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let client = shop.owner.clone();
        buyers.spawn(async move { place(&client, json!([{ "sku": "TEE", "quantity": 1 }])).await });
    }
    let answers = buyers.join_all().await;

    let numbers: HashSet<String> =
        answers.iter().filter_map(|a| a.data()["placeOrder"]["order"]["number"].as_str().map(str::to_owned)).collect();
    let refused = answers.iter().filter(|a| a.user_error_codes("placeOrder") == ["INSUFFICIENT_STOCK"]).count();
    let failed: Vec<&str> = answers.iter().filter(|a| !a.errors().is_empty()).map(|a| a.text.as_str()).collect();
    assert!(failed.is_empty(), "no request may fail: {failed:?}");
    assert_eq!((numbers.len(), refused), (100, 100), "exactly 100 orders, each with its own number");
    assert_eq!(
        shop.owner.stock_level(&s.id("TEE"), &s.location).await,
        json!({ "onHand": 100, "reserved": 100, "available": 0 })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_multi_line_orders_never_deadlock_nor_oversell() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let skus = ["A", "B", "C", "D"];
    let s = stocked(&shop, &[("A", "1.00", 20), ("B", "1.00", 20), ("C", "1.00", 20), ("D", "1.00", 20)]).await;

    let mut buyers = tokio::task::JoinSet::new();
    for n in 0..80_usize {
        // Overlapping products in different orders, so naive locking would deadlock.
        let mut lines: Vec<Value> =
            (0..2 + n % 3).map(|k| json!({ "sku": skus[(n + k * 3) % 4], "quantity": 1 + (n + k) % 2 })).collect();
        if n % 2 == 1 {
            lines.reverse();
        }
        let client = shop.owner.clone();
        buyers.spawn(async move { place(&client, Value::Array(lines)).await });
    }
    let answers = buyers.join_all().await;

    let mut reserved: HashMap<String, i64> = skus.iter().map(|sku| ((*sku).to_owned(), 0)).collect();
    for answer in &answers {
        assert!(answer.errors().is_empty(), "no deadlock or serialization error reaches a client: {}", answer.text);
        let order = &answer.data()["placeOrder"]["order"];
        if order.is_object() {
            for line in order["lines"].as_array().unwrap_or_else(|| panic!("no lines: {}", answer.text)) {
                let (sku, quantity) = (line["sku"].as_str(), line["quantity"].as_i64());
                let held = sku.and_then(|sku| reserved.get_mut(sku));
                match (held, quantity) {
                    (Some(held), Some(quantity)) => *held += quantity,
                    _ => panic!("a line of an unknown SKU or without a quantity: {}", answer.text),
                }
            }
        } else {
            assert_eq!(answer.user_error_codes("placeOrder"), ["INSUFFICIENT_STOCK"], "{}", answer.text);
        }
    }
    assert!(answers.iter().any(|a| a.data()["placeOrder"]["order"].is_object()), "some orders were placed");
    for sku in skus {
        let level = shop.owner.stock_level(&s.id(sku), &s.location).await;
        assert_eq!(level["reserved"], reserved[sku], "{sku}: reserved equals what placed orders hold");
        assert!(level["available"].as_i64().is_some_and(|a| a >= 0), "{sku}: {level}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_expire_each_unpaid_order_exactly_once() {
    let args = ["--order-payment-timeout", "2", "--order-expiry-interval", "1"];
    let first = TestApp::spawn_with(keel_tests::TestDatabase::create().await, &args).await;
    let second = first.spawn_beside(&args).await;
    let shop = first.shop("acme").await;
    let s = stocked(&shop, &[("TEE", "10.00", 50)]).await;
    let mut unpaid = Vec::new();
    for _ in 0..8 {
        unpaid.push(shop.owner.place_order(json!([{ "sku": "TEE", "quantity": 2 }])).await);
    }
    let paid = shop.owner.place_order(json!([{ "sku": "TEE", "quantity": 1 }])).await;
    let marked = shop.owner.gql(MARK_PAID, json!({ "input": { "orderId": paid } })).await;
    assert_eq!(marked.data()["markOrderPaid"]["order"]["status"], "PAID", "{}", marked.text);

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let open = shop
            .owner
            .gql("{ orders(first: 100, filter: { status: [PENDING_PAYMENT] }) { edges { node { id } } } }", json!({}))
            .await;
        if open.data()["orders"]["edges"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "unpaid orders were not expired: {}", open.text);
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }

    for id in &unpaid {
        let order = shop.owner.gql(ORDER, json!({ "id": id })).await;
        let history = &order.data()["order"]["history"];
        assert_eq!(order.data()["order"]["status"], "CANCELLED");
        assert_eq!(history.as_array().map(Vec::len), Some(2), "cancelled once: {history}");
        assert_eq!(history[1]["actorKind"], "SYSTEM");
        assert_eq!(history[1]["reason"], "payment not received in time");
    }
    let still_paid = shop.owner.gql(ORDER, json!({ "id": paid })).await;
    assert_eq!(still_paid.data()["order"]["status"], "PAID", "paid orders never expire");
    assert_eq!(
        shop.owner.stock_level(&s.id("TEE"), &s.location).await,
        json!({ "onHand": 50, "reserved": 1, "available": 49 })
    );
    let ledger = shop.owner.gql(LEDGER, json!({ "p": s.id("TEE"), "l": s.location })).await;
    let released = ledger.nodes("stockMovements").iter().filter(|n| n["reason"] == "RELEASED").count();
    assert_eq!(released, 8, "each unpaid order's stock released exactly once");
    drop(second);
}

/// Counts the SQL statements the server ran for one request, by its request id.
async fn statements_for(app: &TestApp, client_token: &str, query: &str, request_id: &str) -> (usize, GqlResponse) {
    let capture = logs::capture();
    let request = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(client_token)
        .header("x-request-id", request_id)
        .json(&json!({ "query": query }));
    let response = app.send(request).await;
    let needle = format!("\"request.id\":\"{request_id}\"");
    let text = capture.text();
    let lines: Vec<&str> =
        text.lines().filter(|line| line.contains("\"target\":\"sqlx::query\"") && line.contains(&needle)).collect();
    let count = lines.len();
    (count, response)
}

#[tokio::test]
async fn a_page_of_orders_costs_the_same_statements_whatever_its_size() {
    logs::capture();
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let skus: Vec<String> = (0..6).map(|n| format!("SKU-{n}")).collect();
    let items: Vec<(&str, &str, i64)> = skus.iter().map(|sku| (sku.as_str(), "3.00", 1000)).collect();
    stocked(&shop, &items).await;
    for n in 0..55 {
        let lines: Vec<Value> = (0..3).map(|k| json!({ "sku": skus[(n + k) % 6], "quantity": 1 })).collect();
        let id = shop.owner.place_order(Value::Array(lines)).await;
        match n % 4 {
            0 => {
                shop.owner.gql(MARK_PAID, json!({ "input": { "orderId": id } })).await.assert_accepted("markOrderPaid");
            }
            1 => {
                let pay =
                    json!({ "orderId": id, "paymentMethod": "pm_card_visa", "idempotencyKey": format!("pay-{n}") });
                let paid = shop.owner.gql(PAY, json!({ "input": pay })).await;
                let payment = paid.assert_accepted("payOrder").expect_str("/data/payOrder/payment/id");
                let amount = json!({ "amount": "1.00", "currencyCode": "USD" });
                let refund = json!({ "paymentId": payment, "amount": amount, "idempotencyKey": format!("refund-{n}") });
                shop.owner.gql(REFUND, json!({ "input": refund })).await.assert_accepted("refundPayment");
            }
            _ => {}
        }
    }
    let token = app.anonymous().sign_in("acme", "owner@acme.test", keel_tests::PASSWORD).await;
    let query = |size: usize| {
        format!(
            "{{ orders(first: {size}) {{ edges {{ node {{ number status total {{ amount }}
                lines {{ quantity unitPrice {{ amount }} product {{ sku name price {{ amount }} }} }}
                history {{ from to actorKind }} payments {{ status amount {{ amount }} refunds {{ status }} }} }} }} }} }}"
        )
    };

    let (small, small_page) = statements_for(&app, &token, &query(5), "count-orders-5").await;
    let (large, large_page) = statements_for(&app, &token, &query(50), "count-orders-50").await;

    assert_eq!(small_page.data()["orders"]["edges"].as_array().map(Vec::len), Some(5), "{}", small_page.text);
    let orders = large_page.nodes("orders");
    assert_eq!(orders.len(), 50, "{}", large_page.text);
    assert!(orders.iter().all(|o| o["lines"][2]["product"]["sku"].is_string()), "products resolved");
    assert!(orders.iter().all(|o| o["history"].as_array().is_some_and(|h| !h.is_empty())), "history resolved");
    for order in &orders {
        let payments = order["payments"].as_array().unwrap_or_else(|| panic!("no payments: {order}"));
        let succeeded =
            payments.iter().filter(|p| p["status"] == "SUCCEEDED" && p["amount"]["amount"] == "9.00").count();
        match order["status"].as_str() {
            Some("PAID") => assert_eq!((payments.len(), succeeded), (1, 1), "a paid order's payment: {order}"),
            Some("PARTIALLY_REFUNDED") => {
                assert_eq!((payments.len(), succeeded), (1, 1), "{order}");
                assert_eq!(payments[0]["refunds"], json!([{ "status": "SUCCEEDED" }]), "refunds resolved: {order}");
            }
            _ => assert!(payments.is_empty(), "an unpaid order has no payment: {order}"),
        }
    }
    let statuses: HashSet<&str> = orders.iter().filter_map(|o| o["status"].as_str()).collect();
    assert!(
        statuses.contains("PAID") && statuses.contains("PARTIALLY_REFUNDED"),
        "both kinds on the page: {statuses:?}"
    );
    assert!(small > 0, "the statements of a request are counted");
    assert_eq!(small, large, "5 orders and 50 orders cost the same number of statements");
    // Two transactions (the session check; the page with its lines, histories, products,
    // payments and their refunds): seven queries, plus on PostgreSQL each transaction's BEGIN,
    // tenant setting and COMMIT.
    assert!(large <= 13, "a page costs a small fixed number of statements, not {large}");
}

#[tokio::test]
async fn placing_an_order_costs_a_few_statements_whatever_its_line_count() {
    logs::capture();
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    stocked(&shop, &[("A", "1.00", 100), ("B", "1.00", 100), ("C", "1.00", 100)]).await;
    // The shop's first order creates its counter; the ones counted below are like any later one.
    shop.owner.place_order(json!([{ "sku": "A", "quantity": 1 }])).await;
    let token = app.anonymous().sign_in("acme", "owner@acme.test", keel_tests::PASSWORD).await;
    let placement = |skus: &[&str], key: &str| {
        let lines: Vec<String> = skus.iter().map(|sku| format!("{{ sku: \"{sku}\", quantity: 1 }}")).collect();
        format!(
            "mutation {{ placeOrder(input: {{ lines: [{}], customerEmail: \"buyer@example.test\", \
             idempotencyKey: \"{key}\" }}) {{ order {{ number }} userErrors {{ code }} }} }}",
            lines.join(", ")
        )
    };

    let (one, one_line) = statements_for(&app, &token, &placement(&["A"], "one-line"), "count-place-1").await;
    let (three, three_lines) =
        statements_for(&app, &token, &placement(&["A", "B", "C"], "three-lines"), "count-place-3").await;

    one_line.assert_accepted("placeOrder");
    three_lines.assert_accepted("placeOrder");
    assert!(one > 0, "the statements of a request are counted");
    if matches!(app.database(), keel_tests::TestDatabase::Postgres(_)) {
        // The token check; then the placement: the tenant setting, the key's claim, the
        // location, the products, the reservations (one statement for all lines), the number
        // (on its own connection), the order with its lines, ledger, history and events
        // travelling with the read of the shop's webhook endpoints, the key's result, COMMIT.
        assert_eq!(one, three, "three lines cost what one line costs");
        assert!(three <= 10, "a placement costs a few statements, not {three}");
    } else {
        // SQLite runs in the process: each insert and each line's reservation is its own
        // statement, with no round trip to save.
        assert_eq!(three, one + 2, "one more statement per further line's reservation");
    }
}
