//! A parsed HTTP answer ([`GqlResponse`]) and the ways tests read it.
//!
//! Readers that extract something a test goes on to use (`expect_str`, `user_errors`, `nodes`,
//! …) fail loudly: when the value is missing they panic with the whole body, so a refused
//! request shows up as itself, never as an empty string or an empty list that a later assertion
//! might even accept.

use serde_json::Value;

/// A parsed HTTP answer.
#[derive(Debug)]
pub struct GqlResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON (`Value::Null` when it is not JSON: a page, an asset; see `text`).
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

    /// The value of header `name`, if it was sent (and is visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The `Content-Type` header.
    ///
    /// # Panics
    /// When there is none.
    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or_else(|| panic!("no Content-Type in the answer: {}", self.text))
    }

    /// `data`, or `Value::Null`.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// The `errors` array (empty when there is none).
    ///
    /// # Panics
    /// When `errors` is there but not an array.
    pub fn errors(&self) -> Vec<Value> {
        match self.body.get("errors") {
            None => Vec::new(),
            Some(errors) => errors.as_array().cloned().unwrap_or_else(|| panic!("errors is not a list: {}", self.text)),
        }
    }

    /// The `extensions.code` of the first error.
    pub fn error_code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    /// The string at `pointer`, a JSON pointer into the body (`/data/login/accessToken`).
    ///
    /// # Panics
    /// When there is no string there, showing the body (and so any error or `userErrors`).
    pub fn expect_str(&self, pointer: &str) -> String {
        self.body
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no string at {pointer} in the answer: {}", self.text))
    }

    /// Checks that the mutation `field` succeeded: no error, and an empty `userErrors` (which
    /// must be selected). Returns the response, to read the payload from.
    ///
    /// # Panics
    /// On any error or user error, or when `userErrors` was not selected, showing the body.
    pub fn assert_accepted(&self, field: &str) -> &GqlResponse {
        let refused = !self.errors().is_empty() || !self.user_errors(field).is_empty();
        assert!(!refused, "{field} was refused: {}", self.text);
        self
    }

    /// `data.<field>.userErrors`, in order.
    ///
    /// # Panics
    /// When it is not a list (the field failed, or `userErrors` was not selected).
    pub fn user_errors(&self, field: &str) -> Vec<Value> {
        self.data()[field]["userErrors"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("no {field}.userErrors in the answer: {}", self.text))
    }

    /// The `code` of each of `data.<field>.userErrors`, in order.
    ///
    /// # Panics
    /// As [`GqlResponse::user_errors`] does, and when a user error has no `code`.
    pub fn user_error_codes(&self, field: &str) -> Vec<String> {
        self.user_errors(field).iter().map(|error| self.string_in(error, "code")).collect()
    }

    /// The `edges` of the connection `data.<connection>`, in order.
    ///
    /// # Panics
    /// When there are none to read (the field failed, or `edges` was not selected), showing
    /// the body.
    pub fn edges(&self, connection: &str) -> Vec<Value> {
        self.data()[connection]["edges"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("no {connection}.edges in the answer: {}", self.text))
    }

    /// The `node` of each edge of the connection `data.<connection>`, in order.
    ///
    /// # Panics
    /// As [`GqlResponse::edges`] does.
    pub fn nodes(&self, connection: &str) -> Vec<Value> {
        self.edges(connection).into_iter().map(|mut edge| edge["node"].take()).collect()
    }

    /// The string `field` of each node of the connection `data.<connection>`, in order.
    ///
    /// # Panics
    /// As [`GqlResponse::edges`] does, and when a node has no string `field`.
    pub fn node_strings(&self, connection: &str, field: &str) -> Vec<String> {
        self.nodes(connection).iter().map(|node| self.string_in(node, field)).collect()
    }

    /// The string `field` of `object`, a value read from this response.
    fn string_in(&self, object: &Value, field: &str) -> String {
        object[field]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no string {field} in {object}, in the answer: {}", self.text))
    }
}
