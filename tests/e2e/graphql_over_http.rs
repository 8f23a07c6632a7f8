//! `/graphql` conforms to the GraphQL-over-HTTP specification: media types, status codes,
//! parameter validation, GET for queries only. Every error carries a documented code.

use keel_tests::{GqlResponse, TestApp};
use serde_json::{Value, json};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const DOCUMENTED_CODES: [&str; 10] = [
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "CONFLICT",
    "IDEMPOTENCY_KEY_REUSED",
    "RATE_LIMITED",
    "QUERY_TOO_COMPLEX",
    "SERVICE_UNAVAILABLE",
    "INTERNAL",
];

async fn post(app: &TestApp, accept: Option<&str>, body: Value) -> GqlResponse {
    let mut request =
        app.client.post(app.url("/graphql")).header("content-type", "application/json").body(body.to_string());
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    app.send(request).await
}

async fn get(app: &TestApp, accept: &str, query: &[(&str, &str)]) -> GqlResponse {
    app.send(app.client.get(app.url("/graphql")).header("accept", accept).query(query)).await
}

fn assert_documented_codes(response: &GqlResponse) {
    let errors = response.errors();
    assert!(!errors.is_empty(), "expected errors in {}", response.text);
    for error in errors {
        let code = error["extensions"]["code"].as_str();
        assert!(code.is_some_and(|code| DOCUMENTED_CODES.contains(&code)), "undocumented code in {error}");
    }
}

#[tokio::test]
async fn a_json_post_runs_a_query_and_answers_application_json() {
    let app = TestApp::spawn().await;

    let response = app.gql("{ apiVersion }", json!({})).await;

    assert_eq!(response.status, 200);
    assert_eq!(response.content_type(), "application/json; charset=utf-8");
    assert_eq!(response.data()["apiVersion"], env!("CARGO_PKG_VERSION"));
    assert!(response.body.get("errors").is_none());
}

#[tokio::test]
async fn a_client_accepting_graphql_response_json_gets_it() {
    let app = TestApp::spawn().await;

    let preferred = post(
        &app,
        Some("application/graphql-response+json, application/json;q=0.9"),
        json!({"query": "{ apiVersion }"}),
    )
    .await;
    let plain = post(&app, Some("application/json"), json!({"query": "{ apiVersion }"})).await;
    let wildcard = post(&app, Some("*/*"), json!({"query": "{ apiVersion }"})).await;

    assert_eq!(preferred.status, 200);
    assert!(preferred.content_type().starts_with(GRAPHQL_RESPONSE_JSON));
    assert_eq!(preferred.data()["apiVersion"], env!("CARGO_PKG_VERSION"));
    assert!(plain.content_type().starts_with("application/json"));
    assert!(wildcard.content_type().starts_with("application/json"));
}

#[tokio::test]
async fn queries_run_over_get_with_variables_and_operation_name() {
    let app = TestApp::spawn().await;
    let document = "query A { apiVersion } query B($skip: Boolean!) { apiVersion @skip(if: $skip) }";

    let response = get(
        &app,
        GRAPHQL_RESPONSE_JSON,
        &[("query", document), ("operationName", "B"), ("variables", r#"{"skip":false}"#)],
    )
    .await;

    assert_eq!(response.status, 200);
    assert_eq!(response.data()["apiVersion"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn a_mutation_over_get_is_method_not_allowed_and_never_runs() {
    let app = TestApp::spawn().await;

    let response = get(&app, GRAPHQL_RESPONSE_JSON, &[("query", "mutation { anything }")]).await;
    let selected =
        get(&app, "application/json", &[("query", "query Q { apiVersion } mutation M { x }"), ("operationName", "M")])
            .await;

    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("POST"));
    assert!(response.body.get("data").is_none());
    assert_eq!(selected.status, 405);
}

#[tokio::test]
async fn a_document_that_fails_to_parse_or_validate_is_400_only_for_graphql_response_json() {
    let app = TestApp::spawn().await;

    for document in ["{ apiVersion", "{ noSuchField }", "query($n: Int!) { apiVersion }"] {
        let strict = post(&app, Some(GRAPHQL_RESPONSE_JSON), json!({ "query": document })).await;
        let legacy = post(&app, Some("application/json"), json!({ "query": document })).await;

        assert_eq!(strict.status, 400, "{document}: {}", strict.text);
        assert_eq!(legacy.status, 200, "{document}: {}", legacy.text);
        for response in [&strict, &legacy] {
            assert!(response.body.get("data").is_none(), "no data entry before execution: {}", response.text);
            assert_eq!(response.error_code(), Some("BAD_USER_INPUT"), "{}", response.text);
        }
    }
}

#[tokio::test]
async fn malformed_http_requests_are_400_with_a_reason() {
    let app = TestApp::spawn().await;
    let invalid_json = app
        .send(app.client.post(app.url("/graphql")).header("content-type", "application/json").body("{\"query\":"))
        .await;
    let cases = [
        ("missing query", json!({})),
        ("query not a string", json!({ "query": 1 })),
        ("variables not an object", json!({ "query": "{ apiVersion }", "variables": "{}" })),
        ("operationName not a string", json!({ "query": "{ apiVersion }", "operationName": 1 })),
        ("extensions not an object", json!({ "query": "{ apiVersion }", "extensions": [] })),
        ("a batch", json!([{ "query": "{ apiVersion }" }])),
    ];

    assert_eq!(invalid_json.status, 400);
    assert_documented_codes(&invalid_json);
    for (case, body) in cases {
        for accept in [GRAPHQL_RESPONSE_JSON, "application/json"] {
            let response = post(&app, Some(accept), body.clone()).await;
            assert_eq!(response.status, 400, "{case} ({accept}): {}", response.text);
            assert!(response.content_type().starts_with(accept), "{case}: {}", response.content_type());
            assert_documented_codes(&response);
        }
    }
    let no_query = get(&app, "application/json", &[("operationName", "A")]).await;
    let bad_variables = get(&app, "application/json", &[("query", "{ apiVersion }"), ("variables", "not json")]).await;
    assert_eq!((no_query.status, bad_variables.status), (400, 400));
}

#[tokio::test]
async fn a_body_that_is_not_json_is_unsupported_media_type() {
    let app = TestApp::spawn().await;
    let body = r#"{"query":"{ apiVersion }"}"#;

    for content_type in
        [Some("text/plain"), Some("application/json; charset=iso-8859-1"), Some("application/graphql"), None]
    {
        let mut request = app.client.post(app.url("/graphql")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = app.send(request).await;
        assert_eq!(response.status, 415, "{content_type:?}");
        assert_documented_codes(&response);
    }
    let with_charset = app
        .send(app.client.post(app.url("/graphql")).header("content-type", "application/json; charset=utf-8").body(body))
        .await;
    assert_eq!(with_charset.status, 200);
}

#[tokio::test]
async fn an_accept_header_naming_no_supported_type_is_not_acceptable() {
    let app = TestApp::spawn().await;

    let response = post(&app, Some("application/xml"), json!({ "query": "{ apiVersion }" })).await;

    assert_eq!(response.status, 406);
    assert_documented_codes(&response);
}

#[tokio::test]
async fn an_oversized_body_is_rejected_before_parsing() {
    let app = TestApp::spawn().await;
    let huge = json!({ "query": format!("{{ apiVersion }} # {}", "x".repeat(2 * 1024 * 1024)) });

    let response = post(&app, Some("application/json"), huge).await;

    assert_eq!(response.status, 413);
    assert_documented_codes(&response);
}

#[tokio::test]
async fn a_query_nested_too_deep_is_query_too_complex() {
    let app = TestApp::spawn().await;
    let deep = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType {".repeat(14),
        "}".repeat(14)
    );

    let response = post(&app, Some(GRAPHQL_RESPONSE_JSON), json!({ "query": deep })).await;

    assert_eq!(response.status, 400);
    assert_eq!(response.error_code(), Some("QUERY_TOO_COMPLEX"), "{}", response.text);
}

#[tokio::test]
async fn the_standard_introspection_query_used_by_graphiql_and_codegen_is_answered() {
    let app = TestApp::spawn().await;
    let introspection = include_str!("introspection.graphql");

    let response = post(&app, Some(GRAPHQL_RESPONSE_JSON), json!({ "query": introspection })).await;

    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.data()["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn every_response_carries_a_request_id_echoing_a_sane_client_one() {
    let app = TestApp::spawn().await;

    let echoed = app.send(app.client.get(app.url("/healthz")).header("x-request-id", "client-abc.123")).await;
    let replaced = app.send(app.client.get(app.url("/healthz")).header("x-request-id", "bad id\" injected=1")).await;
    let generated = app.gql("{ apiVersion }", json!({})).await;

    let id = |r: &GqlResponse| {
        r.header("x-request-id").map(str::to_owned).unwrap_or_else(|| panic!("no x-request-id: {:?}", r.headers))
    };
    assert_eq!(id(&echoed), "client-abc.123");
    assert_eq!(id(&replaced).len(), 36);
    assert_eq!(id(&generated).len(), 36);
    assert_ne!(id(&generated), id(&replaced));
}

#[tokio::test]
async fn other_methods_are_not_allowed() {
    let app = TestApp::spawn().await;

    let put = app.send(app.client.put(app.url("/graphql")).body("{}")).await;
    let delete = app.send(app.client.delete(app.url("/graphql"))).await;

    assert_eq!((put.status, delete.status), (405, 405));
}

/// The value of `data` as the client received it, keys and all (`Value`'s index answers
/// `null` for a missing key too, which would hide a left-out field).
fn data_object(response: &GqlResponse) -> serde_json::Map<String, Value> {
    let body: Value = serde_json::from_str(&response.text).unwrap_or_else(|_| panic!("JSON: {}", response.text));
    body["data"].as_object().cloned().unwrap_or_else(|| panic!("data is an object: {}", response.text))
}

#[tokio::test]
async fn a_failed_field_answers_null_in_place_and_non_null_failures_propagate() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let unknown = "T3JkZXI6MDE5YTAwMDAwMDAwNzAwMDgwMDAwMDAwMDAwMDAwMDA"; // Order:<a uuid no one has>

    let beside = shop.owner.gql("query($id: ID!) { apiVersion order(id: $id) { id } }", json!({ "id": unknown })).await;
    let data = data_object(&beside);
    assert_eq!(data.get("order"), Some(&Value::Null), "the failed field is present, as null: {}", beside.text);
    assert!(data["apiVersion"].is_string());
    assert_eq!(beside.error_code(), Some("NOT_FOUND"));
    let alone = shop.owner.gql("query($id: ID!) { order(id: $id) { id } }", json!({ "id": unknown })).await;
    assert_eq!(Value::Object(data_object(&alone)), json!({ "order": null }), "{}", alone.text);

    // `me` is non-null: its failure nulls `data` itself, as the specification says.
    let anonymous = app.anonymous().gql("{ apiVersion me { member { email } } }", json!({})).await;
    assert_eq!(anonymous.data(), &Value::Null, "{}", anonymous.text);
    assert_eq!(anonymous.error_code(), Some("UNAUTHENTICATED"));

    // A failing mutation field never hides the committed result of the one before it.
    let both = shop
        .owner
        .gql(
            "mutation($id: ID!) {
                made: createLocation(input: { code: \"MAIN\", name: \"Main\" }) { location { code } userErrors { code } }
                gone: cancelOrder(input: { orderId: $id }) { order { id } }
            }",
            json!({ "id": unknown }),
        )
        .await;
    let data = data_object(&both);
    assert_eq!(data["made"]["location"]["code"], "MAIN", "{}", both.text);
    assert_eq!(data.get("gone"), Some(&Value::Null));
    assert_eq!(both.errors()[0]["path"], json!(["gone"]));
    assert_eq!(both.error_code(), Some("NOT_FOUND"));
}
