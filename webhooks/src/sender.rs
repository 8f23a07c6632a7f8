//! [`HttpSender`], the [`WebhookSender`] over reqwest: one signed POST per attempt, no
//! redirects followed, no proxy, the response body never read, and every connection guarded
//! by the domain's address rules.
//!
//! What happened is sorted the port's way: an answer is its status (and its `Retry-After`,
//! whatever the status); no answer is a [`SendFailure::Timeout`], a [`SendFailure::Connect`]
//! with a short reason a shop can read, or a [`SendFailure::Refused`] when the guard would not
//! connect (an IP-literal host checked here, a name whose addresses the resolver dropped, or a
//! message that cannot be signed). Nothing here panics on what a receiver or the network does.

use std::error::Error as _;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::payments::BoxFuture;
use domain::ports::WebhookSender;
use domain::webhooks::{SendFailure, SendOutcome, SigningSecret, TargetPolicy, WebhookMessage, WebhookUrl};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::redirect;
use url::Host;

use crate::guard::{GuardedResolver, ResolveError, check_resolved, refused_literal};
use crate::signature::signature_header;

/// The `User-Agent` of every delivery.
pub const USER_AGENT: &str = concat!("Keel-Webhooks/", env!("CARGO_PKG_VERSION"));

/// The longest `Retry-After` reported; a longer one is cut to it, so a receiver cannot push a
/// retry past any schedule (or past the dates a clock can add it to).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// How long the registration check waits for a name to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// The webhook sender: Standard Webhooks signatures over an SSRF-guarded reqwest client.
#[derive(Clone, Debug)]
pub struct HttpSender {
    client: reqwest::Client,
    policy: TargetPolicy,
}

impl HttpSender {
    /// A sender applying `policy`, giving up on connecting after `connect_timeout` and on the
    /// whole attempt (to the answer's headers) after `total_timeout`.
    ///
    /// # Errors
    /// A reason when the HTTP client cannot be built (no TLS backend).
    pub fn new(policy: TargetPolicy, connect_timeout: Duration, total_timeout: Duration) -> Result<HttpSender, String> {
        let client = reqwest::Client::builder()
            // A redirect would take the delivery to a target nobody checked.
            .redirect(redirect::Policy::none())
            // A proxy would connect on our behalf to addresses the resolver never saw.
            .no_proxy()
            .connect_timeout(connect_timeout)
            .timeout(total_timeout)
            .user_agent(USER_AGENT)
            .dns_resolver(Arc::new(GuardedResolver { policy }))
            .build()
            .map_err(|error| format!("the webhook HTTP client cannot be built: {error}"))?;
        Ok(HttpSender { client, policy })
    }

    /// Sends `message`, or says why it was not sent.
    async fn deliver(&self, message: &WebhookMessage) -> SendOutcome {
        let started = Instant::now();
        let outcome =
            |status, retry_after, failure| SendOutcome { status, retry_after, duration: started.elapsed(), failure };
        let url = message.url.url();
        if let Some(reason) = refused_literal(url.host(), self.policy) {
            return outcome(None, None, Some(SendFailure::Refused(reason)));
        }
        let headers = match headers(message) {
            Ok(headers) => headers,
            Err(reason) => return outcome(None, None, Some(SendFailure::Refused(reason))),
        };
        let sent = self.client.post(url.clone()).headers(headers).body(message.body.clone()).send().await;
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| parse_retry_after(value, SystemTime::now()));
                // The body is never read: what a receiver says is not shown to the shop, and
                // reading it would let a receiver hold the worker.
                drop(response);
                outcome(Some(status), retry_after, None)
            }
            Err(error) => outcome(None, None, Some(failure(&error))),
        }
    }
}

impl WebhookSender for HttpSender {
    fn policy(&self) -> TargetPolicy {
        self.policy
    }

    fn check_target<'a>(&'a self, url: &'a WebhookUrl) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let url = url.url();
            let host = match url.host() {
                None => return Err("the URL has no host".to_owned()),
                Some(Host::Domain(name)) => name,
                Some(literal) => return refused_literal(Some(literal), self.policy).map_or(Ok(()), Err),
            };
            let port = url.port_or_known_default().unwrap_or(443);
            let found: Vec<IpAddr> =
                match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port))).await {
                    Ok(Ok(found)) => found.map(|address| address.ip()).collect(),
                    Ok(Err(_)) => Vec::new(),
                    Err(_) => {
                        return Err(format!(
                            "the host {host} did not resolve within {} seconds",
                            RESOLVE_TIMEOUT.as_secs()
                        ));
                    }
                };
            if found.is_empty() {
                return Err(format!("the host {host} does not resolve"));
            }
            check_resolved(host, &found, self.policy)
        })
    }

    fn new_secret(&self) -> Result<SigningSecret, String> {
        let mut key = [0_u8; 32];
        getrandom::fill(&mut key).map_err(|error| format!("no randomness for a signing secret: {error}"))?;
        Ok(SigningSecret::new(format!("{}{}", SigningSecret::PREFIX, STANDARD.encode(key))))
    }

    fn send<'a>(&'a self, message: &'a WebhookMessage) -> BoxFuture<'a, SendOutcome> {
        Box::pin(self.deliver(message))
    }
}

/// The headers of the Standard Webhooks specification for `message`.
///
/// # Errors
/// A reason when the message cannot be signed or its id cannot be a header.
fn headers(message: &WebhookMessage) -> Result<HeaderMap, String> {
    let timestamp = message.timestamp.unix_timestamp();
    let signature = signature_header(&message.id, timestamp, &message.body, &message.secrets)?;
    let id =
        HeaderValue::from_str(&message.id).map_err(|_| "the delivery's id cannot be sent as a header".to_owned())?;
    // Base64, commas and spaces only: always a valid header value.
    let mut signature =
        HeaderValue::from_str(&signature).map_err(|_| "the delivery's signature cannot be sent".to_owned())?;
    signature.set_sensitive(true);
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(HeaderName::from_static("webhook-id"), id);
    headers.insert(HeaderName::from_static("webhook-timestamp"), HeaderValue::from(timestamp));
    headers.insert(HeaderName::from_static("webhook-signature"), signature);
    Ok(headers)
}

/// A `Retry-After` value as a delay from `now`: delta-seconds, or an HTTP date (a past one is no
/// delay), at most [`MAX_RETRY_AFTER`]; `None` when it is neither.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let delay = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits but too many for a u64 is still "very long".
        value.parse::<u64>().map(Duration::from_secs).unwrap_or(MAX_RETRY_AFTER)
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// What a failed request means for the port.
fn failure(error: &reqwest::Error) -> SendFailure {
    if error.is_timeout() {
        return SendFailure::Timeout;
    }
    let mut deepest: Option<&(dyn std::error::Error + 'static)> = None;
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(resolve) = cause.downcast_ref::<ResolveError>() {
            return match resolve {
                ResolveError::Forbidden { .. } => SendFailure::Refused(resolve.to_string()),
                ResolveError::Unresolvable { .. } => SendFailure::Connect(resolve.to_string()),
            };
        }
        if let Some(reason) = cause.downcast_ref::<io::Error>().and_then(io_reason) {
            return SendFailure::Connect(reason.to_owned());
        }
        deepest = Some(cause);
        source = cause.source();
    }
    // The innermost cause is the most specific (a TLS certificate problem, a connection closed
    // before the answer); the outermost names the URL, which the shop already knows.
    SendFailure::Connect(deepest.map_or_else(|| "the request could not be sent".to_owned(), ToString::to_string))
}

/// A readable reason for the socket errors a shop can act on.
fn io_reason(error: &io::Error) -> Option<&'static str> {
    Some(match error.kind() {
        io::ErrorKind::ConnectionRefused => "the connection was refused",
        io::ErrorKind::ConnectionReset => "the connection was reset",
        io::ErrorKind::ConnectionAborted => "the connection was aborted",
        io::ErrorKind::BrokenPipe | io::ErrorKind::UnexpectedEof => "the connection was closed",
        io::ErrorKind::HostUnreachable => "the host is unreachable",
        io::ErrorKind::NetworkUnreachable => "the network is unreachable",
        io::ErrorKind::AddrNotAvailable => "the address is not available",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(90)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("99999999999999999999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("172800", now), Some(MAX_RETRY_AFTER));
        for garbage in ["", "-1", "1.5", "soon", "Tue, 99 Foo 2024 00:00:00 GMT"] {
            assert_eq!(parse_retry_after(garbage, now), None, "{garbage}");
        }
    }
}
