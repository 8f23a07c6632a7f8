//! `GET /metrics`: Prometheus text that a real parser reads, counting requests by operation and
//! type with latency histograms, errors by code, the pool, the webhook backlog and attempts, and
//! the payment processor's calls and circuit breaker. Operation names are labels only up to a
//! bound; anonymous, unknown and hostile names fold into fixed labels. The token guards it, and
//! `--metrics false` turns it off.
//!
//! The counting tests run the server as a child process: the recorder is process-wide, so a
//! server in the test's own process would also count what other tests send.

use std::collections::HashMap;
use std::time::Duration;

use keel_tests::{Answer, ChildServer, Client, Receiver, Script, TestApp, TestDatabase, eventually};
use prometheus_parse::{Sample, Scrape, Value as Metric};
use serde_json::json;

const KEEL_CHILD: &str = env!("CARGO_BIN_EXE_keel-child");
const PAY: &str = "mutation($input: PayOrderInput!) { payOrder(input: $input) {
    payment { status } userErrors { field code message } } }";

/// Scrapes `server` and parses the answer with a Prometheus text parser.
async fn scrape(url: &str, token: Option<&str>) -> Scrape {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("/metrics answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = response.text().await.expect("a body");
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned())))
        .unwrap_or_else(|err| panic!("unparsable: {err}\n{text}"))
}

/// The samples of `name` whose labels include every pair of `labels`.
fn samples<'a>(scrape: &'a Scrape, name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == name)
        .filter(|sample| labels.iter().all(|(key, value)| sample.labels.get(key) == Some(*value)))
        .collect()
}

/// The one value of `name` with `labels` (0 when absent: a counter nothing has touched).
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = samples(scrape, name, labels);
    assert!(found.len() <= 1, "{name} {labels:?} is ambiguous: {found:?}");
    found.first().map_or(0.0, |sample| match &sample.value {
        Metric::Counter(v) | Metric::Gauge(v) | Metric::Untyped(v) => *v,
        other => panic!("{name} is not a single value: {other:?}"),
    })
}

/// How many observations a histogram holds for `labels`.
fn histogram_count(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> u64 {
    let found = samples(scrape, name, labels);
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    match &found[0].value {
        Metric::Histogram(buckets) => {
            let inf = buckets.iter().find(|bucket| bucket.less_than.is_infinite()).expect("a +Inf bucket");
            assert!(buckets.len() > 5, "latency buckets, so p95 and p99 can be read: {buckets:?}");
            inf.count as u64
        }
        other => panic!("{name} is not a histogram: {other:?}"),
    }
}

async fn query_named(client: &Client, document: &str, times: usize) {
    for _ in 0..times {
        let answer = client.gql(document, json!({})).await;
        assert!(answer.errors().is_empty(), "{document}: {answer:?}");
    }
}

#[tokio::test]
async fn requests_are_counted_by_bounded_operation_name_and_type_with_latency_and_errors_by_code() {
    let database = TestDatabase::create().await;
    let server = ChildServer::start(KEEL_CHILD, &database.url(), &["--metrics-max-operations", "3"]).await;
    let client = server.client();
    let metrics_url = server.url("/metrics");

    query_named(&client, "query ShopHome { __typename }", 3).await;
    query_named(&client, "{ __typename }", 2).await;
    query_named(&client, "query Second { __typename }", 1).await;
    query_named(&client, "query Third { __typename }", 1).await;
    // The bound is reached: later names share one label.
    query_named(&client, "query Fourth { __typename }", 1).await;
    query_named(&client, "query Fifth { __typename }", 1).await;
    // A name a client could flood with is never a label of its own.
    let long = format!("query {} {{ __typename }}", "N".repeat(200));
    query_named(&client, &long, 1).await;
    let shop = client.register_shop("metrics-shop").await;
    let unparsable = client.gql("query Broken {", json!({})).await;
    assert!(!unparsable.errors().is_empty());
    let denied = client.with_bearer("not-a-token").gql("query Denied { __typename }", json!({})).await;
    assert!(!denied.errors().is_empty());
    let forbidden = shop.app.gql("query Anon { orders(first: 1) { edges { cursor } } }", json!({})).await;
    assert!(!forbidden.errors().is_empty(), "{forbidden:?}");

    let scrape = scrape(&metrics_url, None).await;
    let requests = "keel_graphql_requests_total";
    assert_eq!(value(&scrape, requests, &[("operation", "ShopHome"), ("type", "query")]), 3.0);
    assert_eq!(value(&scrape, requests, &[("operation", "anonymous"), ("type", "query")]), 2.0);
    assert_eq!(value(&scrape, requests, &[("operation", "Second"), ("type", "query")]), 1.0);
    assert_eq!(
        value(&scrape, requests, &[("operation", "other"), ("type", "query")]),
        5.0,
        "Fourth, Fifth, the long name, Denied and Anon: the bound is 3 names (anonymous is none)"
    );
    assert_eq!(value(&scrape, requests, &[("operation", "anonymous"), ("type", "mutation")]), 1.0, "registerTenant");
    assert_eq!(value(&scrape, requests, &[("operation", "unknown"), ("type", "unknown")]), 1.0, "the unparsable one");
    assert!(samples(&scrape, requests, &[("operation", "Fourth")]).is_empty());
    assert!(
        samples(&scrape, requests, &[])
            .iter()
            .all(|sample| sample.labels.get("operation").is_some_and(|op| op.len() <= 64))
    );
    assert_eq!(histogram_count(&scrape, "keel_graphql_request_duration_seconds", &[("operation", "ShopHome")]), 3);

    let errors = "keel_graphql_errors_total";
    assert_eq!(value(&scrape, errors, &[("code", "BAD_USER_INPUT")]), 1.0, "the unparsable document");
    assert_eq!(
        value(&scrape, errors, &[("code", "UNAUTHENTICATED")]),
        2.0,
        "a bad token, and no token where one is needed"
    );
    let answered = value(&scrape, "keel_http_responses_total", &[("route", "/graphql"), ("status", "200")]);
    assert!(answered >= 10.0, "{answered} answers of 200 counted");

    let max = value(&scrape, "keel_db_pool_max_connections", &[]);
    assert_eq!(max, 16.0, "the default pool size");
    let in_use = value(&scrape, "keel_db_pool_connections", &[("state", "in_use")]);
    let idle = value(&scrape, "keel_db_pool_connections", &[("state", "idle")]);
    assert!(in_use + idle >= 1.0 && in_use + idle <= max, "{in_use} in use, {idle} idle");
    assert_eq!(value(&scrape, "keel_db_pool_waiting", &[]), 0.0);
    assert!(histogram_count(&scrape, "keel_db_pool_acquire_seconds", &[]) >= 2, "every transaction is timed");
    assert_eq!(value(&scrape, "keel_outbox_lag_seconds", &[]), 0.0, "nothing waits for delivery");
    assert_eq!(value(&scrape, "keel_payment_processor_breaker_state", &[("processor", "simulated")]), 0.0);
    assert_eq!(value(&scrape, "keel_build_info", &[]), 1.0);
    for sample in &scrape.samples {
        assert!(sample.metric.starts_with("keel_"), "only Keel's own metrics: {}", sample.metric);
    }
    let help: HashMap<_, _> = scrape.docs.iter().collect();
    for name in [requests, errors, "keel_db_pool_acquire_seconds", "keel_outbox_lag_seconds"] {
        assert!(help.contains_key(&name.to_owned()), "{name} has help text");
    }
}

#[tokio::test]
async fn webhook_attempts_the_outbox_lag_and_payment_calls_are_measured() {
    let database = TestDatabase::create().await;
    let receiver = Receiver::start(Script::always(Answer::status(503))).await;
    let args = ["--webhook-allow-private", "true", "--webhook-poll-ms", "50"];
    let server = ChildServer::start(KEEL_CHILD, &database.url(), &args).await;
    let shop = server.client().register_shop("metrics-hooks").await;
    shop.owner.create_webhook_endpoint(&receiver.url(), &["order.placed"]).await;
    let product = shop.owner.create_product("SKU-1", "One", "5.00").await;
    let location = shop.owner.create_location("MAIN", "Main").await;
    shop.owner.receive_stock(&product, &location, 10).await;
    let order = shop.owner.place_order(json!([{ "productId": product, "quantity": 1 }])).await;
    let paid = shop
        .owner
        .gql(PAY, json!({ "input": { "orderId": order, "paymentMethod": "pm_card_visa", "idempotencyKey": "m-1" } }))
        .await;
    assert_eq!(paid.data()["payOrder"]["payment"]["status"], "SUCCEEDED", "{paid:?}");

    let metrics_url = server.url("/metrics");
    let scrape = eventually("a failed attempt counted", Duration::from_secs(20), || async {
        let scrape = scrape(&metrics_url, None).await;
        let retried = value(&scrape, "keel_webhook_attempts_total", &[("outcome", "retry")]);
        if retried >= 1.0 { Ok(scrape) } else { Err(format!("{retried} retries counted")) }
    })
    .await;
    assert!(!receiver.received().is_empty());
    assert_eq!(value(&scrape, "keel_webhook_deliveries_pending", &[]), 1.0, "the delivery waits for its retry");
    let lag = value(&scrape, "keel_outbox_lag_seconds", &[]);
    assert!(lag > 0.0 && lag < 60.0, "the undelivered event's age: {lag}");
    assert!(histogram_count(&scrape, "keel_webhook_attempt_duration_seconds", &[]) >= 1);
    let charge = [("processor", "simulated"), ("operation", "charge"), ("outcome", "answered")];
    assert_eq!(value(&scrape, "keel_payment_processor_calls_total", &charge), 1.0);
    let charge_latency = [("processor", "simulated"), ("operation", "charge")];
    assert_eq!(histogram_count(&scrape, "keel_payment_processor_call_duration_seconds", &charge_latency), 1);
}

#[tokio::test]
async fn a_metrics_token_guards_the_route_and_metrics_can_be_turned_off() {
    let guarded = TestApp::spawn_with(TestDatabase::create().await, &["--metrics-token", "scrape-secret"]).await;
    let http = reqwest::Client::new();
    let bare = http.get(guarded.url("/metrics")).send().await.expect("an answer");
    assert_eq!(bare.status(), 401);
    assert_eq!(bare.headers()["www-authenticate"], "Bearer");
    let wrong = http.get(guarded.url("/metrics")).bearer_auth("scrape-secreT").send().await.expect("an answer");
    assert_eq!(wrong.status(), 401);
    let scrape = scrape(&guarded.url("/metrics"), Some("scrape-secret")).await;
    assert!(!samples(&scrape, "keel_build_info", &[]).is_empty());

    let off = TestApp::spawn_with(TestDatabase::create().await, &["--metrics", "false"]).await;
    let answer = http.get(off.url("/metrics")).send().await.expect("an answer");
    assert_eq!(answer.status(), 404);
}
