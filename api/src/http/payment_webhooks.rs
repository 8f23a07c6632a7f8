//! `POST /webhooks/payments/{processor}/{tenant}`: a payment processor's webhooks to one shop.
//!
//! The raw body is handed to the domain, which checks the `Keel-Signature` against the shop's
//! secret before it reads the body as an event. Answers are for the processor's retry logic:
//! 200 once the event is applied (or was before, or is ignored), 400 for a bad signature or
//! body (nothing changed; a processor does not retry it into success), 404 for an unknown
//! processor or shop or a shop without a secret, 503/500 when storage failed (the processor
//! delivers again).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use domain::DomainError;
use domain::payments::{self, SIGNATURE_HEADER, WebhookReceipt};
use http::{HeaderMap, StatusCode};
use serde_json::json;

use super::state::AppState;
use crate::error::{ApiError, ErrorCode};

/// Receives one webhook delivery.
pub async fn receive(
    State(state): State<AppState>,
    Path((processor, tenant)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|value| value.to_str().ok());
    match payments::receive_processor_event(&state.services.ports, &processor, &tenant, signature, &body).await {
        Ok(receipt) => {
            let outcome = match receipt {
                WebhookReceipt::Applied => "applied",
                WebhookReceipt::Duplicate => "duplicate",
                WebhookReceipt::Ignored => "ignored",
            };
            Json(json!({ "received": true, "outcome": outcome })).into_response()
        }
        Err(DomainError::NotFound) => {
            (StatusCode::NOT_FOUND, Json(json!({ "error": "no payment webhook endpoint here" }))).into_response()
        }
        Err(DomainError::Invalid(invalid)) => {
            let body = json!({ "error": invalid.message(), "code": invalid.code(), "field": invalid.field() });
            (StatusCode::BAD_REQUEST, Json(body)).into_response()
        }
        Err(other) => {
            let error = ApiError::from(other);
            let status = if error.code() == ErrorCode::ServiceUnavailable {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            (status, Json(json!({ "error": "the event could not be stored; deliver it again" }))).into_response()
        }
    }
}
