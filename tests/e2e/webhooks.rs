//! Managing webhook endpoints through GraphQL: registering one shows its `whsec_` secret once
//! and never again (no field can read it back); invalid input and targets the SSRF guard refuses
//! are `INVALID` user errors on the field at fault; endpoints are updated, disabled, enabled,
//! their secrets rotated with a grace period, and deleted; only holders of `webhooks:manage`
//! (owners, admins, API keys granted it) may do any of it. Deliveries are in
//! `webhook_delivery.rs`.
//!
//! These servers send nothing (`--webhook-worker false`), and no test here makes an event, so
//! no endpoint registered here is ever contacted.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keel_tests::{
    Client, ENDPOINT_FIELDS, GqlResponse, PRODUCTION_JWT_SECRET, TestApp, TestDatabase, WEBHOOK_EVENT_TYPES, unknown_id,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Private targets allowed (so 127.0.0.1 URLs register), nothing ever sent.
const MANAGING: [&str; 4] = ["--webhook-allow-private", "true", "--webhook-worker", "false"];
/// The default target policy, nothing ever sent.
const DEFAULT_POLICY: [&str; 2] = ["--webhook-worker", "false"];
/// A registrable URL under [`MANAGING`]: nothing listens there, and nothing is sent.
const LOCAL_URL: &str = "http://127.0.0.1:9/hook";
/// A public address, accepted by the default policy without a DNS lookup. Nothing is ever sent
/// to it: these servers' workers are off and no test here makes an event.
const PUBLIC_URL: &str = "https://93.184.215.14/keel-hooks";
/// How far a time the server sets may be from the test's clock.
const CLOCK_SLACK: time::Duration = time::Duration::minutes(2);

const UPDATE: &str = "mutation($input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $input) {
    endpoint { id url eventTypes description status updatedAt } userErrors { field code message } } }";
const DISABLE: &str = "mutation($id: ID!) { disableWebhookEndpoint(input: { endpointId: $id }) {
    endpoint { id status } userErrors { field code message } } }";
const ENABLE: &str = "mutation($id: ID!) { enableWebhookEndpoint(input: { endpointId: $id }) {
    endpoint { id status } userErrors { field code message } } }";
const ROTATE: &str = "mutation($input: RotateWebhookSecretInput!) { rotateWebhookSecret(input: $input) {
    endpoint { id previousSecretExpiresAt } secret userErrors { field code message } } }";
const DELETE: &str = "mutation($id: ID!) { deleteWebhookEndpoint(input: { endpointId: $id }) {
    deletedEndpointId userErrors { field code message } } }";
const DELIVERIES: &str = "query($id: ID!) { webhookDeliveries(endpointId: $id, first: 10) { edges { node { id } } } }";
const EVENT_TYPES: &str = "{ webhookEventTypes }";

async fn spawn(args: &[&str]) -> TestApp {
    TestApp::spawn_with(TestDatabase::create().await, args).await
}

/// The `(field, code)` of each of `field`'s user errors, sorted (the order they are reported in
/// is not part of the contract).
fn refusals(answer: &GqlResponse, field: &str) -> Refusals {
    let mut found: Vec<_> = answer.user_errors(field).iter().map(|e| (e["field"].clone(), e["code"].clone())).collect();
    found.sort_by_key(|(field, code)| format!("{field}{code}"));
    found
}

/// User errors as `(field, code)` pairs.
type Refusals = Vec<(Value, Value)>;

/// One `INVALID` user error on the input field at `path`.
fn invalid(path: &[&str]) -> (Value, Value) {
    (json!(path), json!("INVALID"))
}

/// Parses a `DateTime` the API answered.
fn time_of(value: &Value) -> OffsetDateTime {
    let text = value.as_str().unwrap_or_else(|| panic!("not a DateTime: {value}"));
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|err| panic!("{text} is not RFC 3339: {err}"))
}

/// Asserts `at` is `expected` give or take [`CLOCK_SLACK`].
fn assert_near(at: OffsetDateTime, expected: OffsetDateTime, what: &str) {
    assert!((at - expected).abs() <= CLOCK_SLACK, "{what} is {at}, expected about {expected}");
}

/// Asserts `secret` is a Standard Webhooks secret: `whsec_` and the base64 of 24 to 64 bytes.
fn assert_secret(secret: &str) {
    let key = secret.strip_prefix("whsec_").unwrap_or_else(|| panic!("{secret} does not start with whsec_"));
    let bytes = STANDARD.decode(key).unwrap_or_else(|err| panic!("{secret} is not whsec_ + base64: {err}"));
    assert!((24..=64).contains(&bytes.len()), "a {}-byte key: {secret}", bytes.len());
}

/// `updateWebhookEndpoint` of endpoint `id` with the other fields of `input`.
async fn update(client: &Client, id: &str, mut input: Value) -> GqlResponse {
    input["endpointId"] = json!(id);
    client.gql(UPDATE, json!({ "input": input })).await
}

/// Endpoint `id` as `node` reads it, every field.
async fn read_endpoint(client: &Client, id: &str) -> GqlResponse {
    let document = format!("query($id: ID!) {{ node(id: $id) {{ ... on WebhookEndpoint {{ {ENDPOINT_FIELDS} }} }} }}");
    client.gql(&document, json!({ "id": id })).await
}

/// Every endpoint of the caller's shop, every field, first page of 100.
async fn list_endpoints(client: &Client) -> GqlResponse {
    let document = format!("{{ webhookEndpoints(first: 100) {{ edges {{ node {{ {ENDPOINT_FIELDS} }} }} }} }}");
    client.gql(&document, json!({})).await
}

/// The names of the fields of GraphQL type `name`.
async fn field_names(app: &TestApp, name: &str) -> Vec<String> {
    let answer =
        app.gql("query($name: String!) { __type(name: $name) { fields { name } } }", json!({ "name": name })).await;
    let fields = answer.data()["__type"]["fields"].as_array().cloned();
    let fields = fields.unwrap_or_else(|| panic!("no type {name}: {}", answer.text));
    fields.iter().map(|field| field["name"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn registering_an_endpoint_shows_its_secret_once_and_never_again() {
    let app = spawn(&MANAGING).await;
    let shop = app.shop("acme").await;
    let input = json!({ "url": LOCAL_URL, "eventTypes": ["stock.changed", "order.placed"], "description": "ERP sync" });

    let created = shop.owner.try_create_webhook_endpoint(input).await;
    let second = shop.owner.create_webhook_endpoint("http://127.0.0.1:9/other", &["order.paid"]).await;
    let now = OffsetDateTime::now_utc();

    created.assert_accepted("createWebhookEndpoint");
    let secret = created.expect_str("/data/createWebhookEndpoint/secret");
    let endpoint = created.data()["createWebhookEndpoint"]["endpoint"].clone();
    let id = created.expect_str("/data/createWebhookEndpoint/endpoint/id");
    assert_secret(&secret);
    assert_secret(&second.secret);
    assert_ne!(secret, second.secret, "every endpoint has its own secret");
    assert_eq!(endpoint["url"], LOCAL_URL, "{}", created.text);
    assert_eq!(sorted(&endpoint["eventTypes"]), ["order.placed", "stock.changed"], "{}", created.text);
    assert_eq!(endpoint["description"], "ERP sync");
    assert_eq!(endpoint["status"], "ENABLED");
    assert_eq!(endpoint["previousSecretExpiresAt"], Value::Null, "no rotation yet");
    assert_near(time_of(&endpoint["createdAt"]), now, "createdAt");
    assert!(time_of(&endpoint["updatedAt"]) >= time_of(&endpoint["createdAt"]), "{endpoint}");
    assert_eq!(second.endpoint["description"], "", "the description defaults to empty: {}", second.endpoint);

    // Read back every way there is: the endpoint as created, and no trace of either secret.
    let by_node = read_endpoint(&shop.owner, &id).await;
    let listed = list_endpoints(&shop.owner).await;
    assert_eq!(by_node.data()["node"], endpoint, "{}", by_node.text);
    let listed_nodes = listed.nodes("webhookEndpoints");
    assert_eq!(listed_nodes.len(), 2, "{}", listed.text);
    assert!(listed_nodes.contains(&endpoint), "{}", listed.text);
    assert!(listed_nodes.contains(&second.endpoint), "{}", listed.text);
    for answer in [&by_node, &listed] {
        for shown in [&secret, &second.secret] {
            let key = &shown["whsec_".len()..];
            assert!(!answer.text.contains(key), "a secret was read back: {}", answer.text);
        }
    }
    // And no field could read it: the only secret-named field is the rotation's expiry.
    let endpoint_fields = field_names(&app, "WebhookEndpoint").await;
    for expected in ENDPOINT_FIELDS.split(' ') {
        assert!(endpoint_fields.iter().any(|name| name == expected), "WebhookEndpoint has no {expected}");
    }
    for type_name in ["WebhookEndpoint", "WebhookDelivery", "WebhookAttempt"] {
        let secretive: Vec<String> = field_names(&app, type_name)
            .await
            .into_iter()
            .filter(|name| name.to_lowercase().contains("secret") && name != "previousSecretExpiresAt")
            .collect();
        assert!(secretive.is_empty(), "{type_name} exposes {secretive:?}");
    }
}

/// The strings of a JSON list, sorted.
fn sorted(list: &Value) -> Vec<String> {
    let mut items: Vec<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| item.as_str().unwrap_or_else(|| panic!("not a string: {item}")).to_owned())
        .collect();
    items.sort();
    items
}

#[tokio::test]
async fn invalid_urls_and_event_types_are_refused_field_by_field() {
    let app = spawn(&MANAGING).await;
    let shop = app.shop("acme").await;
    let long_url = format!("http://127.0.0.1:9/{}", "a".repeat(2100));
    let cases: [(&str, Value, Refusals); 10] = [
        (
            "an ftp URL",
            json!({ "url": "ftp://127.0.0.1/hook", "eventTypes": ["order.placed"] }),
            vec![invalid(&["url"])],
        ),
        (
            "credentials in the URL",
            json!({ "url": "http://user:secret@127.0.0.1:9/hook", "eventTypes": ["order.placed"] }),
            vec![invalid(&["url"])],
        ),
        ("not a URL", json!({ "url": "not a url", "eventTypes": ["order.placed"] }), vec![invalid(&["url"])]),
        ("a relative URL", json!({ "url": "/hook", "eventTypes": ["order.placed"] }), vec![invalid(&["url"])]),
        ("an empty URL", json!({ "url": "", "eventTypes": ["order.placed"] }), vec![invalid(&["url"])]),
        (
            "a URL over 2048 characters",
            json!({ "url": long_url, "eventTypes": ["order.placed"] }),
            vec![invalid(&["url"])],
        ),
        (
            "an unknown event type",
            json!({ "url": LOCAL_URL, "eventTypes": ["order.placed", "order.exploded"] }),
            vec![invalid(&["eventTypes", "1"])],
        ),
        ("no event type", json!({ "url": LOCAL_URL, "eventTypes": [] }), vec![invalid(&["eventTypes"])]),
        (
            "a type in the wrong case",
            json!({ "url": LOCAL_URL, "eventTypes": ["ORDER.PLACED"] }),
            vec![invalid(&["eventTypes", "0"])],
        ),
        (
            "a bad URL and a bad type at once",
            json!({ "url": "ftp://127.0.0.1/hook", "eventTypes": ["nope"] }),
            vec![invalid(&["eventTypes", "0"]), invalid(&["url"])],
        ),
    ];

    for (case, input, expected) in cases {
        let answer = shop.owner.try_create_webhook_endpoint(input).await;

        assert!(answer.errors().is_empty(), "{case}: {}", answer.text);
        assert_eq!(refusals(&answer, "createWebhookEndpoint"), expected, "{case}: {}", answer.text);
        assert_eq!(answer.data()["createWebhookEndpoint"]["endpoint"], Value::Null, "{case}");
        assert_eq!(answer.data()["createWebhookEndpoint"]["secret"], Value::Null, "{case}: no secret for nothing");
        for error in answer.user_errors("createWebhookEndpoint") {
            assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{case}: says why: {error}");
        }
    }
    let listed = list_endpoints(&shop.owner).await;
    assert!(listed.nodes("webhookEndpoints").is_empty(), "nothing was registered: {}", listed.text);
}

#[tokio::test]
async fn by_default_loopback_private_link_local_and_metadata_targets_are_refused() {
    let app = spawn(&DEFAULT_POLICY).await;
    let shop = app.shop("acme").await;
    let refused = [
        "http://127.0.0.1:9/hook",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://127.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::1]/",
        "http://0.0.0.0/",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://[fd00::1]/",
        "http://[fe80::1]/",
    ];

    for url in refused {
        let answer =
            shop.owner.try_create_webhook_endpoint(json!({ "url": url, "eventTypes": ["order.placed"] })).await;

        assert_eq!(refusals(&answer, "createWebhookEndpoint"), [invalid(&["url"])], "{url}: {}", answer.text);
        let message = answer.user_errors("createWebhookEndpoint")[0]["message"].as_str().unwrap_or_default().to_owned();
        assert!(!message.is_empty(), "{url}: the refusal says why: {}", answer.text);
        assert_eq!(answer.data()["createWebhookEndpoint"]["endpoint"], Value::Null, "{url}");
    }
    // A public address is accepted, and an update cannot point it somewhere private.
    let public = shop.owner.create_webhook_endpoint(PUBLIC_URL, &["order.placed"]).await;
    let moved =
        shop.owner.gql(UPDATE, json!({ "input": { "endpointId": public.id, "url": "http://10.1.2.3/" } })).await;
    assert_eq!(refusals(&moved, "updateWebhookEndpoint"), [invalid(&["url"])], "{}", moved.text);
    let kept = read_endpoint(&shop.owner, &public.id).await;
    assert_eq!(kept.data()["node"]["url"], PUBLIC_URL, "{}", kept.text);
    let listed = list_endpoints(&shop.owner).await;
    assert_eq!(listed.node_strings("webhookEndpoints", "url"), [PUBLIC_URL], "only the public one is registered");
}

#[tokio::test]
async fn production_refuses_to_start_with_private_targets_allowed() {
    let database = TestDatabase::create().await;
    database.keel(&["migrate", "up"]).await;
    let production = ["--env", "production", "--jwt-secret", PRODUCTION_JWT_SECRET];

    let allowed = TestApp::build(&database, &[&production[..], &["--webhook-allow-private", "true"]].concat()).await;
    let plain = TestApp::build(&database, &production).await;

    let message = match allowed {
        Ok(_) => panic!("production started with private webhook targets allowed"),
        Err(err) => format!("{err:#}"),
    };
    assert!(message.contains("KEEL_WEBHOOK_ALLOW_PRIVATE"), "names the setting: {message}");
    assert!(plain.is_ok(), "the same production setup starts without it");
}

#[tokio::test]
async fn an_endpoint_is_updated_disabled_enabled_and_deleted() {
    let app = spawn(&MANAGING).await;
    let shop = app.shop("acme").await;
    let endpoint = shop.owner.create_webhook_endpoint(LOCAL_URL, &["order.placed"]).await;
    let owner = &shop.owner;
    let id = endpoint.id.as_str();

    let moved = update(owner, id, json!({ "url": "http://127.0.0.1:9/moved" })).await;
    let retyped =
        update(owner, id, json!({ "eventTypes": ["order.paid", "refund.failed"], "description": "books" })).await;
    let bad_type = update(owner, id, json!({ "eventTypes": ["order.paid", "nope"] })).await;
    let bad_url = update(owner, id, json!({ "url": "ftp://127.0.0.1/hook" })).await;
    let no_types = update(owner, id, json!({ "eventTypes": [] })).await;
    let after_refusals = read_endpoint(owner, &endpoint.id).await;

    let moved_endpoint = &moved.assert_accepted("updateWebhookEndpoint").data()["updateWebhookEndpoint"]["endpoint"];
    assert_eq!(moved_endpoint["url"], "http://127.0.0.1:9/moved");
    assert_eq!(sorted(&moved_endpoint["eventTypes"]), ["order.placed"], "untouched fields stay");
    assert_eq!(moved_endpoint["description"], "");
    assert!(time_of(&moved_endpoint["updatedAt"]) >= time_of(&endpoint.endpoint["updatedAt"]));
    let retyped_endpoint =
        &retyped.assert_accepted("updateWebhookEndpoint").data()["updateWebhookEndpoint"]["endpoint"];
    assert_eq!(sorted(&retyped_endpoint["eventTypes"]), ["order.paid", "refund.failed"]);
    assert_eq!(retyped_endpoint["description"], "books");
    assert_eq!(retyped_endpoint["url"], "http://127.0.0.1:9/moved", "untouched fields stay");
    assert_eq!(refusals(&bad_type, "updateWebhookEndpoint"), [invalid(&["eventTypes", "1"])], "{}", bad_type.text);
    assert_eq!(refusals(&bad_url, "updateWebhookEndpoint"), [invalid(&["url"])], "{}", bad_url.text);
    assert_eq!(refusals(&no_types, "updateWebhookEndpoint"), [invalid(&["eventTypes"])], "{}", no_types.text);
    let kept = &after_refusals.data()["node"];
    assert_eq!(
        (&kept["url"], sorted(&kept["eventTypes"]), &kept["description"]),
        (
            &json!("http://127.0.0.1:9/moved"),
            vec!["order.paid".to_owned(), "refund.failed".to_owned()],
            &json!("books")
        ),
        "a refused update changes nothing: {}",
        after_refusals.text
    );

    let disabled = owner.gql(DISABLE, json!({ "id": endpoint.id })).await;
    let read_disabled = read_endpoint(owner, &endpoint.id).await;
    let enabled = owner.gql(ENABLE, json!({ "id": endpoint.id })).await;
    let read_enabled = read_endpoint(owner, &endpoint.id).await;
    assert_eq!(
        disabled.assert_accepted("disableWebhookEndpoint").data()["disableWebhookEndpoint"]["endpoint"]["status"],
        "DISABLED"
    );
    assert_eq!(read_disabled.data()["node"]["status"], "DISABLED", "{}", read_disabled.text);
    assert_eq!(
        enabled.assert_accepted("enableWebhookEndpoint").data()["enableWebhookEndpoint"]["endpoint"]["status"],
        "ENABLED"
    );
    assert_eq!(read_enabled.data()["node"]["status"], "ENABLED", "{}", read_enabled.text);

    let deleted = owner.gql(DELETE, json!({ "id": endpoint.id })).await;
    assert_eq!(
        deleted.assert_accepted("deleteWebhookEndpoint").data()["deleteWebhookEndpoint"]["deletedEndpointId"],
        endpoint.id
    );
    let gone = read_endpoint(owner, &endpoint.id).await;
    assert_eq!(gone.data()["node"], Value::Null, "{}", gone.text);
    let listed = list_endpoints(owner).await;
    assert!(listed.nodes("webhookEndpoints").is_empty(), "{}", listed.text);
    let deliveries = owner.gql(DELIVERIES, json!({ "id": endpoint.id })).await;
    assert_eq!(deliveries.error_code(), Some("NOT_FOUND"), "{}", deliveries.text);
    let again = [
        ("updateWebhookEndpoint", update(owner, id, json!({ "description": "x" })).await),
        ("disableWebhookEndpoint", owner.gql(DISABLE, json!({ "id": endpoint.id })).await),
        ("enableWebhookEndpoint", owner.gql(ENABLE, json!({ "id": endpoint.id })).await),
        ("rotateWebhookSecret", owner.gql(ROTATE, json!({ "input": { "endpointId": endpoint.id } })).await),
        ("deleteWebhookEndpoint", owner.gql(DELETE, json!({ "id": endpoint.id })).await),
    ];
    for (field, answer) in again {
        assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{field} of a deleted endpoint: {}", answer.text);
        assert_eq!(answer.data()[field], Value::Null, "{field} of a deleted endpoint: {}", answer.text);
    }
}

#[tokio::test]
async fn unknown_endpoint_and_delivery_ids_are_not_found() {
    let app = spawn(&MANAGING).await;
    let shop = app.shop("acme").await;
    let owner = &shop.owner;
    let nowhere = unknown_id("WebhookEndpoint");

    let node = owner.gql("query($id: ID!) { node(id: $id) { id } }", json!({ "id": nowhere })).await;
    let delivery_node =
        owner.gql("query($id: ID!) { node(id: $id) { id } }", json!({ "id": unknown_id("WebhookDelivery") })).await;
    let deliveries = owner.gql(DELIVERIES, json!({ "id": nowhere })).await;
    let update = owner.gql(UPDATE, json!({ "input": { "endpointId": nowhere, "description": "x" } })).await;
    let redeliver = owner
        .gql(
            "mutation($id: ID!) { redeliverWebhook(input: { deliveryId: $id }) {
                delivery { id } userErrors { field code message } } }",
            json!({ "id": unknown_id("WebhookDelivery") }),
        )
        .await;

    assert_eq!(node.data()["node"], Value::Null, "{}", node.text);
    assert_eq!(delivery_node.data()["node"], Value::Null, "{}", delivery_node.text);
    assert_eq!(deliveries.error_code(), Some("NOT_FOUND"), "{}", deliveries.text);
    assert_eq!(update.error_code(), Some("NOT_FOUND"), "{}", update.text);
    assert_eq!(update.data()["updateWebhookEndpoint"], Value::Null, "{}", update.text);
    assert_eq!(redeliver.error_code(), Some("NOT_FOUND"), "{}", redeliver.text);
    assert_eq!(redeliver.data()["redeliverWebhook"], Value::Null, "{}", redeliver.text);
}

#[tokio::test]
async fn rotating_a_secret_returns_a_new_one_and_keeps_the_old_for_a_grace_period() {
    let app = spawn(&MANAGING).await;
    let shop = app.shop("acme").await;
    let endpoint = shop.owner.create_webhook_endpoint(LOCAL_URL, &["order.placed"]).await;
    let rotate = |input: Value| shop.owner.gql(ROTATE, json!({ "input": input }));

    let by_default = rotate(json!({ "endpointId": endpoint.id })).await;
    let default_at = OffsetDateTime::now_utc();
    let for_a_minute = rotate(json!({ "endpointId": endpoint.id, "gracePeriodSeconds": 60 })).await;
    let minute_at = OffsetDateTime::now_utc();
    let negative = rotate(json!({ "endpointId": endpoint.id, "gracePeriodSeconds": -1 })).await;
    let read = read_endpoint(&shop.owner, &endpoint.id).await;

    let first = by_default.assert_accepted("rotateWebhookSecret").expect_str("/data/rotateWebhookSecret/secret");
    let second = for_a_minute.assert_accepted("rotateWebhookSecret").expect_str("/data/rotateWebhookSecret/secret");
    assert_secret(&first);
    assert_secret(&second);
    let distinct: BTreeSet<&str> = [endpoint.secret.as_str(), first.as_str(), second.as_str()].into();
    assert_eq!(distinct.len(), 3, "every rotation makes a new secret");
    let expires =
        |answer: &GqlResponse| time_of(&answer.data()["rotateWebhookSecret"]["endpoint"]["previousSecretExpiresAt"]);
    assert_near(expires(&by_default), default_at + time::Duration::days(1), "the default grace (a day)");
    assert_near(expires(&for_a_minute), minute_at + time::Duration::seconds(60), "a grace of 60 s");
    assert_eq!(refusals(&negative, "rotateWebhookSecret"), [invalid(&["gracePeriodSeconds"])], "{}", negative.text);
    assert_eq!(negative.data()["rotateWebhookSecret"]["secret"], Value::Null, "{}", negative.text);
    assert_eq!(
        time_of(&read.data()["node"]["previousSecretExpiresAt"]),
        expires(&for_a_minute),
        "the refused rotation changed nothing: {}",
        read.text
    );
    for secret in [&endpoint.secret, &first, &second] {
        assert!(!read.text.contains(&secret["whsec_".len()..]), "a secret was read back: {}", read.text);
    }

    // The operator's default grace applies when the shop names none.
    let configured = spawn(&[&MANAGING[..], &["--webhook-rotation-grace-seconds", "3600"]].concat()).await;
    let other = configured.shop("globex").await;
    let theirs = other.owner.create_webhook_endpoint(LOCAL_URL, &["order.placed"]).await;
    let rotated = other.owner.gql(ROTATE, json!({ "input": { "endpointId": theirs.id } })).await;
    let rotated_at = OffsetDateTime::now_utc();
    rotated.assert_accepted("rotateWebhookSecret");
    assert_near(expires(&rotated), rotated_at + time::Duration::hours(1), "the configured grace (an hour)");
}

#[tokio::test]
async fn webhook_event_types_lists_the_twelve_types() {
    let app = spawn(&MANAGING).await;
    let shop = app.shop("acme").await;

    let answer = shop.owner.gql(EVENT_TYPES, json!({})).await;

    let mut expected: Vec<String> = WEBHOOK_EVENT_TYPES.iter().map(|kind| (*kind).to_owned()).collect();
    expected.sort();
    assert_eq!(sorted(&answer.data()["webhookEventTypes"]), expected, "{}", answer.text);
}

#[tokio::test]
async fn only_holders_of_webhooks_manage_may_manage_webhooks() {
    let app = spawn(&MANAGING).await;
    let shop = app.shop("acme").await;
    let (staff, _) = shop.member("STAFF", "staff@acme.test").await;
    let (customer, _) = shop.member("CUSTOMER", "customer@acme.test").await;
    let (admin, _) = shop.member("ADMIN", "admin@acme.test").await;
    let reader = shop.api_key(&["ORDERS_READ", "CATALOG_READ"]).await.client;
    let manager = shop.api_key(&["WEBHOOKS_MANAGE"]).await.client;
    let owners = shop.owner.create_webhook_endpoint(LOCAL_URL, &["order.placed"]).await;
    let create = json!({ "url": LOCAL_URL, "eventTypes": ["order.placed"] });
    let list = "{ webhookEndpoints(first: 10) { edges { node { id } } } }";

    for (who, client) in [("staff", &staff), ("a customer", &customer), ("a key without it", &reader)] {
        let created = client.try_create_webhook_endpoint(create.clone()).await;
        let listed = client.gql(list, json!({})).await;
        let deliveries = client.gql(DELIVERIES, json!({ "id": owners.id })).await;
        let rotated = client.gql(ROTATE, json!({ "input": { "endpointId": owners.id } })).await;
        let deleted = client.gql(DELETE, json!({ "id": owners.id })).await;
        for (what, answer) in [
            ("createWebhookEndpoint", &created),
            ("webhookEndpoints", &listed),
            ("webhookDeliveries", &deliveries),
            ("rotateWebhookSecret", &rotated),
            ("deleteWebhookEndpoint", &deleted),
        ] {
            assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{who}: {what}: {}", answer.text);
            assert!(!answer.text.contains("whsec_"), "{who}: {what} leaked a secret: {}", answer.text);
        }
    }
    let anonymous = app.anonymous().gql(list, json!({})).await;
    assert_eq!(anonymous.error_code(), Some("UNAUTHENTICATED"), "{}", anonymous.text);

    let by_admin = admin.create_webhook_endpoint("http://127.0.0.1:9/admin", &["order.paid"]).await;
    let by_key = manager.create_webhook_endpoint("http://127.0.0.1:9/key", &["stock.low"]).await;
    let key_listed = manager.gql(list, json!({})).await;
    let key_rotated = manager.gql(ROTATE, json!({ "input": { "endpointId": owners.id } })).await;
    let key_deleted = manager.gql(DELETE, json!({ "id": by_admin.id })).await;
    let key_types = manager.gql(EVENT_TYPES, json!({})).await;

    let mut listed = key_listed.node_strings("webhookEndpoints", "id");
    listed.sort();
    let mut expected = vec![owners.id.clone(), by_admin.id.clone(), by_key.id.clone()];
    expected.sort();
    assert_eq!(listed, expected, "only the owner's, the admin's and the key's endpoints exist: {}", key_listed.text);
    key_rotated.assert_accepted("rotateWebhookSecret");
    key_deleted.assert_accepted("deleteWebhookEndpoint");
    assert_eq!(sorted(&key_types.data()["webhookEventTypes"]).len(), WEBHOOK_EVENT_TYPES.len(), "{}", key_types.text);
}

#[tokio::test]
async fn endpoints_are_listed_page_by_page() {
    let app = spawn(&MANAGING).await;
    let shop = app.shop("acme").await;
    let mut created = Vec::new();
    for n in 0..5 {
        created
            .push(shop.owner.create_webhook_endpoint(&format!("http://127.0.0.1:9/{n}"), &["order.placed"]).await.id);
    }
    let page = "query($after: String) { webhookEndpoints(first: 2, after: $after) {
        edges { node { id } } pageInfo { hasNextPage endCursor } } }";

    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let answer = shop.owner.gql(page, json!({ "after": after })).await;
        let ids = answer.node_strings("webhookEndpoints", "id");
        assert!(ids.len() <= 2, "{}", answer.text);
        seen.extend(ids);
        pages += 1;
        let info = &answer.data()["webhookEndpoints"]["pageInfo"];
        if info["hasNextPage"] != json!(true) {
            break;
        }
        after = info["endCursor"].clone();
        assert!(pages < 10, "the pages never end: {}", answer.text);
    }

    assert_eq!(pages, 3, "five endpoints in pages of two");
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no endpoint is listed twice: {seen:?}");
    let mut seen_sorted = seen.clone();
    seen_sorted.sort();
    created.sort();
    assert_eq!(seen_sorted, created);
}
