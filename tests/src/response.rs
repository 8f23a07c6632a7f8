//! A parsed HTTP answer ([`GqlResponse`]) and the ways tests read it.

use serde_json::Value;

/// A parsed HTTP answer.
#[derive(Debug)]
pub struct GqlResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub body: Value,
    /// The body as text.
    pub text: String,
}

impl GqlResponse {
    /// Reads the whole answer.
    pub(crate) async fn read(response: reqwest::Response) -> GqlResponse {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body read");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        GqlResponse { status, headers, body, text }
    }

    /// The `Content-Type` header, or "".
    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// `data`, or `Value::Null`.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// The `errors` array (empty when there is none).
    pub fn errors(&self) -> Vec<Value> {
        self.body["errors"].as_array().cloned().unwrap_or_default()
    }

    /// The `extensions.code` of the first error.
    pub fn error_code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }
}
