//! The request id and the one span per request.
//!
//! A client's `x-request-id` is kept when it is 1–64 characters of `A–Z a–z 0–9 . _ -`, so a
//! caller can correlate its own logs; anything else is replaced, so log lines cannot be forged
//! or flooded through the header. The id is returned in the response header and recorded on
//! the span (`request.id`), and `INTERNAL` errors carry it as `extensions.requestId`. When traces
//! are exported, the span also continues the caller's `traceparent` and records `trace_id`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use tracing::{Instrument, field};

/// The header carrying the request id, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Longest client-supplied request id that is kept.
const MAX_REQUEST_ID_LEN: usize = 64;

/// The id of the request being served, in the request's extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

impl RequestId {
    fn from_header(value: Option<&HeaderValue>) -> RequestId {
        let supplied = value.and_then(|v| v.to_str().ok()).filter(|id| {
            (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
        match supplied {
            Some(id) => RequestId(id.to_owned()),
            None => RequestId(uuid::Uuid::now_v7().to_string()),
        }
    }
}

/// Assigns the request id, opens the request span, and logs the outcome with its duration.
pub async fn trace_request(mut request: Request, next: Next) -> Response {
    let id = RequestId::from_header(request.headers().get(REQUEST_ID_HEADER));
    let span = tracing::info_span!(
        "request",
        request.id = %id.0,
        http.method = %request.method(),
        http.path = %request.uri().path(),
        graphql.operation = field::Empty,
        tenant.id = field::Empty,
        trace_id = field::Empty,
    );
    if crate::telemetry::exporting() {
        crate::telemetry::adopt(&span, request.headers());
    }
    request.extensions_mut().insert(id.clone());
    // The route's pattern, not the path (`/webhooks/payments/{processor}/{tenant}`): a label
    // from the router's fixed list, never from the client.
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let started = Instant::now();

    let mut response = next.run(request).instrument(span.clone()).await;

    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    metrics::counter!(crate::metrics::HTTP_RESPONSES, "route" => route, "status" => status.to_string()).increment(1);
    span.in_scope(|| tracing::info!(http.status = status, duration_ms, "request finished"));
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_client_request_id_is_kept_and_anything_else_replaced() {
        let kept = RequestId::from_header(Some(&HeaderValue::from_static("abc-123_X.y")));
        let forged = RequestId::from_header(Some(&HeaderValue::from_static("a b\" level=error")));
        let long = "x".repeat(65);
        let too_long = RequestId::from_header(Some(&HeaderValue::from_str(&long).expect("ascii")));

        assert_eq!(kept.0, "abc-123_X.y");
        assert_ne!(forged.0, "a b\" level=error");
        assert_eq!(too_long.0.len(), 36);
        assert_eq!(RequestId::from_header(None).0.len(), 36);
    }
}
