//! The deadline for a whole request, from its head being read to its response being ready.
//!
//! A body uploaded a byte at a time, or a handler stuck behind a stalled database, would
//! otherwise hold a connection and a task for as long as the client or the database likes.
//! Past the deadline the handler is dropped (so a transaction it holds rolls back) and the
//! client gets `503` with one GraphQL error coded `SERVICE_UNAVAILABLE`: the shape every other
//! failure has, which tower-http's `TimeoutLayer` (an empty `408`) does not give.

use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use crate::error::ErrorCode;

/// Runs the request, or answers `503` once `timeout` has passed.
pub async fn limit(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let seconds = timeout.as_secs();
            tracing::warn!(timeout_s = seconds, "the request took longer than the request timeout; abandoned");
            let message = format!("the request did not complete within {seconds} s; retry later");
            let body = json!({ "errors": [{
                "message": message,
                "extensions": { "code": ErrorCode::ServiceUnavailable.as_str() },
            }] });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}
