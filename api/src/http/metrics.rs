//! `GET /metrics`: the process's metrics in Prometheus text format, behind a bearer token when
//! one is configured. Gauges of state (the pool, the webhook backlog) are refreshed first (see
//! [`super::state::MetricsState`]).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use subtle::ConstantTimeEq;

use super::state::AppState;

/// The content type of Prometheus's text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(exposition) = state.metrics else { return super::health::not_found().await };
    if let Some(token) = &exposition.token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
            let mut response = (StatusCode::UNAUTHORIZED, "a valid metrics token is required\n").into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    (exposition.refresh)().await;
    let body = exposition.metrics.render();
    ([(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT))], body).into_response()
}
