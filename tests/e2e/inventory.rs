//! Stock as clients meet it: levels that never go negative under any concurrency, a ledger
//! that explains every number, atomic transfers.

use keel_tests::{Shop, TestApp, global_id, unknown_id};
use serde_json::{Value, json};

const RECEIVE: &str = "mutation($input: ReceiveStockInput!) { receiveStock(input: $input) {
    stockLevel { onHand reserved available } userErrors { field code message } } }";
const ADJUST: &str = "mutation($input: AdjustStockInput!) { adjustStock(input: $input) {
    stockLevel { onHand reserved available } userErrors { field code message } } }";
const TRANSFER: &str = "mutation($input: TransferStockInput!) { transferStock(input: $input) {
    from { onHand available } to { onHand available } userErrors { field code } } }";
const LEVEL: &str =
    "query($p: ID!, $l: ID!) { stockLevel(productId: $p, locationId: $l) { onHand reserved available } }";
const LEDGER: &str = "query($p: ID!, $l: ID!) { stockMovements(productId: $p, locationId: $l, first: 100) {
    edges { node { reason deltaOnHand deltaReserved note actorKind } } } }";

/// One product with no stock yet, and two locations to keep it at.
struct Stocked {
    product: String,
    main: String,
    backup: String,
}

async fn stocked(shop: &Shop) -> Stocked {
    Stocked {
        product: shop.owner.create_product("TEE-1", "Tee", "10.00").await,
        main: shop.owner.create_location("MAIN", "MAIN").await,
        backup: shop.owner.create_location("BACKUP", "BACKUP").await,
    }
}

#[tokio::test]
async fn receiving_and_adjusting_keep_the_ledger_equal_to_the_level() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let s = stocked(&shop).await;

    let received = shop
        .owner
        .gql(
            RECEIVE,
            json!({ "input": { "productId": s.product, "locationId": s.main, "quantity": 10, "reference": "PO-1" } }),
        )
        .await;
    let damaged = shop.owner.gql(ADJUST, json!({ "input": { "productId": s.product, "locationId": s.main, "delta": -3, "reason": "ADJUSTED", "note": "water damage" } })).await;
    let returned = shop
        .owner
        .gql(
            ADJUST,
            json!({ "input": { "productId": s.product, "locationId": s.main, "delta": 1, "reason": "RETURNED" } }),
        )
        .await;
    let too_much = shop
        .owner
        .gql(
            ADJUST,
            json!({ "input": { "productId": s.product, "locationId": s.main, "delta": -9, "reason": "ADJUSTED" } }),
        )
        .await;
    let ledger = shop.owner.gql(LEDGER, json!({ "p": s.product, "l": s.main })).await;

    assert_eq!(received.data()["receiveStock"]["stockLevel"], json!({ "onHand": 10, "reserved": 0, "available": 10 }));
    assert_eq!(damaged.data()["adjustStock"]["stockLevel"]["onHand"], 7);
    assert_eq!(returned.data()["adjustStock"]["stockLevel"]["onHand"], 8);
    assert_eq!(too_much.user_error_codes("adjustStock"), ["INSUFFICIENT_STOCK"]);
    let movements = ledger.nodes("stockMovements");
    let reasons = ledger.node_strings("stockMovements", "reason");
    assert_eq!(reasons, ["RETURNED", "ADJUSTED", "RECEIVED"], "newest first, the refused change absent");
    let sum: i64 = movements.iter().filter_map(|m| m["deltaOnHand"].as_i64()).sum();
    assert_eq!(sum, 8, "the ledger explains the level");
    assert_eq!(movements[1]["note"], "water damage");
    assert_eq!(
        shop.owner.stock_level(&s.product, &s.main).await,
        json!({ "onHand": 8, "reserved": 0, "available": 8 })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_removals_from_fifty_leave_exactly_zero() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let s = stocked(&shop).await;
    shop.owner.receive_stock(&s.product, &s.main, 50).await;

    let mut removers = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (client, product, location) = (shop.owner.clone(), s.product.clone(), s.main.clone());
        removers.spawn(async move {
            client.gql(ADJUST, json!({ "input": { "productId": product, "locationId": location, "delta": -1, "reason": "ADJUSTED" } })).await
        });
    }
    let answers = removers.join_all().await;

    let succeeded = answers.iter().filter(|r| r.data()["adjustStock"]["stockLevel"].is_object()).count();
    let refused = answers.iter().filter(|r| r.user_error_codes("adjustStock") == ["INSUFFICIENT_STOCK"]).count();
    assert_eq!(
        (succeeded, refused),
        (50, 50),
        "{:?}",
        answers.iter().find(|r| r.data()["adjustStock"].is_null()).map(|r| &r.text)
    );
    assert_eq!(
        shop.owner.stock_level(&s.product, &s.main).await,
        json!({ "onHand": 0, "reserved": 0, "available": 0 })
    );
    let ledger = shop.owner.gql(LEDGER, json!({ "p": s.product, "l": s.main })).await;
    let adjustments = ledger.nodes("stockMovements").iter().filter(|n| n["reason"] == "ADJUSTED").count();
    assert_eq!(adjustments, 50, "exactly one movement per accepted removal");
}

#[tokio::test]
async fn a_transfer_moves_both_sides_or_neither() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let s = stocked(&shop).await;
    shop.owner.receive_stock(&s.product, &s.main, 5).await;

    let too_much = shop.owner.gql(TRANSFER, json!({ "input": { "productId": s.product, "fromLocationId": s.main, "toLocationId": s.backup, "quantity": 6 } })).await;
    let after_refusal =
        (shop.owner.stock_level(&s.product, &s.main).await, shop.owner.stock_level(&s.product, &s.backup).await);
    let moved = shop.owner.gql(TRANSFER, json!({ "input": { "productId": s.product, "fromLocationId": s.main, "toLocationId": s.backup, "quantity": 2 } })).await;
    let same_place = shop.owner.gql(TRANSFER, json!({ "input": { "productId": s.product, "fromLocationId": s.main, "toLocationId": s.main, "quantity": 1 } })).await;

    assert_eq!(too_much.user_error_codes("transferStock"), ["INSUFFICIENT_STOCK"]);
    assert_eq!(after_refusal.0["onHand"], 5);
    assert_eq!(after_refusal.1["onHand"], 0, "the destination gained nothing");
    assert_eq!(moved.data()["transferStock"]["from"], json!({ "onHand": 3, "available": 3 }));
    assert_eq!(moved.data()["transferStock"]["to"], json!({ "onHand": 2, "available": 2 }));
    assert_eq!(same_place.user_error_codes("transferStock"), ["INVALID"]);
}

#[tokio::test]
async fn bad_quantities_and_unknown_ids_write_nothing() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let s = stocked(&shop).await;
    let unknown = unknown_id("Product");

    let mut fields = Vec::new();
    for quantity in [0, -5, 1_000_001, i64::from(i32::MAX) * 4] {
        let response = shop
            .owner
            .gql(RECEIVE, json!({ "input": { "productId": s.product, "locationId": s.main, "quantity": quantity } }))
            .await;
        fields.push(response.data()["receiveStock"]["userErrors"][0]["field"].clone());
    }
    let zero_delta = shop
        .owner
        .gql(
            ADJUST,
            json!({ "input": { "productId": s.product, "locationId": s.main, "delta": 0, "reason": "ADJUSTED" } }),
        )
        .await;
    let unknown_product = shop
        .owner
        .gql(RECEIVE, json!({ "input": { "productId": unknown, "locationId": s.main, "quantity": 1 } }))
        .await;

    assert!(fields.iter().all(|f| *f == json!(["quantity"])), "{fields:?}");
    assert_eq!(zero_delta.data()["adjustStock"]["userErrors"][0]["field"], json!(["delta"]));
    assert_eq!(unknown_product.error_code(), Some("NOT_FOUND"));
    assert_eq!(shop.owner.stock_level(&s.product, &s.main).await["onHand"], 0);
}

#[tokio::test]
async fn staff_move_stock_and_customers_cannot_see_or_change_it() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let s = stocked(&shop).await;
    let (staff, _) = shop.member("STAFF", "staff@acme.test").await;
    let (customer, _) = shop.member("CUSTOMER", "buyer@acme.test").await;

    let by_staff =
        staff.gql(RECEIVE, json!({ "input": { "productId": s.product, "locationId": s.main, "quantity": 3 } })).await;
    let by_customer = customer
        .gql(RECEIVE, json!({ "input": { "productId": s.product, "locationId": s.main, "quantity": 3 } }))
        .await;
    let customer_reads = customer.gql(LEVEL, json!({ "p": s.product, "l": s.main })).await;

    assert_eq!(by_staff.data()["receiveStock"]["stockLevel"]["onHand"], 3);
    assert_eq!(by_customer.error_code(), Some("FORBIDDEN"));
    assert_eq!(customer_reads.error_code(), Some("FORBIDDEN"));
}

#[tokio::test]
async fn stock_operations_on_another_tenants_ids_answer_like_unknown_ids() {
    let app = TestApp::spawn().await;
    let (acme, globex) = (app.shop("acme").await, app.shop("globex").await);
    let mine = stocked(&acme).await;
    let theirs = stocked(&globex).await;
    globex.owner.receive_stock(&theirs.product, &theirs.main, 7).await;

    let cases = [
        (
            "receiveStock(product)",
            RECEIVE,
            json!({ "input": { "productId": theirs.product, "locationId": mine.main, "quantity": 1 } }),
            json!({ "input": { "productId": unknown_id("Product"), "locationId": mine.main, "quantity": 1 } }),
        ),
        (
            "receiveStock(location)",
            RECEIVE,
            json!({ "input": { "productId": mine.product, "locationId": theirs.main, "quantity": 1 } }),
            json!({ "input": { "productId": mine.product, "locationId": unknown_id("Location"), "quantity": 1 } }),
        ),
        (
            "adjustStock",
            ADJUST,
            json!({ "input": { "productId": theirs.product, "locationId": theirs.main, "delta": -1, "reason": "ADJUSTED" } }),
            json!({ "input": { "productId": unknown_id("Product"), "locationId": unknown_id("Location"), "delta": -1, "reason": "ADJUSTED" } }),
        ),
        (
            "transferStock",
            TRANSFER,
            json!({ "input": { "productId": theirs.product, "fromLocationId": theirs.main, "toLocationId": mine.main, "quantity": 1 } }),
            json!({ "input": { "productId": unknown_id("Product"), "fromLocationId": unknown_id("Location"), "toLocationId": mine.main, "quantity": 1 } }),
        ),
        (
            "stockLevel",
            LEVEL,
            json!({ "p": theirs.product, "l": theirs.main }),
            json!({ "p": unknown_id("Product"), "l": unknown_id("Location") }),
        ),
        (
            "stockMovements",
            LEDGER,
            json!({ "p": theirs.product, "l": theirs.main }),
            json!({ "p": unknown_id("Product"), "l": unknown_id("Location") }),
        ),
    ];
    for (operation, document, foreign, random) in cases {
        let foreign_answer = acme.owner.gql(document, foreign).await;
        let unknown_answer = acme.owner.gql(document, random).await;

        assert_eq!(foreign_answer.error_code(), Some("NOT_FOUND"), "{operation}: {}", foreign_answer.text);
        assert_eq!(foreign_answer.data(), unknown_answer.data(), "{operation}");
        assert_eq!(foreign_answer.errors()[0]["message"], unknown_answer.errors()[0]["message"], "{operation}");
    }
    assert_eq!(
        globex.owner.stock_level(&theirs.product, &theirs.main).await["onHand"],
        7,
        "globex's stock is untouched"
    );
    let their_level = globex
        .owner
        .gql(
            "query($p: ID!, $l: ID!) { stockLevel(productId: $p, locationId: $l) { id } }",
            json!({ "p": theirs.product, "l": theirs.main }),
        )
        .await;
    let their_level_id = their_level.expect_str("/data/stockLevel/id");
    let random_level_id =
        global_id("StockLevel", &format!("{}:{}", uuid::Uuid::now_v7().simple(), uuid::Uuid::now_v7().simple()));
    let node = "query($id: ID!) { node(id: $id) { id ... on StockLevel { onHand } } }";
    let own = globex.owner.gql(node, json!({ "id": their_level_id })).await;
    let foreign = acme.owner.gql(node, json!({ "id": their_level_id })).await;
    let random = acme.owner.gql(node, json!({ "id": random_level_id })).await;
    assert_eq!(own.data()["node"]["onHand"], 7, "a stock level is a Node");
    assert_eq!((foreign.data(), foreign.errors()), (random.data(), random.errors()), "node(StockLevel)");
    assert_eq!(foreign.data()["node"], Value::Null);
}

#[tokio::test]
async fn a_page_of_products_shows_its_stock_and_filters_low_stock() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let s = stocked(&shop).await;
    let mug = shop.owner.create_product("MUG-1", "Mug", "4.00").await;
    shop.owner.receive_stock(&s.product, &s.main, 8).await;
    shop.owner.receive_stock(&s.product, &s.backup, 4).await;
    shop.owner.receive_stock(&mug, &s.main, 2).await;
    let (customer, _) = shop.member("CUSTOMER", "buyer@acme.test").await;
    let page = "query($below: Int) { products(first: 100, filter: { availableBelow: $below }) { edges { node { sku stockLevels { onHand available } } } } }";

    let all = shop.owner.gql(page, json!({})).await;
    let low = shop.owner.gql(page, json!({ "below": 5 })).await;
    let customer_low = customer.gql(page, json!({ "below": 5 })).await;

    let totals: Vec<i64> = all
        .nodes("products")
        .iter()
        .map(|product| {
            let levels = product["stockLevels"].as_array().unwrap_or_else(|| panic!("no stockLevels: {}", all.text));
            levels.iter().map(|l| l["available"].as_i64().unwrap_or_else(|| panic!("no available: {}", all.text))).sum()
        })
        .collect();
    let skus_and_totals: Vec<(String, i64)> = all.node_strings("products", "sku").into_iter().zip(totals).collect();
    assert_eq!(skus_and_totals, [("TEE-1".to_owned(), 12), ("MUG-1".to_owned(), 2)]);
    assert_eq!(
        low.data()["products"]["edges"],
        json!([{ "node": { "sku": "MUG-1", "stockLevels": [{ "onHand": 2, "available": 2 }] } }])
    );
    assert_eq!(customer_low.error_code(), Some("FORBIDDEN"), "filtering by stock reveals stock");
}

#[tokio::test]
async fn a_page_reads_stock_however_the_query_selects_it_and_refuses_levels_product_by_product() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let s = stocked(&shop).await;
    let mug = shop.owner.create_product("MUG-1", "Mug", "4.00").await;
    shop.owner.receive_stock(&s.product, &s.main, 8).await;
    shop.owner.receive_stock(&s.product, &s.backup, 4).await;
    shop.owner.receive_stock(&mug, &s.main, 2).await;
    shop.owner.create_product("CAP-1", "Cap", "3.00").await;
    let (customer, _) = shop.member("CUSTOMER", "buyer@acme.test").await;
    let by_nodes = "{ products(first: 10, sortKey: SKU) { nodes { sku availableQuantity stockLevels { onHand } } } }";
    let by_fragment = "{ products(first: 10, sortKey: SKU) { edges { node { ...Stock } } } }
        fragment Stock on Product { sku availableQuantity stockLevels { onHand } }";
    let by_inline = "{ products(first: 10, sortKey: SKU) { edges { node { ... on Product { sku availableQuantity stockLevels { onHand } } } } } }";
    let levels_only = "{ products(first: 10, sortKey: SKU) { edges { node { sku stockLevels { onHand } } } } }";

    let expected = json!([
        { "sku": "CAP-1", "availableQuantity": 0, "stockLevels": [] },
        { "sku": "MUG-1", "availableQuantity": 2, "stockLevels": [{ "onHand": 2 }] },
        { "sku": "TEE-1", "availableQuantity": 12, "stockLevels": [{ "onHand": 8 }, { "onHand": 4 }] },
    ]);
    for document in [by_nodes, by_fragment, by_inline] {
        let answer = shop.owner.gql(document, json!({})).await;
        let listed = answer.data()["products"]["nodes"].as_array().cloned();
        let mut found = Value::Array(listed.unwrap_or_else(|| answer.nodes("products")));
        for product in found.as_array_mut().into_iter().flatten() {
            if let Some(levels) = product["stockLevels"].as_array_mut() {
                levels.sort_by_key(|level| std::cmp::Reverse(level["onHand"].as_i64()));
            }
        }
        assert_eq!(found, expected, "{document}: {}", answer.text);
    }

    // A customer may see what is available, not where: each product's `stockLevels` is refused
    // on its own, with its path.
    let refused = customer.gql(levels_only, json!({})).await;
    let errors = refused.errors();
    assert_eq!(errors.len(), 3, "one error per product: {}", refused.text);
    for (n, error) in errors.iter().enumerate() {
        assert_eq!(error["extensions"]["code"], "FORBIDDEN", "{}", refused.text);
        assert_eq!(error["path"], json!(["products", "edges", n, "node", "stockLevels"]), "{}", refused.text);
    }
    let available =
        customer.gql("{ products(first: 10, sortKey: SKU) { nodes { sku availableQuantity } } }", json!({})).await;
    assert_eq!(available.data()["products"]["nodes"][2], json!({ "sku": "TEE-1", "availableQuantity": 12 }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idempotency_key_applies_a_change_once_however_often_and_concurrently_it_is_sent() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let s = stocked(&shop).await;
    let receive = |key: &str, quantity: i64| json!({ "input": { "productId": s.product, "locationId": s.main, "quantity": quantity, "idempotencyKey": key } });

    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (owner, body) = (shop.owner.clone(), receive("delivery-0001", 10));
        senders.spawn(async move { owner.gql(RECEIVE, body).await });
    }
    let answers = senders.join_all().await;
    let replay = shop.owner.gql(RECEIVE, receive("delivery-0001", 10)).await;
    let reused = shop.owner.gql(RECEIVE, receive("delivery-0001", 11)).await;
    let other_operation = shop.owner.gql(ADJUST, json!({ "input": { "productId": s.product, "locationId": s.main, "delta": -1, "reason": "ADJUSTED", "idempotencyKey": "delivery-0001" } })).await;
    let bad_key = shop.owner.gql(RECEIVE, receive("has a space", 1)).await;

    for answer in &answers {
        assert_eq!(
            answer.data()["receiveStock"]["stockLevel"],
            json!({ "onHand": 10, "reserved": 0, "available": 10 }),
            "{}",
            answer.text
        );
    }
    assert_eq!(replay.data()["receiveStock"]["stockLevel"]["onHand"], 10, "a replay answers as the first did");
    assert_eq!(reused.error_code(), Some("IDEMPOTENCY_KEY_REUSED"));
    assert_eq!(other_operation.data()["adjustStock"]["stockLevel"]["onHand"], 9, "keys are per operation");
    assert_eq!(bad_key.data()["receiveStock"]["userErrors"][0]["field"], json!(["idempotencyKey"]));
    let ledger = shop.owner.gql(LEDGER, json!({ "p": s.product, "l": s.main })).await;
    let received = ledger.nodes("stockMovements").iter().filter(|n| n["reason"] == "RECEIVED").count();
    assert_eq!(received, 1, "twenty sends, one movement");
    assert_eq!(shop.owner.stock_level(&s.product, &s.main).await["onHand"], 9);
}
