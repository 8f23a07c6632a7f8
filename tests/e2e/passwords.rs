//! Password checks under attack: login throttling that counts before it hashes and cannot be
//! raced, that strangers cannot turn against an account's owner, bounded password hashing, and
//! inputs refused by their length before they are counted, hashed, logged or echoed.
//!
//! Client addresses are simulated the way a proxy in front of Keel reports them: the server
//! trusts `X-Forwarded-For` from loopback, where the tests connect from.

use std::collections::BTreeMap;

use keel_tests::{PASSWORD, TestApp, TestDatabase};
use serde_json::{Value, json};

/// Attempts one account may get from one address per window (domain's `PAIR_ATTEMPTS`).
const PAIR_ATTEMPTS: usize = 5;
/// Attempts one address may make per window (domain's `ADDRESS_ATTEMPTS`).
const ADDRESS_ATTEMPTS: usize = 20;
/// Attempts one account may get per hour from addresses it never signed in from (domain's
/// `ACCOUNT_ATTEMPTS`).
const ACCOUNT_ATTEMPTS: usize = 100;
const TRUST_PROXY: [&str; 2] = ["--trust-forwarded-for", "true"];
const OWNER: &str = "owner@acme.test";

/// One `login` of a request: tenant slug, email, password.
type Login = (String, String, String);

fn login(slug: &str, email: &str, password: &str) -> Login {
    (slug.to_owned(), email.to_owned(), password.to_owned())
}

/// One request of aliased logins (`l0`, `l1`, …), from `client` (an `X-Forwarded-For` entry)
/// or, without one, from the test's own address.
struct Request {
    client: Option<String>,
    logins: Vec<Login>,
}

impl Request {
    fn from(client: &str, logins: Vec<Login>) -> Request {
        Request { client: Some(client.to_owned()), logins }
    }

    fn direct(logins: Vec<Login>) -> Request {
        Request { client: None, logins }
    }

    fn body(&self) -> Value {
        let variables: Vec<String> = (0..self.logins.len()).map(|i| format!("$i{i}: LoginInput!")).collect();
        let fields: Vec<String> = (0..self.logins.len())
            .map(|i| format!("l{i}: login(input: $i{i}) {{ accessToken userErrors {{ field code }} }}"))
            .collect();
        let inputs: serde_json::Map<String, Value> = self
            .logins
            .iter()
            .enumerate()
            .map(|(i, (slug, email, password))| {
                (format!("i{i}"), json!({ "tenantSlug": slug, "email": email, "password": password }))
            })
            .collect();
        json!({
            "query": format!("mutation({}) {{ {} }}", variables.join(", "), fields.join(" ")),
            "variables": inputs,
        })
    }
}

/// The answer to each login of a request: `SIGNED_IN`, its `userErrors` code, or its error code
/// with `retryAfter`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    code: String,
    field: Value,
    retry_after: Option<u64>,
}

fn outcomes(request: &Request, body: &Value) -> Vec<Outcome> {
    (0..request.logins.len())
        .map(|i| {
            let alias = format!("l{i}");
            let payload = &body["data"][&alias];
            if payload["accessToken"].is_string() {
                return Outcome { code: "SIGNED_IN".into(), field: Value::Null, retry_after: None };
            }
            if let Some(code) = payload["userErrors"][0]["code"].as_str() {
                return Outcome {
                    code: code.into(),
                    field: payload["userErrors"][0]["field"].clone(),
                    retry_after: None,
                };
            }
            let error =
                body["errors"].as_array().into_iter().flatten().find(|error| error["path"][0] == alias.as_str());
            Outcome {
                code: error.and_then(|e| e["extensions"]["code"].as_str()).unwrap_or("NO ANSWER").into(),
                field: Value::Null,
                retry_after: error.and_then(|e| e["extensions"]["retryAfter"].as_u64()),
            }
        })
        .collect()
}

/// Sends every request at once and returns each login's outcome, in no particular order.
async fn concurrently(app: &TestApp, requests: Vec<Request>) -> Vec<Outcome> {
    let mut senders = tokio::task::JoinSet::new();
    for request in requests {
        let (http, url) = (app.client.clone(), app.url("/graphql"));
        senders.spawn(async move {
            let mut post = http.post(url).json(&request.body());
            if let Some(client) = &request.client {
                post = post.header("x-forwarded-for", client);
            }
            let body: Value = post.send().await.expect("sent").json().await.expect("a JSON answer");
            outcomes(&request, &body)
        });
    }
    senders.join_all().await.into_iter().flatten().collect()
}

async fn one(app: &TestApp, request: Request) -> Outcome {
    let answers = concurrently(app, vec![request]).await;
    answers.into_iter().next().expect("one login")
}

/// How many logins ended with each code.
fn tally(outcomes: &[Outcome]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for outcome in outcomes {
        *counts.entry(outcome.code.as_str()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_guesses_at_one_account_get_five_password_checks() {
    let app = TestApp::spawn().await;
    app.shop("acme").await;

    let guesses = (0..200).map(|n| Request::direct(vec![login("acme", OWNER, &format!("guess number {n}"))])).collect();
    let answers = concurrently(&app, guesses).await;

    let expected = BTreeMap::from([("INVALID_CREDENTIALS", PAIR_ATTEMPTS), ("RATE_LIMITED", 200 - PAIR_ATTEMPTS)]);
    assert_eq!(tally(&answers), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_from_one_address_are_counted_before_hashing_unknown_tenants_included() {
    let app = TestApp::spawn().await;
    app.shop("acme").await;

    let probes = (0..60).map(|n| Request::direct(vec![login(&format!("nowhere-{n}"), OWNER, PASSWORD)])).collect();
    let answers = concurrently(&app, probes).await;
    let owner = one(&app, Request::direct(vec![login("acme", OWNER, PASSWORD)])).await;

    let expected = BTreeMap::from([("INVALID_CREDENTIALS", ADDRESS_ATTEMPTS), ("RATE_LIMITED", 60 - ADDRESS_ATTEMPTS)]);
    assert_eq!(tally(&answers), expected);
    assert_eq!(owner.code, "RATE_LIMITED", "the address used up its attempts: {owner:?}");
}

#[tokio::test]
async fn a_stranger_failing_from_one_address_does_not_lock_the_owner_out_of_another() {
    let app = TestApp::spawn_with(TestDatabase::create().await, &TRUST_PROXY).await;
    app.shop("acme").await;
    let stranger = "203.0.113.7";

    for n in 0..PAIR_ATTEMPTS {
        let guess = one(&app, Request::from(stranger, vec![login("acme", OWNER, &format!("guess {n}"))])).await;
        assert_eq!(guess.code, "INVALID_CREDENTIALS");
    }
    let stranger_again = one(&app, Request::from(stranger, vec![login("acme", OWNER, PASSWORD)])).await;
    let owner = one(&app, Request::from("198.51.100.20", vec![login("acme", OWNER, PASSWORD)])).await;

    assert_eq!(stranger_again.code, "RATE_LIMITED", "even with the right password: {stranger_again:?}");
    assert!(stranger_again.retry_after.is_some_and(|s| (1..=900).contains(&s)), "{stranger_again:?}");
    assert_eq!(owner.code, "SIGNED_IN", "{owner:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_guessed_from_many_addresses_refuses_new_ones_but_not_where_its_owner_signed_in() {
    let app = TestApp::spawn_with(TestDatabase::create().await, &TRUST_PROXY).await;
    app.shop("acme").await;
    let home = "198.51.100.20";
    let first = one(&app, Request::from(home, vec![login("acme", OWNER, PASSWORD)])).await;
    assert_eq!(first.code, "SIGNED_IN", "{first:?}");

    let guesses = (0..ACCOUNT_ATTEMPTS / PAIR_ATTEMPTS)
        .map(|a| {
            let guesses = (0..PAIR_ATTEMPTS).map(|n| login("acme", OWNER, &format!("guess {a}.{n}"))).collect();
            Request::from(&format!("203.0.113.{a}"), guesses)
        })
        .collect();
    let answers = concurrently(&app, guesses).await;
    let new_address = one(&app, Request::from("192.0.2.50", vec![login("acme", OWNER, PASSWORD)])).await;
    let owner = one(&app, Request::from(home, vec![login("acme", OWNER, PASSWORD)])).await;

    assert_eq!(tally(&answers), BTreeMap::from([("INVALID_CREDENTIALS", ACCOUNT_ATTEMPTS)]));
    assert_eq!(new_address.code, "RATE_LIMITED", "the account used up its hour: {new_address:?}");
    assert!(new_address.retry_after.is_some_and(|s| (900..=3600).contains(&s)), "{new_address:?}");
    assert_eq!(owner.code, "SIGNED_IN", "the owner's own address still signs in: {owner:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_checks_beyond_the_hashing_slots_queue_then_answer_rate_limited_while_others_are_served() {
    let limits = ["--password-hash-concurrency", "1", "--password-hash-queue-timeout", "1"];
    let app = TestApp::spawn_with(TestDatabase::create().await, &[&TRUST_PROXY[..], &limits[..]].concat()).await;
    let shop = app.shop("acme").await;

    // 200 clients, five aliased logins each, to tenants that do not exist: none is throttled
    // (each client and account is fresh), so every login asks for a hash. With 200 waiting
    // for one slot, a hash would have to take under 5 ms for none to wait a whole second.
    let flood: Vec<Request> = (0..200)
        .map(|c| {
            let logins = (0..5).map(|n| login(&format!("nowhere-{c}-{n}"), OWNER, "wrong password")).collect();
            Request::from(&format!("203.0.113.{c}"), logins)
        })
        .collect();
    let (answers, me) =
        tokio::join!(concurrently(&app, flood), shop.owner.gql("{ me { member { email } } }", json!({})));

    assert_eq!(me.data()["me"]["member"]["email"], OWNER, "{}", me.text);
    let counts = tally(&answers);
    assert_eq!(counts.keys().copied().collect::<Vec<_>>(), ["INVALID_CREDENTIALS", "RATE_LIMITED"], "{counts:?}");
    let refused: Vec<&Outcome> = answers.iter().filter(|a| a.code == "RATE_LIMITED").collect();
    assert!(refused.iter().all(|a| a.retry_after == Some(1)), "retry after the queue timeout: {refused:?}");
}

#[tokio::test]
async fn oversized_login_input_is_refused_before_it_is_counted_hashed_or_logged() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let long_password = "p".repeat(100_000);
    let long_email = format!("{}@acme.test", "a".repeat(300));
    let long_slug = "s".repeat(64);

    let mut refused = Vec::new();
    for _ in 0..ADDRESS_ATTEMPTS + 5 {
        refused.push(one(&app, Request::direct(vec![login("acme", OWNER, &long_password)])).await);
    }
    let email = one(&app, Request::direct(vec![login("acme", &long_email, PASSWORD)])).await;
    let slug = one(&app, Request::direct(vec![login(&long_slug, OWNER, PASSWORD)])).await;
    let owner = one(&app, Request::direct(vec![login("acme", OWNER, PASSWORD)])).await;
    let log = shop.owner.gql("{ auditLog(first: 100) { edges { node { action subject } } } }", json!({})).await;

    let too_long = |field: &str| Outcome { code: "TOO_LONG".into(), field: json!([field]), retry_after: None };
    assert!(refused.iter().all(|outcome| *outcome == too_long("password")), "{:?}", refused[0]);
    assert_eq!(email, too_long("email"));
    assert_eq!(slug, too_long("tenantSlug"));
    assert_eq!(owner.code, "SIGNED_IN", "nothing was counted: {owner:?}");
    let failures = log.edges("auditLog").into_iter().filter(|edge| edge["node"]["action"] == "LOGIN_FAILED").count();
    assert_eq!(failures, 0, "{}", log.text);
}

#[tokio::test]
async fn other_oversized_inputs_are_refused_without_being_echoed() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let long = "Q".repeat(10_000);

    let search = shop
        .owner
        .gql(
            "query($s: String!) { products(first: 5, filter: { search: $s }) { edges { cursor } } }",
            json!({ "s": "x".repeat(201) }),
        )
        .await;
    let id = shop.owner.gql("query($id: ID!) { product(id: $id) { sku } }", json!({ "id": long })).await;
    let created = shop
        .owner
        .gql(
            "mutation($input: CreateProductInput!) { createProduct(input: $input) { product { id } userErrors { field code message } } }",
            json!({ "input": { "sku": "TEE", "name": "Tee", "price": { "amount": long, "currencyCode": long } } }),
        )
        .await;

    assert_eq!(search.error_code(), Some("BAD_USER_INPUT"), "{}", search.text);
    assert_eq!(id.error_code(), Some("BAD_USER_INPUT"), "{}", id.text);
    assert!(!created.user_errors("createProduct").is_empty(), "{}", created.text);
    for answer in [&search, &id, &created] {
        assert!(answer.text.len() < 2_000, "the long input came back: {}…", &answer.text[..200]);
    }
}
