//! A shop's webhook endpoint, for tests: [`Receiver`] is a real HTTP server on an ephemeral port
//! of 127.0.0.1 that records every request it gets ([`Received`]: headers, body, when it arrived
//! and when it was answered) and answers each by a [`Script`] of [`Answer`]s: at once or after a
//! delay, with any status, with `Retry-After` or a redirect. [`Received::verify`] checks a
//! request's Standard Webhooks signature with a `whsec_` secret through the `standardwebhooks`
//! crate, exactly as a shop's receiver would.
//!
//! A receiver never decides anything from what it receives: its answers depend only on the order
//! requests arrive in, so a test knows in advance what each attempt will get.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::task::JoinHandle;

/// The path every receiver is registered at (its [`Receiver::url`]).
pub const HOOK_PATH: &str = "/hook";

/// One answer of a [`Receiver`]: a status, headers, and how long to wait before sending them.
#[derive(Clone, Debug)]
pub struct Answer {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    delay: Duration,
}

impl Answer {
    /// `200 OK`, at once.
    pub fn ok() -> Answer {
        Answer::status(200)
    }

    /// An empty answer with `status`, at once.
    ///
    /// # Panics
    /// When `status` is not an HTTP status code (a mistake in the test).
    pub fn status(status: u16) -> Answer {
        let status = StatusCode::from_u16(status).unwrap_or_else(|_| panic!("{status} is not an HTTP status"));
        Answer { status, headers: Vec::new(), delay: Duration::ZERO }
    }

    /// `429 Too Many Requests` with `Retry-After: <seconds>`.
    pub fn retry_after(seconds: u64) -> Answer {
        Answer::status(429).header("retry-after", &seconds.to_string())
    }

    /// A redirect with `status` (301, 302, 307, 308) to `location`.
    pub fn redirect(status: u16, location: &str) -> Answer {
        Answer::status(status).header("location", location)
    }

    /// The same answer with header `name: value` added.
    ///
    /// # Panics
    /// When `name` or `value` cannot be a header (a mistake in the test).
    pub fn header(mut self, name: &str, value: &str) -> Answer {
        let name = HeaderName::try_from(name).unwrap_or_else(|_| panic!("{name} is not a header name"));
        let value = HeaderValue::try_from(value).unwrap_or_else(|_| panic!("{value} is not a header value"));
        self.headers.push((name, value));
        self
    }

    /// The same answer, sent `delay` after the request arrived.
    pub fn after(mut self, delay: Duration) -> Answer {
        self.delay = delay;
        self
    }
}

/// What a [`Receiver`] answers, by the order requests arrive in (over all of its requests,
/// whichever delivery they belong to): a run of steps, each answering a number of requests,
/// then one answer for every request after them.
#[derive(Clone, Debug)]
pub struct Script {
    steps: Vec<(usize, Answer)>,
    rest: Answer,
}

impl Script {
    /// Every request gets `answer`.
    pub fn always(answer: Answer) -> Script {
        Script { steps: Vec::new(), rest: answer }
    }

    /// The first `count` requests get `answer`, every later one `200 OK` (see [`Script::then`]).
    pub fn first(count: usize, answer: Answer) -> Script {
        Script { steps: vec![(count, answer)], rest: Answer::ok() }
    }

    /// After the steps so far, the next `count` requests get `answer`.
    pub fn next(mut self, count: usize, answer: Answer) -> Script {
        self.steps.push((count, answer));
        self
    }

    /// After every step, the remaining requests get `answer`.
    pub fn then(mut self, answer: Answer) -> Script {
        self.rest = answer;
        self
    }

    /// The answer to the request at `index` (0 for the first).
    fn answer_for(&self, index: usize) -> &Answer {
        let mut before = 0;
        for (count, answer) in &self.steps {
            before += count;
            if index < before {
                return answer;
            }
        }
        &self.rest
    }
}

/// One request a [`Receiver`] got, and how it answered it.
#[derive(Clone, Debug)]
pub struct Received {
    /// The HTTP method.
    pub method: Method,
    /// The path and query.
    pub path: String,
    /// Every header as sent.
    pub headers: HeaderMap,
    /// The body as sent (webhook bodies are UTF-8 JSON; anything else is kept lossily).
    pub body: String,
    /// When the request (headers and body) had arrived.
    pub arrived: Instant,
    /// The status the script chose for it.
    pub status: u16,
    /// When the answer was handed to the connection, after the script's delay; `None` while
    /// the receiver is still waiting to answer (or when the sender hung up first).
    pub answered: Option<Instant>,
}

impl Received {
    /// The value of header `name`, if it was sent (and is visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The `webhook-id` header.
    ///
    /// # Panics
    /// When there is none, showing the request.
    pub fn webhook_id(&self) -> &str {
        self.header("webhook-id").unwrap_or_else(|| panic!("a webhook without webhook-id: {self:?}"))
    }

    /// The entries of the `webhook-signature` header (`v1,<base64>` each), in order.
    pub fn signatures(&self) -> Vec<&str> {
        self.header("webhook-signature").map(|header| header.split(' ').collect()).unwrap_or_default()
    }

    /// The body parsed as JSON.
    ///
    /// # Panics
    /// When the body is not JSON, showing it.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|err| panic!("the webhook body is not JSON ({err}): {self:?}"))
    }

    /// Whether the receiver answered (or was set to answer) with a 2xx status.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Checks the request's signature, id and timestamp headers with `secret` (`whsec_…`) the
    /// way the Standard Webhooks reference library does: some `v1` signature of
    /// `<webhook-id>.<webhook-timestamp>.<body>` must match, and the timestamp must be within
    /// five minutes of now.
    ///
    /// # Errors
    /// Why the request does not verify (or why `secret` is not a secret).
    pub fn verify(&self, secret: &str) -> Result<(), String> {
        let webhook = standardwebhooks::Webhook::new(secret).map_err(|err| format!("the secret is unusable: {err}"))?;
        webhook.verify(self.body.as_bytes(), &self.headers).map_err(|err| err.to_string())
    }
}

/// What the server task and the tests share.
struct Shared {
    script: Mutex<Script>,
    received: Mutex<Vec<Received>>,
}

/// A running webhook receiver; it stops when dropped.
pub struct Receiver {
    address: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Receiver {
    /// A receiver that answers `200 OK` to everything at once.
    pub async fn ok() -> Receiver {
        Receiver::start(Script::always(Answer::ok())).await
    }

    /// Starts a receiver on an ephemeral port of 127.0.0.1, answering by `script`.
    ///
    /// # Panics
    /// When no port can be bound.
    pub async fn start(script: Script) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port for the receiver");
        let address = listener.local_addr().expect("the receiver's address");
        let shared = Arc::new(Shared { script: Mutex::new(script), received: Mutex::new(Vec::new()) });
        let router = Router::new().fallback(record).with_state(shared.clone());
        let server = tokio::spawn(async move {
            // Serving ends only with the task; an accept error would end it early and show up
            // as requests that never arrive.
            drop(axum::serve(listener, router).await);
        });
        Receiver { address, shared, server }
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The URL to register: `http://127.0.0.1:PORT/hook`.
    pub fn url(&self) -> String {
        format!("http://{}{HOOK_PATH}", self.address)
    }

    /// Answers the requests from now on by `script`, counting from the first request this
    /// receiver ever got.
    pub fn set_script(&self, script: Script) {
        *self.shared.script.lock().unwrap_or_else(PoisonError::into_inner) = script;
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// How many requests have arrived so far.
    pub fn count(&self) -> usize {
        self.shared.received.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Records a request, waits as the script says, then answers as it says.
async fn record(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = Instant::now();
    let (index, answer) = {
        let mut received = shared.received.lock().unwrap_or_else(PoisonError::into_inner);
        let index = received.len();
        let answer = shared.script.lock().unwrap_or_else(PoisonError::into_inner).answer_for(index).clone();
        received.push(Received {
            method,
            path: uri.path_and_query().map_or_else(|| uri.path().to_owned(), ToString::to_string),
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            arrived,
            status: answer.status.as_u16(),
            answered: None,
        });
        (index, answer)
    };
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    shared.received.lock().unwrap_or_else(PoisonError::into_inner)[index].answered = Some(Instant::now());
    let mut response = answer.status.into_response();
    for (name, value) in answer.headers {
        response.headers_mut().append(name, value);
    }
    response
}
