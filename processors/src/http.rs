//! [`HttpProcessor`], the client of a Stripe-shaped processor API: form-encoded
//! `POST /v1/payment_intents` (with `confirm=true`), `POST /v1/refunds` and
//! `GET /v1/payment_intents/{id}`, each with a bearer secret and an `Idempotency-Key`.
//!
//! Every answer is sorted three ways, the rule the domain relies on: an outcome (succeeded,
//! pending, declined or failed); [`ProcessorError::NotSent`] only when the request certainly did
//! nothing (no connection, credentials refused, rate limited); and [`ProcessorError::Unknown`]
//! for everything else (a timeout, a 5xx, a body that does not parse), which a later call with
//! the same key settles. Redirects are never followed, and the secret is never logged.

use std::fmt;
use std::time::Duration;

use domain::DomainError;
use domain::error::Invalid;
use domain::payments::{
    BoxFuture, ChargeRequest, Charged, Failure, ProcessorError, ProcessorEvent, ProcessorKind, RefundRequest, Refunded,
};
use domain::ports::PaymentProcessor;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode, redirect};
use serde::de::DeserializeOwned;
use url::Url;

use crate::stripe::{self, ErrorBody, PaymentIntent, RefundObject};

/// The largest answer body read; a larger one is an unknown outcome (Stripe's are a few KiB).
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// The default total time for one request, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default time for opening a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long to wait before trying again when the request cannot be made as configured (the
/// processor refused the credentials, an id cannot be sent): an operator fixes that, not a
/// retry at once.
pub const CONFIGURATION_RETRY_AFTER_SECS: u64 = 30;
/// How long to wait after a refused connection, or a 429 without `Retry-After`.
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 1;

/// The setting the base URL comes from, named in configuration errors.
const URL_SETTING: &str = "KEEL_PAYMENT_PROCESSOR_URL";
/// The setting the secret comes from, named in configuration errors.
const SECRET_SETTING: &str = "KEEL_PAYMENT_PROCESSOR_SECRET";

/// Where the processor API is and how to reach it.
#[derive(Clone)]
pub struct HttpSettings {
    /// The API's root, e.g. `https://api.stripe.com`; `/v1/…` is appended to its path.
    pub base_url: Url,
    /// The bearer secret (Stripe: the secret key `sk_…`).
    pub secret: String,
    /// The total time for one request, from connecting to the last byte of the answer.
    pub timeout: Duration,
    /// The time for opening a connection; past it nothing was sent.
    pub connect_timeout: Duration,
}

impl HttpSettings {
    /// Settings with the default timeouts.
    pub fn new(base_url: Url, secret: impl Into<String>) -> HttpSettings {
        HttpSettings {
            base_url,
            secret: secret.into(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

impl fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSettings")
            .field("base_url", &self.base_url.as_str())
            .field("secret", &"[redacted]")
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// The HTTP processor ([`ProcessorKind::Http`]): a Stripe-shaped API at a configured URL.
#[derive(Clone)]
pub struct HttpProcessor {
    client: reqwest::Client,
    base_url: Url,
    timeout: Duration,
}

impl fmt::Debug for HttpProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProcessor").field("base_url", &self.base_url.as_str()).finish_non_exhaustive()
    }
}

impl HttpProcessor {
    /// A client for the API at `settings.base_url`.
    ///
    /// # Errors
    /// `Invalid` naming `KEEL_PAYMENT_PROCESSOR_URL` for a URL that is not `http` or `https` or
    /// carries a user, password, query or fragment (the secret has its own setting, and error
    /// texts show the URL), or `KEEL_PAYMENT_PROCESSOR_SECRET` for an empty secret or one with
    /// characters a header cannot carry; `Internal` when the HTTP client cannot be built.
    pub fn new(settings: HttpSettings) -> Result<HttpProcessor, DomainError> {
        let base_url = settings.base_url;
        let plain = base_url.username().is_empty()
            && base_url.password().is_none()
            && base_url.query().is_none()
            && base_url.fragment().is_none();
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() || !plain {
            return Err(Invalid::new(
                URL_SETTING,
                "must be an http or https URL without user, password, query or fragment, e.g. https://api.stripe.com",
            )
            .into());
        }
        let secret = &settings.secret;
        let invalid_secret = || Invalid::new(SECRET_SETTING, "must be the processor's secret key, visible ASCII only");
        if secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid_secret().into());
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {secret}")).map_err(|_| invalid_secret())?;
        authorization.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, authorization);
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .redirect(redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .build()
            .map_err(DomainError::internal)?;
        Ok(HttpProcessor { client, base_url, timeout: settings.timeout })
    }

    /// The base URL with `segments` appended, each percent-encoded as one path segment.
    fn endpoint(&self, segments: &[&str]) -> Result<Url, ProcessorError> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| not_sent("the processor URL cannot take a path", CONFIGURATION_RETRY_AFTER_SECS))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    async fn charge_now(&self, request: &ChargeRequest) -> Result<Charged, ProcessorError> {
        let form = [
            ("amount", request.amount.minor().to_string()),
            ("currency", request.amount.currency().code().to_ascii_lowercase()),
            ("payment_method", request.method.as_str().to_owned()),
            ("confirm", "true".to_owned()),
            ("metadata[keel_payment_id]", request.payment.to_string()),
            ("metadata[keel_order_id]", request.order.to_string()),
            ("metadata[keel_tenant_id]", request.tenant.to_string()),
        ];
        let url = self.endpoint(&["v1", "payment_intents"])?;
        let call = self.client.post(url).form(&form);
        let answer = self.send(call, Some(&request.idempotency_key)).await?;
        charge_answer(answer)
    }

    async fn refund_now(&self, request: &RefundRequest) -> Result<Refunded, ProcessorError> {
        let form = [
            ("payment_intent", request.charge_reference.clone()),
            ("amount", request.amount.minor().to_string()),
            ("metadata[keel_refund_id]", request.refund.to_string()),
            ("metadata[keel_payment_id]", request.payment.to_string()),
            ("metadata[keel_tenant_id]", request.tenant.to_string()),
        ];
        let url = self.endpoint(&["v1", "refunds"])?;
        let answer = self.send(self.client.post(url).form(&form), Some(&request.idempotency_key)).await?;
        refund_answer(answer)
    }

    async fn lookup_now(&self, reference: &str) -> Result<Charged, ProcessorError> {
        // `.` and `..` would be resolved away as path segments, and an empty id would ask for the
        // list of intents: none of them names one intent.
        if matches!(reference, "" | "." | "..") {
            let failure = Failure::new("resource_missing", format!("No such payment_intent: '{reference}'"));
            return Ok(Charged::Declined { reference: None, failure });
        }
        let url = self.endpoint(&["v1", "payment_intents", reference])?;
        let answer = self.send(self.client.get(url), None).await?;
        // A lookup is answered like a charge: an intent, or the refusal of an unknown one.
        charge_answer(answer)
    }

    /// Sends `call`, with `Idempotency-Key: key` when given, and reads the answer.
    async fn send(&self, call: RequestBuilder, key: Option<&str>) -> Result<Answer, ProcessorError> {
        let call = match key {
            Some(key) => {
                let key = HeaderValue::from_str(key).map_err(|_| {
                    not_sent("the idempotency key cannot be sent as a header", CONFIGURATION_RETRY_AFTER_SECS)
                })?;
                call.header("Idempotency-Key", key)
            }
            None => call,
        };
        let mut response = call.send().await.map_err(|err| self.transport_error(&err))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|err| self.transport_error(&err))? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(unknown(format!("the processor's answer is larger than {MAX_ANSWER_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer { status, retry_after, body })
    }

    /// What a failed exchange means: nothing sent when no connection was made, else unknown.
    fn transport_error(&self, err: &reqwest::Error) -> ProcessorError {
        if err.is_connect() {
            not_sent(format!("could not connect to the processor: {}", chain(err)), DEFAULT_RETRY_AFTER_SECS)
        } else if err.is_builder() {
            not_sent(format!("the request could not be built: {}", chain(err)), CONFIGURATION_RETRY_AFTER_SECS)
        } else if err.is_timeout() {
            unknown(format!("no answer within {} ms", self.timeout.as_millis()))
        } else {
            unknown(format!("the exchange with the processor failed: {}", chain(err)))
        }
    }
}

/// An answer read whole.
struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    body: Vec<u8>,
}

impl Answer {
    fn parse<T: DeserializeOwned>(&self, what: &str) -> Result<T, ProcessorError> {
        serde_json::from_slice(&self.body).map_err(|err| {
            unknown(format!("the processor answered HTTP {} with a body that is not {what}: {err}", self.status))
        })
    }

    /// Whether the status is one whose error body says why the request was refused, with
    /// nothing done: a card decline (402), an invalid request (400), an unknown object (404).
    fn is_refusal(&self) -> bool {
        matches!(self.status, StatusCode::BAD_REQUEST | StatusCode::PAYMENT_REQUIRED | StatusCode::NOT_FOUND)
    }

    /// The refusal's error, or `Unknown` when the body is not one or reports a reused key (the
    /// first request with that key may have gone through).
    fn refusal(&self) -> Result<stripe::ErrorObject, ProcessorError> {
        let body: ErrorBody = self.parse("an error")?;
        if body.error.is_idempotency_error() {
            return Err(unknown(format!(
                "the processor refused the idempotency key: {}",
                body.error.message.as_deref().unwrap_or("no message")
            )));
        }
        Ok(body.error)
    }

    /// The error of any status that is neither success nor refusal.
    fn error(&self) -> ProcessorError {
        match self.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => not_sent(
                "the processor refused Keel's credentials (check KEEL_PAYMENT_PROCESSOR_SECRET)",
                CONFIGURATION_RETRY_AFTER_SECS,
            ),
            StatusCode::TOO_MANY_REQUESTS => not_sent(
                "the processor is rate limiting Keel",
                self.retry_after.unwrap_or(DEFAULT_RETRY_AFTER_SECS).max(DEFAULT_RETRY_AFTER_SECS),
            ),
            StatusCode::CONFLICT => unknown("the processor is still running a request with the same idempotency key"),
            status if status.is_server_error() => unknown(format!("the processor answered HTTP {status}")),
            status => unknown(format!("the processor answered HTTP {status}, which Keel does not expect")),
        }
    }
}

fn charge_answer(answer: Answer) -> Result<Charged, ProcessorError> {
    if answer.status.is_success() {
        let intent: PaymentIntent = answer.parse("a payment intent")?;
        return stripe::charged(&intent).map_err(unknown);
    }
    if !answer.is_refusal() {
        return Err(answer.error());
    }
    let error = answer.refusal()?;
    let fallback = Failure::new("payment_failed", "The processor refused the payment.");
    let reference = error.payment_intent.as_ref().map(|intent| intent.id.clone());
    Ok(Charged::Declined { reference, failure: error.failure(&fallback) })
}

fn refund_answer(answer: Answer) -> Result<Refunded, ProcessorError> {
    if answer.status.is_success() {
        let refund: RefundObject = answer.parse("a refund")?;
        return stripe::refunded(&refund).map_err(unknown);
    }
    if !answer.is_refusal() {
        return Err(answer.error());
    }
    let fallback = Failure::new("refund_failed", "The processor refused the refund.");
    Ok(Refunded::Failed { reference: None, failure: answer.refusal()?.failure(&fallback) })
}

fn not_sent(reason: impl Into<String>, retry_after_secs: u64) -> ProcessorError {
    ProcessorError::NotSent { reason: reason.into(), retry_after_secs }
}

fn unknown(reason: impl Into<String>) -> ProcessorError {
    ProcessorError::Unknown { reason: reason.into() }
}

/// An error and its sources on one line: reqwest's own text rarely says what failed.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl PaymentProcessor for HttpProcessor {
    fn kind(&self) -> ProcessorKind {
        ProcessorKind::Http
    }

    fn ready(&self) -> Result<(), u64> {
        Ok(())
    }

    fn charge<'a>(&'a self, request: &'a ChargeRequest) -> BoxFuture<'a, Result<Charged, ProcessorError>> {
        Box::pin(self.charge_now(request))
    }

    fn refund<'a>(&'a self, request: &'a RefundRequest) -> BoxFuture<'a, Result<Refunded, ProcessorError>> {
        Box::pin(self.refund_now(request))
    }

    fn lookup<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<Charged, ProcessorError>> {
        Box::pin(self.lookup_now(reference))
    }

    fn parse_event(&self, body: &[u8]) -> Result<ProcessorEvent, String> {
        crate::events::parse_event(body)
    }
}
