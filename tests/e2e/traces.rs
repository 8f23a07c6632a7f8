//! OpenTelemetry trace export: with `--otlp-endpoint`, each request is a span sent to the
//! collector over OTLP/HTTP, a request carrying a W3C `traceparent` continues that trace, and
//! the request's log lines carry its `trace_id`. Without it, logs have no trace ids.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use keel_tests::{ChildServer, TestDatabase, eventually};
use serde_json::{Value, json};

const KEEL_CHILD: &str = env!("CARGO_BIN_EXE_keel-child");
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";

/// A stand-in OTLP/HTTP collector: keeps every JSON body posted to `/v1/traces`.
struct Collector {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Collector {
    async fn start() -> Collector {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route(
                "/v1/traces",
                post(|State(bodies): State<Arc<Mutex<Vec<Value>>>>, body: Bytes| async move {
                    let parsed = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    bodies.lock().expect("not poisoned").push(parsed);
                    axum::Json(json!({}))
                }),
            )
            .with_state(bodies.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Collector { url, bodies }
    }

    /// Every request span for `/graphql` received, as `(traceId, parentSpanId, name)`.
    fn spans(&self) -> Vec<(String, String, String)> {
        let bodies = self.bodies.lock().expect("not poisoned");
        let mut spans = Vec::new();
        for body in bodies.iter() {
            for resource in body["resourceSpans"].as_array().into_iter().flatten() {
                for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                    for span in scope["spans"].as_array().into_iter().flatten() {
                        let path =
                            span["attributes"].as_array().into_iter().flatten().find(|a| a["key"] == "http.path");
                        if path.is_none_or(|path| path["value"]["stringValue"] != "/graphql") {
                            continue;
                        }
                        let text = |key: &str| span[key].as_str().unwrap_or_default().to_owned();
                        spans.push((text("traceId"), text("parentSpanId"), text("name")));
                    }
                }
            }
        }
        spans
    }
}

async fn post_query(server: &ChildServer, traceparent: Option<&str>) {
    let mut request =
        reqwest::Client::new().post(server.url("/graphql")).json(&json!({ "query": "query Traced { __typename }" }));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let answer = request.send().await.expect("an answer");
    assert_eq!(answer.status(), 200);
}

/// The `trace_id`s the server's JSON log lines carry.
fn logged_trace_ids(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|line| line["span"]["trace_id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn requests_are_exported_as_spans_continuing_the_callers_trace_and_logged_with_their_trace_id() {
    let collector = Collector::start().await;
    let database = TestDatabase::create().await;
    let args = ["--otlp-endpoint", &collector.url, "--otlp-protocol", "http/json"];
    let server = ChildServer::start(KEEL_CHILD, &database.url(), &args).await;

    post_query(&server, Some(&format!("00-{TRACE_ID}-{PARENT_SPAN}-01"))).await;
    post_query(&server, None).await;

    // The batch goes out within the exporter's schedule (5 s by default).
    let spans = eventually("both requests exported", Duration::from_secs(20), || async {
        let spans = collector.spans();
        let requests = spans.iter().filter(|(_, _, name)| name == "request").count();
        if requests >= 2 { Ok(spans) } else { Err(format!("{requests} request spans so far: {spans:?}")) }
    })
    .await;
    let continued: Vec<_> = spans.iter().filter(|(trace, _, name)| trace == TRACE_ID && name == "request").collect();
    assert_eq!(continued.len(), 1, "the traceparent's trace is continued: {spans:?}");
    assert_eq!(continued[0].1, PARENT_SPAN, "as a child of the caller's span");
    let fresh: Vec<_> = spans.iter().filter(|(trace, _, name)| trace != TRACE_ID && name == "request").collect();
    assert_eq!(fresh.len(), 1, "a request without one starts its own trace: {spans:?}");
    assert_eq!(fresh[0].0.len(), 32);

    let logged = logged_trace_ids(&server.log());
    assert!(logged.contains(&TRACE_ID.to_owned()), "the continued trace's id is logged: {logged:?}");
    assert!(logged.contains(&fresh[0].0), "the new trace's id is logged: {logged:?}");
}

#[tokio::test]
async fn without_an_endpoint_nothing_is_traced_and_logs_carry_no_trace_id() {
    let database = TestDatabase::create().await;
    let server = ChildServer::start(KEEL_CHILD, &database.url(), &[]).await;
    post_query(&server, Some(&format!("00-{TRACE_ID}-{PARENT_SPAN}-01"))).await;
    let log = server.log();
    assert!(log.contains("request finished"), "{log}");
    assert!(logged_trace_ids(&log).is_empty(), "{log}");
}
