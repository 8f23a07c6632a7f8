//! Races a careful reviewer would run against a shop: revoking an API key while it is in use,
//! opposite stock transfers of one product. Each race is run with many real tasks released
//! together.

use std::sync::Arc;

use keel_tests::{Client, GqlResponse, TestApp};
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

/// How many times each race is run: one run can miss a window that a few runs hit.
const ROUNDS: usize = 8;
/// Requests using a key while it is revoked, per round.
const USES_PER_ROUND: usize = 30;
/// Transfers in each direction.
const TRANSFERS_EACH_WAY: usize = 50;

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
