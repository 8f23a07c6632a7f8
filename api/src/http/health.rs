//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database is
//! reachable and fully migrated), plus the JSON 404 for unknown paths.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use super::state::{AppState, ReadyState};

/// `GET /healthz`: 200 while the process lives.
pub async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// `GET /readyz`: 200 when the database is reachable and migrated, 503 with the reason otherwise.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match (state.readiness)().await {
        ReadyState::Ready => Json(json!({ "status": "ready" })).into_response(),
        ReadyState::NotReady(reason) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "reason": reason })))
                .into_response()
        }
    }
}

/// Any unknown path: a JSON 404 naming the endpoints that exist.
pub async fn not_found() -> Response {
    let body = json!({ "error": "not found", "endpoints": ["/graphql", "/healthz", "/readyz"] });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}
