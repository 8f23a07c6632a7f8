//! Races a careful reviewer would run against a shop: revoking an API key while it is in use.
//! Each race is run with many real tasks released together.

use std::sync::Arc;

use keel_tests::{GqlResponse, TestApp};
use serde_json::json;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

const ME: &str = "{ me { apiKey { name } } }";
const REVOKE_KEY: &str = "mutation($id: ID!) { revokeApiKey(input: { apiKeyId: $id }) { apiKey { active } } }";
const API_KEYS: &str = "{ apiKeys(first: 100) { edges { node { id active revokedAt } } } }";

/// How many times each race is run: one run can miss a window that a few runs hit.
const ROUNDS: usize = 8;
/// Requests using a key while it is revoked, per round.
const USES_PER_ROUND: usize = 30;

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
