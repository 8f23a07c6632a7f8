//! Reading payments: `payment(id)` and `node(id)` answer one payment with its refunds,
//! `payments` pages them newest first and filters by status and creation time, customers see
//! only the payments of their own orders, and reading needs `orders:read`.

use keel_tests::{Client, GqlResponse, Shop, TestApp, TestDatabase, unknown_id};
use serde_json::{Value, json};

const PAY: &str = "mutation($input: PayOrderInput!) { payOrder(input: $input) {
    payment { id status } userErrors { field code message } } }";
const REFUND: &str = "mutation($input: RefundPaymentInput!) { refundPayment(input: $input) {
    refund { status } userErrors { field code message } } }";
const MARK_PAID: &str = "mutation($id: ID!) { markOrderPaid(input: { orderId: $id }) {
    order { status payments { id } } userErrors { field code message } } }";
const PAYMENT_FIELDS: &str = "id orderId status amount { amount currencyCode } processor paymentMethod
    processorReference failureCode refundedAmount { amount } refundableAmount { amount }
    refunds { paymentId status amount { amount } reason processorReference cancelsOrder createdByKind }
    createdByKind createdByMemberId";

/// A server whose pending payments stay pending (reconciliation off).
async fn spawn() -> TestApp {
    TestApp::spawn_with(TestDatabase::create().await, &["--payment-reconcile-interval", "0"]).await
}

/// Registers `slug` selling TEE at 10.00 from 100 in stock.
async fn selling_shop(app: &TestApp, slug: &str) -> Shop {
    let shop = app.shop(slug).await;
    let location = shop.owner.create_location("MAIN", "Main").await;
    let product = shop.owner.create_product("TEE", "Tee", "10.00").await;
    shop.owner.receive_stock(&product, &location, 100).await;
    shop
}

/// Pays `order` as `client` with `method` under `key`; returns the answer's payment id (a
/// declined payment has one too).
async fn pay(client: &Client, order: &str, method: &str, key: &str) -> String {
    let paid =
        client.gql(PAY, json!({ "input": { "orderId": order, "paymentMethod": method, "idempotencyKey": key } })).await;
    assert!(paid.errors().is_empty(), "payOrder failed: {}", paid.text);
    paid.expect_str("/data/payOrder/payment/id")
}

/// Places (as `client`, a customer, for themselves) an order of one TEE.
async fn place_own_order(client: &Client) -> String {
    let placed = client
        .gql(
            "mutation { placeOrder(input: { lines: [{ sku: \"TEE\", quantity: 1 }] }) {
                order { id } userErrors { field code message } } }",
            json!({}),
        )
        .await;
    placed.assert_accepted("placeOrder").expect_str("/data/placeOrder/order/id")
}

/// `payment(id)` with every field.
async fn read_payment(client: &Client, id: &str) -> GqlResponse {
    client.gql(&format!("query($id: ID!) {{ payment(id: $id) {{ {PAYMENT_FIELDS} }} }}"), json!({ "id": id })).await
}

/// `node(id)` with every field of a payment.
async fn read_node(client: &Client, id: &str) -> GqlResponse {
    client
        .gql(
            &format!("query($id: ID!) {{ node(id: $id) {{ ... on Payment {{ {PAYMENT_FIELDS} }} }} }}"),
            json!({ "id": id }),
        )
        .await
}

/// The ids of the payments `payments(<args>)` lists, in order, as `client`.
async fn listed(client: &Client, args: &str) -> Vec<String> {
    let page = client.gql(&format!("{{ payments({args}) {{ edges {{ node {{ id }} }} }} }}"), json!({})).await;
    page.node_strings("payments", "id")
}

#[tokio::test]
async fn a_payment_reads_the_same_by_id_and_as_a_node_with_its_refunds() {
    let app = spawn().await;
    let acme = selling_shop(&app, "acme").await;
    let order = acme.owner.place_order(json!([{ "sku": "TEE", "quantity": 2 }])).await;
    let payment = pay(&acme.owner, &order, "pm_card_visa", "pay-1").await;
    for (key, amount, reason) in [("refund-1", "5.00", "damaged"), ("refund-2", "3.00", "late")] {
        let refunded = acme
            .owner
            .gql(
                REFUND,
                json!({ "input": {
                    "paymentId": payment, "amount": { "amount": amount, "currencyCode": "USD" },
                    "reason": reason, "idempotencyKey": key,
                } }),
            )
            .await;
        refunded.assert_accepted("refundPayment");
    }

    let by_id = read_payment(&acme.owner, &payment).await;
    let as_node = read_node(&acme.owner, &payment).await;
    let of_order = acme
        .owner
        .gql(
            &format!("query($id: ID!) {{ order(id: $id) {{ status payments {{ {PAYMENT_FIELDS} }} }} }}"),
            json!({ "id": order }),
        )
        .await;
    let unknown = unknown_id("Payment");
    let unknown_by_id = read_payment(&acme.owner, &unknown).await;
    let unknown_node = read_node(&acme.owner, &unknown).await;

    assert!(by_id.errors().is_empty(), "{}", by_id.text);
    let found = &by_id.data()["payment"];
    assert_eq!(found["id"], payment.as_str());
    assert_eq!(found["orderId"], order.as_str());
    assert_eq!(found["status"], "SUCCEEDED");
    assert_eq!(found["amount"], json!({ "amount": "20.00", "currencyCode": "USD" }));
    assert_eq!(
        (found["processor"].as_str(), found["paymentMethod"].as_str()),
        (Some("SIMULATED"), Some("pm_card_visa"))
    );
    assert!(found["processorReference"].as_str().is_some_and(|r| r.starts_with("pi_")), "{found}");
    assert_eq!(found["failureCode"], Value::Null);
    assert_eq!(found["refundedAmount"]["amount"], "8.00");
    assert_eq!(found["refundableAmount"]["amount"], "12.00");
    assert_eq!(
        (found["createdByKind"].as_str(), found["createdByMemberId"].as_str()),
        (Some("MEMBER"), Some(acme.owner_id.as_str()))
    );
    let refunds = found["refunds"].as_array().unwrap_or_else(|| panic!("no refunds: {}", by_id.text));
    let summary: Vec<(Value, Value, Value, Value)> = refunds
        .iter()
        .map(|r| (r["paymentId"].clone(), r["status"].clone(), r["amount"]["amount"].clone(), r["reason"].clone()))
        .collect();
    let of = |amount: &str, reason: &str| (json!(payment), json!("SUCCEEDED"), json!(amount), json!(reason));
    assert_eq!(summary, [of("5.00", "damaged"), of("3.00", "late")], "oldest first");
    assert!(
        refunds.iter().all(|r| r["processorReference"].as_str().is_some_and(|id| id.starts_with("re_"))),
        "{found}"
    );
    assert!(refunds.iter().all(|r| r["cancelsOrder"] == false && r["createdByKind"] == "MEMBER"), "{found}");
    assert_eq!(as_node.data()["node"], *found, "node(id) is the same payment: {}", as_node.text);
    assert_eq!(of_order.data()["order"]["status"], "PARTIALLY_REFUNDED", "{}", of_order.text);
    assert_eq!(of_order.data()["order"]["payments"], json!([found]), "Order.payments shows it too");
    assert_eq!(unknown_by_id.error_code(), Some("NOT_FOUND"), "{}", unknown_by_id.text);
    assert_eq!(unknown_by_id.data()["payment"], Value::Null);
    assert_eq!(unknown_node.data()["node"], Value::Null, "{}", unknown_node.text);
}

#[tokio::test]
async fn payments_page_newest_first_and_filter_by_status_and_creation_time() {
    let app = spawn().await;
    let acme = selling_shop(&app, "acme").await;
    let mut ids = Vec::new();
    for (n, method) in
        ["pm_card_visa", "pm_card_visa_chargeDeclined", "pm_card_simulated_async", "MANUAL", "pm_card_visa"]
            .into_iter()
            .enumerate()
    {
        let order = acme.owner.place_order(json!([{ "sku": "TEE", "quantity": 1 }])).await;
        let id = if method == "MANUAL" {
            let marked = acme.owner.gql(MARK_PAID, json!({ "id": order })).await;
            marked.assert_accepted("markOrderPaid").expect_str("/data/markOrderPaid/order/payments/0/id")
        } else {
            pay(&acme.owner, &order, method, &format!("pay-{n}")).await
        };
        ids.push(id);
    }
    let everything =
        acme.owner.gql("{ payments(first: 10) { edges { node { id status createdAt } } } }", json!({})).await;
    let nodes = everything.nodes("payments");
    let created = |id: &str| {
        let node =
            nodes.iter().find(|n| n["id"] == id).unwrap_or_else(|| panic!("{id} not listed: {}", everything.text));
        node["createdAt"].as_str().map(str::to_owned).unwrap_or_else(|| panic!("no createdAt: {node}"))
    };
    let (second, third) = (created(&ids[1]), created(&ids[2]));

    let first_page = acme
        .owner
        .gql("{ payments(first: 2) { edges { node { id } } pageInfo { hasNextPage endCursor } } }", json!({}))
        .await;
    let end = first_page.expect_str("/data/payments/pageInfo/endCursor");
    let second_page = acme
        .owner
        .gql(
            "query($after: String) { payments(first: 2, after: $after) {
                edges { node { id } } pageInfo { hasNextPage endCursor } } }",
            json!({ "after": end }),
        )
        .await;
    let end = second_page.expect_str("/data/payments/pageInfo/endCursor");
    let last_page = listed(&acme.owner, &format!("first: 2, after: \"{end}\"")).await;
    let ids_at = |positions: &[usize]| positions.iter().map(|&i| ids[i].clone()).collect::<Vec<_>>();

    let statuses: Vec<&Value> = nodes.iter().map(|n| &n["status"]).collect();
    assert_eq!(
        statuses,
        [&json!("SUCCEEDED"), &json!("SUCCEEDED"), &json!("PENDING"), &json!("FAILED"), &json!("SUCCEEDED")]
    );
    assert_eq!(first_page.node_strings("payments", "id"), ids_at(&[4, 3]), "newest first");
    assert_eq!(first_page.data()["payments"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(second_page.node_strings("payments", "id"), ids_at(&[2, 1]));
    assert_eq!(second_page.data()["payments"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(last_page, ids_at(&[0]));
    assert_eq!(listed(&acme.owner, "first: 10, filter: { status: [PENDING] }").await, ids_at(&[2]));
    assert_eq!(listed(&acme.owner, "first: 10, filter: { status: [SUCCEEDED] }").await, ids_at(&[4, 3, 0]));
    assert_eq!(listed(&acme.owner, "first: 10, filter: { status: [FAILED, PENDING] }").await, ids_at(&[2, 1]));
    assert_eq!(
        listed(&acme.owner, &format!("first: 10, filter: {{ createdAfter: \"{third}\" }}")).await,
        ids_at(&[4, 3, 2]),
        "createdAfter includes its instant"
    );
    assert_eq!(
        listed(&acme.owner, &format!("first: 10, filter: {{ createdBefore: \"{third}\" }}")).await,
        ids_at(&[1, 0]),
        "createdBefore excludes its instant"
    );
    assert_eq!(
        listed(
            &acme.owner,
            &format!("first: 10, filter: {{ createdAfter: \"{second}\", createdBefore: \"{third}\" }}")
        )
        .await,
        ids_at(&[1])
    );
    assert_eq!(
        listed(&acme.owner, &format!("first: 1, filter: {{ status: [SUCCEEDED], createdBefore: \"{third}\" }}")).await,
        ids_at(&[0])
    );
    assert_eq!(
        listed(&acme.owner, "first: 10, filter: { createdAfter: \"2999-01-01T00:00:00Z\" }").await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn customers_see_only_the_payments_of_their_own_orders() {
    let app = spawn().await;
    let acme = selling_shop(&app, "acme").await;
    let (alice, _) = acme.member("CUSTOMER", "alice@acme.test").await;
    let (bob, _) = acme.member("CUSTOMER", "bob@acme.test").await;
    let alice_order = place_own_order(&alice).await;
    let alice_pays = pay(&alice, &alice_order, "pm_card_visa", "pay-1").await;
    // A payment the shop recorded for alice's order is hers to see too.
    let alice_other_order = place_own_order(&alice).await;
    let marked = acme.owner.gql(MARK_PAID, json!({ "id": alice_other_order })).await;
    let shop_records = marked.assert_accepted("markOrderPaid").expect_str("/data/markOrderPaid/order/payments/0/id");
    let bob_order = place_own_order(&bob).await;
    let bob_pays = pay(&bob, &bob_order, "pm_card_visa", "pay-1").await;
    let shop_order = acme.owner.place_order(json!([{ "sku": "TEE", "quantity": 1 }])).await;
    let shop_pays = pay(&acme.owner, &shop_order, "pm_card_visa", "pay-1").await;

    let alice_lists = listed(&alice, "first: 10").await;
    let bob_lists = listed(&bob, "first: 10").await;
    let owner_lists = listed(&acme.owner, "first: 10").await;
    let alice_reads_hers = read_payment(&alice, &alice_pays).await;

    assert_eq!(alice_lists, [shop_records.clone(), alice_pays.clone()]);
    assert_eq!(bob_lists, [bob_pays.as_str()]);
    assert_eq!(owner_lists, [shop_pays.clone(), bob_pays.clone(), shop_records.clone(), alice_pays.clone()]);
    assert_eq!(alice_reads_hers.data()["payment"]["orderId"], alice_order.as_str(), "{}", alice_reads_hers.text);
    for (whose, id) in [("bob's", &bob_pays), ("the shop's", &shop_pays)] {
        let by_id = read_payment(&alice, id).await;
        let as_node = read_node(&alice, id).await;
        assert_eq!(by_id.error_code(), Some("NOT_FOUND"), "alice reads {whose} payment: {}", by_id.text);
        assert_eq!(by_id.data()["payment"], Value::Null);
        assert_eq!(as_node.data()["node"], Value::Null, "alice reads {whose} payment as a node: {}", as_node.text);
    }
    let bob_reads_alices = read_payment(&bob, &shop_records).await;
    assert_eq!(bob_reads_alices.error_code(), Some("NOT_FOUND"), "{}", bob_reads_alices.text);
}

#[tokio::test]
async fn reading_payments_needs_orders_read() {
    let app = spawn().await;
    let acme = selling_shop(&app, "acme").await;
    let order = acme.owner.place_order(json!([{ "sku": "TEE", "quantity": 1 }])).await;
    let payment = pay(&acme.owner, &order, "pm_card_visa", "pay-1").await;
    let payer = acme.api_key(&["PAYMENTS_WRITE", "PAYMENTS_REFUND", "PAYMENTS_MANAGE", "ORDERS_WRITE"]).await.client;
    let reader = acme.api_key(&["ORDERS_READ"]).await.client;

    let payer_reads = read_payment(&payer, &payment).await;
    let payer_lists = payer.gql("{ payments(first: 10) { edges { node { id } } } }", json!({})).await;
    let payer_node = read_node(&payer, &payment).await;
    let reader_reads = read_payment(&reader, &payment).await;
    let reader_lists = listed(&reader, "first: 10").await;
    let reader_node = read_node(&reader, &payment).await;

    assert_eq!(payer_reads.error_code(), Some("FORBIDDEN"), "{}", payer_reads.text);
    assert_eq!(payer_lists.error_code(), Some("FORBIDDEN"), "{}", payer_lists.text);
    assert_eq!(payer_node.data()["node"], Value::Null, "{}", payer_node.text);
    assert_eq!(reader_reads.data()["payment"]["id"], payment.as_str(), "{}", reader_reads.text);
    assert_eq!(reader_lists, [payment.as_str()]);
    assert_eq!(reader_node.data()["node"]["id"], payment.as_str(), "{}", reader_node.text);
}
