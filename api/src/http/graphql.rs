//! GraphQL over HTTP, following the GraphQL-over-HTTP specification.
//!
//! - `POST /graphql` takes `application/json` bodies `{query, operationName, variables,
//!   extensions}`; `GET /graphql?query=…` runs queries only (a mutation is `405`).
//! - The response is `application/graphql-response+json` when the client accepts it, with
//!   `400` for a request that fails before execution (unparsable document, failed validation)
//!   and `200` once execution begins; plain `application/json` (the default) is always `200`
//!   for a well-formed request. An `Accept` naming neither is `406`.
//! - Malformed HTTP requests (bad JSON, wrong parameter types, missing `query`) are `400`, a
//!   body that is not JSON is `415`, an oversized one `413`.
//!
//! Every error leaves with an `extensions.code` from the documented list; `INTERNAL` also
//! carries the request id.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{ErrorExtensionValues, ServerError, Variables};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::response::{IntoResponse, Response};
use domain::auth::Caller;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};

use super::graphiql;
use super::request_id::RequestId;
use super::state::AppState;
use crate::auth;
use crate::error::{ApiError, ErrorCode};
use crate::graphql::context::prepare_request;
use crate::graphql::field_errors;
use crate::metrics;

/// The GraphQL-over-HTTP response media type.
const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
/// Messages async-graphql uses for its depth and complexity limits.
const LIMIT_MESSAGES: [&str; 2] = ["Query is too complex.", "Query is nested too deep."];

/// The media type a response is encoded in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MediaType {
    GraphqlResponseJson,
    Json,
}

impl MediaType {
    fn content_type(self) -> &'static str {
        match self {
            MediaType::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        }
    }
}

/// The parameters of one GraphQL request, checked for type.
#[derive(Debug)]
struct Params {
    query: String,
    operation_name: Option<String>,
    variables: Map<String, Value>,
}

/// How the request arrived; GET may only run queries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

/// What the handler knows about the HTTP request besides its GraphQL parameters.
struct Origin {
    request_id: RequestId,
    headers: HeaderMap,
    address: Option<IpAddr>,
    method: Method,
}

/// `GET /graphql`: GraphiQL for a browser without a `query`, otherwise a query over GET.
pub async fn get_graphql(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let raw = raw.unwrap_or_default();
    if accepts_html(&headers) && !has_query_param(&raw) {
        return graphiql::page();
    }
    let Some(media) = negotiate(&headers) else { return not_acceptable() };
    match params_from_query_string(&raw) {
        Ok(params) => {
            let address = client_address(&state, &headers, peer);
            execute(&state, Origin { request_id, headers, address, method: Method::Get }, media, params).await
        }
        Err(message) => request_error(media, StatusCode::BAD_REQUEST, &message),
    }
}

/// `POST /graphql`: any operation, as a JSON body.
pub async fn post_graphql(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(media) = negotiate(&headers) else { return not_acceptable() };
    if let Err(message) = check_content_type(&headers) {
        return request_error(media, StatusCode::UNSUPPORTED_MEDIA_TYPE, &message);
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return request_error(media, rejection.status(), &rejection.body_text()),
    };
    let params = serde_json::from_slice::<Value>(&body)
        .map_err(|err| format!("the body is not valid JSON: {err}"))
        .and_then(params_from_json);
    match params {
        Ok(params) => {
            let address = client_address(&state, &headers, peer);
            execute(&state, Origin { request_id, headers, address, method: Method::Post }, media, params).await
        }
        Err(message) => request_error(media, StatusCode::BAD_REQUEST, &message),
    }
}

/// Runs one GraphQL request and, when metrics are on, counts it with its latency under its
/// operation's bounded label.
async fn execute(state: &AppState, origin: Origin, media: MediaType, params: Params) -> Response {
    let started = Instant::now();
    let mut observed = Observed { operation: None, kind: "unknown" };
    let response = run(state, origin, media, params, &mut observed).await;
    if let Some(exposition) = &state.metrics {
        let label = observed.operation.unwrap_or_else(|| metrics::UNKNOWN.to_owned());
        exposition.metrics.graphql_request(label, observed.kind, started.elapsed());
    }
    response
}

/// What a request turned out to be, for its metrics.
struct Observed {
    /// The operation's label, once the document is parsed and the operation selected.
    operation: Option<String>,
    /// `query`, `mutation`, `subscription` or `unknown`.
    kind: &'static str,
}

async fn run(state: &AppState, origin: Origin, media: MediaType, params: Params, observed: &mut Observed) -> Response {
    let Origin { request_id, headers, address, method } = origin;
    let Params { query, operation_name, variables } = params;
    let mut request = async_graphql::Request::new(query).variables(Variables::from_json(Value::Object(variables)));
    if let Some(name) = &operation_name {
        request = request.operation_name(name.clone());
    }
    let operation = match state.documents.prepare(&mut request) {
        Ok(document) => selected_operation(document, operation_name.as_deref()),
        Err(err) => {
            return render(
                media,
                StatusCode::BAD_REQUEST,
                &request_id,
                async_graphql::Response::from_errors(vec![err]),
                false,
                None,
            );
        }
    };
    // The request now carries its parsed document, and async-graphql reads the text only to
    // hand it to schema extensions (Keel has none): the text is kept, without a copy, to place
    // field errors in `data` after execution (see `field_errors`).
    let query = std::mem::take(&mut request.query);
    if let Some((name, kind)) = &operation {
        tracing::Span::current().record("graphql.operation", name.as_deref().unwrap_or("anonymous"));
        if let Some(exposition) = &state.metrics {
            observed.operation = Some(exposition.metrics.operation_label(name.as_deref()));
        }
        observed.kind = match kind {
            OperationType::Query => "query",
            OperationType::Mutation => "mutation",
            OperationType::Subscription => "subscription",
        };
        if method == Method::Get && *kind == OperationType::Mutation {
            let mut response = request_error(media, StatusCode::METHOD_NOT_ALLOWED, "mutations must use POST");
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        if *kind == OperationType::Subscription {
            return request_error(
                media,
                StatusCode::BAD_REQUEST,
                "subscriptions are served over WebSocket at /graphql/ws",
            );
        }
    }

    let actor = match auth::authenticate(&state.services.ports, &state.services.tokens, &headers).await {
        Ok(actor) => actor,
        Err(err) => return unauthenticated(media, &request_id, ApiError::from(err), observed.operation.as_deref()),
    };
    if let Some(tenant) = actor.tenant() {
        tracing::Span::current().record("tenant.id", tracing::field::display(tenant));
    }

    let request = prepare_request(request, &state.services, Caller { actor, address });
    let mut response = state.schema.execute(request).await;

    let executed = reached_execution(&response);
    if executed && response.errors.iter().any(|error| !error.path.is_empty()) {
        // Parsed again only here: a response without field errors pays nothing.
        if let Ok(document) = async_graphql::parser::parse_query(&query) {
            let operation = operation_name.as_deref();
            field_errors::repair(&mut response.data, &response.errors, &document, operation, &state.field_types);
        }
    }
    render(media, StatusCode::OK, &request_id, response, executed, observed.operation.as_deref())
}

/// Whether the operation reached execution. async-graphql answers a request that fails to parse,
/// to validate (limits included) or to coerce its variables with `data: null` and errors that have
/// no path, while every error raised during execution carries the path of its field. (Telling
/// the two apart from the response, rather than with a schema extension, keeps extensions off
/// the per-field path, where each one costs an allocation per field.)
fn reached_execution(response: &async_graphql::Response) -> bool {
    response.errors.is_empty()
        || !matches!(response.data, async_graphql::Value::Null)
        || response.errors.iter().any(|error| !error.path.is_empty())
}

/// The body of a GraphQL response, in the specification's key order.
#[derive(serde::Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a async_graphql::Value>,
    #[serde(skip_serializing_if = "<[ServerError]>::is_empty")]
    errors: &'a [ServerError],
    #[serde(skip_serializing_if = "Option::is_none")]
    extensions: Option<&'a std::collections::BTreeMap<String, async_graphql::Value>>,
}

/// Encodes a GraphQL response. Before execution there is no `data` entry and, for
/// `application/graphql-response+json`, the status is `400`.
fn render(
    media: MediaType,
    status: StatusCode,
    request_id: &RequestId,
    response: async_graphql::Response,
    executed: bool,
    operation: Option<&str>,
) -> Response {
    let mut errors = response.errors;
    for error in &mut errors {
        let code = add_code(error, request_id, executed);
        metrics::graphql_error(&code, operation);
    }
    // Serialized straight from async-graphql's values: no intermediate `serde_json::Value`.
    let body = Body {
        data: executed.then_some(&response.data),
        errors: &errors,
        extensions: (!response.extensions.is_empty()).then_some(&response.extensions),
    };
    let status = match media {
        MediaType::GraphqlResponseJson if !executed => StatusCode::BAD_REQUEST,
        MediaType::GraphqlResponseJson => status,
        // application/json answers 200 to every well-formed request, whatever its errors.
        MediaType::Json => StatusCode::OK,
    };
    let encoded = serde_json::to_string(&body).unwrap_or_else(|err| {
        tracing::error!(error = %err, "a GraphQL response could not be encoded");
        json!({ "errors": [{ "message": "internal error", "extensions": { "code": "INTERNAL" } }] }).to_string()
    });
    let mut http_response = (status, [(header::CONTENT_TYPE, media.content_type())], encoded).into_response();
    for (name, value) in &response.http_headers {
        http_response.headers_mut().append(name, value.clone());
    }
    http_response
}

/// Gives every error a documented code: errors from resolvers carry one already; parse,
/// validation and coercion errors are the client's (`BAD_USER_INPUT`, or `QUERY_TOO_COMPLEX`
/// for the limits); `INTERNAL` gets the request id.
fn add_code(error: &mut ServerError, request_id: &RequestId, executed: bool) -> String {
    let extensions = error.extensions.get_or_insert_with(ErrorExtensionValues::default);
    let code = match extensions.get("code") {
        Some(async_graphql::Value::String(code)) => code.clone(),
        _ => {
            let code = if !executed && LIMIT_MESSAGES.contains(&error.message.as_str()) {
                ErrorCode::QueryTooComplex
            } else {
                ErrorCode::BadUserInput
            };
            extensions.set("code", code.as_str());
            code.as_str().to_owned()
        }
    };
    if code == ErrorCode::Internal.as_str() {
        extensions.set("requestId", request_id.0.clone());
    }
    code
}

/// The operation the request selects, with its name; `None` when the document does not say
/// (validation then reports why).
fn selected_operation(document: &ExecutableDocument, name: Option<&str>) -> Option<(Option<String>, OperationType)> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => Some((name.map(str::to_owned), operation.node.ty)),
        (DocumentOperations::Multiple(operations), Some(name)) => {
            operations.get(name).map(|operation| (Some(name.to_owned()), operation.node.ty))
        }
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.iter().next().map(|(name, operation)| (Some(name.to_string()), operation.node.ty))
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

fn params_from_json(value: Value) -> Result<Params, String> {
    let Value::Object(mut object) = value else {
        return Err("the body must be a JSON object with a `query` (batched requests are not supported)".into());
    };
    let query = match object.remove("query") {
        Some(Value::String(query)) => query,
        Some(_) => return Err("`query` must be a string".into()),
        None => return Err("`query` is required".into()),
    };
    let operation_name = match object.remove("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => return Err("`operationName` must be a string or null".into()),
    };
    let variables = match object.remove("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(variables)) => variables,
        Some(_) => return Err("`variables` must be an object or null".into()),
    };
    match object.remove("extensions") {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(_) => return Err("`extensions` must be an object or null".into()),
    }
    Ok(Params { query, operation_name, variables })
}

fn params_from_query_string(raw: &str) -> Result<Params, String> {
    let mut object = Map::new();
    for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        let parsed = match key.as_ref() {
            "query" | "operationName" => Value::String(value.into_owned()),
            "variables" | "extensions" => {
                serde_json::from_str(&value).map_err(|_| format!("`{key}` must be a JSON-encoded object"))?
            }
            _ => continue,
        };
        if object.insert(key.clone().into_owned(), parsed).is_some() {
            return Err(format!("`{key}` is given more than once"));
        }
    }
    params_from_json(Value::Object(object))
}

fn check_content_type(headers: &HeaderMap) -> Result<(), String> {
    let expected = "send the body as `Content-Type: application/json`";
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return Err(format!("missing Content-Type; {expected}"));
    };
    let mime: mime::Mime = value.parse().map_err(|_| format!("unreadable Content-Type; {expected}"))?;
    let charset_ok = mime.get_param(mime::CHARSET).is_none_or(|charset| charset == mime::UTF_8);
    if mime.essence_str() == "application/json" && charset_ok {
        Ok(())
    } else {
        Err(format!("unsupported Content-Type `{value}`; {expected}"))
    }
}

/// Picks the response media type from `Accept`: the highest-`q` supported type, an explicit
/// type over a wildcard, earlier over later. No `Accept` means `application/json`; `None`
/// means nothing acceptable is supported (406).
fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let mut ranges = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    let mut best: Option<(f32, bool, MediaType)> = None;
    let mut any = false;
    for range in ranges.by_ref() {
        let mut parts = range.split(';');
        let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        if essence.is_empty() {
            continue;
        }
        any = true;
        let quality = parts
            .filter_map(|p| p.trim().strip_prefix("q=").map(|q| q.trim().parse::<f32>().unwrap_or(0.0)))
            .next()
            .unwrap_or(1.0);
        let (media, explicit) = match essence.as_str() {
            GRAPHQL_RESPONSE_JSON => (MediaType::GraphqlResponseJson, true),
            "application/json" => (MediaType::Json, true),
            "application/*" | "*/*" => (MediaType::Json, false),
            _ => continue,
        };
        if quality <= 0.0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((q, was_explicit, _)) => quality > q || (quality == q && explicit && !was_explicit),
        };
        if better {
            best = Some((quality, explicit, media));
        }
    }
    match best {
        Some((_, _, media)) => Some(media),
        None if !any => Some(MediaType::Json),
        None => None,
    }
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|accept| accept.contains("text/html"))
}

fn has_query_param(raw: &str) -> bool {
    url::form_urlencoded::parse(raw.as_bytes()).any(|(key, _)| key == "query")
}

/// The caller's address (see [`super::client_address`]).
fn client_address(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> Option<IpAddr> {
    Some(state.client_addresses.of(peer, headers))
}

/// A request whose credential is present but not valid: `401` with the reason, whatever the
/// media type, so clients can tell "refresh your token" from a failed operation. Errors from
/// the database while checking (unavailable, internal) keep their own codes and status.
fn unauthenticated(media: MediaType, request_id: &RequestId, err: ApiError, operation: Option<&str>) -> Response {
    let status = match err.code() {
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut response = async_graphql::Response::from_errors(vec![
        async_graphql::Error::from(err).into_server_error(async_graphql::Pos::default()),
    ]);
    response.errors.iter_mut().for_each(|e| e.locations.clear());
    let mut http_response = render(media, status, request_id, response, false, operation);
    *http_response.status_mut() = status;
    if status == StatusCode::UNAUTHORIZED {
        http_response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
    }
    http_response
}

fn request_error(media: MediaType, status: StatusCode, message: &str) -> Response {
    metrics::graphql_error(ErrorCode::BadUserInput.as_str(), None);
    let body =
        json!({ "errors": [{ "message": message, "extensions": { "code": ErrorCode::BadUserInput.as_str() } }] });
    json_response(media, status, &body)
}

fn not_acceptable() -> Response {
    let message = format!("the Accept header allows neither {GRAPHQL_RESPONSE_JSON} nor application/json");
    request_error(MediaType::Json, StatusCode::NOT_ACCEPTABLE, &message)
}

fn json_response(media: MediaType, status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, media.content_type())], body.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Option<MediaType> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).expect("header"));
        negotiate(&headers)
    }

    #[test]
    fn accept_negotiation_follows_quality_then_specificity() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(MediaType::Json));
        assert_eq!(accept("application/graphql-response+json"), Some(MediaType::GraphqlResponseJson));
        assert_eq!(
            accept("application/json;q=0.9, application/graphql-response+json"),
            Some(MediaType::GraphqlResponseJson)
        );
        assert_eq!(accept("*/*, application/graphql-response+json"), Some(MediaType::GraphqlResponseJson));
        assert_eq!(accept("application/graphql-response+json;q=0, application/json"), Some(MediaType::Json));
        assert_eq!(accept("*/*"), Some(MediaType::Json));
        assert_eq!(accept("text/html"), None);
    }

    #[test]
    fn get_parameters_are_parsed_and_checked() {
        let params = params_from_query_string("query=%7BapiVersion%7D&variables=%7B%22a%22%3A1%7D").expect("valid");

        assert_eq!(params.query, "{apiVersion}");
        assert_eq!(params.variables.get("a"), Some(&json!(1)));
        assert!(params_from_query_string("query=a&query=b").is_err());
        assert!(params_from_query_string("variables=%7B%7D").is_err());
        assert!(params_from_query_string("query=a&variables=nope").is_err());
    }

    #[test]
    fn post_bodies_must_have_the_documented_types() {
        assert!(params_from_json(json!({"query": "{a}", "operationName": null, "variables": null})).is_ok());
        assert!(params_from_json(json!({"query": 1})).is_err());
        assert!(params_from_json(json!({"query": "{a}", "variables": "[]"})).is_err());
        assert!(params_from_json(json!({"query": "{a}", "operationName": 3})).is_err());
        assert!(params_from_json(json!({"query": "{a}", "extensions": []})).is_err());
        assert!(params_from_json(json!([{"query": "{a}"}])).is_err());
    }
}
