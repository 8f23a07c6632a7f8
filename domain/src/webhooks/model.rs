//! What webhooks are made of: an [`Endpoint`] a shop registered, the [`EventTypes`] it listens
//! to, the [`Delivery`] of one event to it and each [`Attempt`] at sending it.

use std::time::Duration;

use time::OffsetDateTime;

use super::target::WebhookUrl;
use crate::ids::{EventId, TenantId, WebhookDeliveryId, WebhookEndpointId};

/// Every event type a webhook endpoint may listen to, as the `type` of a delivered payload.
pub const EVENT_TYPES: [&str; 12] = [
    "order.placed",
    "order.paid",
    "order.fulfilled",
    "order.cancelled",
    "order.partially_refunded",
    "order.refunded",
    "payment.succeeded",
    "payment.failed",
    "refund.succeeded",
    "refund.failed",
    "stock.changed",
    "stock.low",
];

/// A signing secret in the Standard Webhooks form: `whsec_` and the base64 of the key bytes.
/// Shown to the shop once, when created or rotated; kept by Keel because every delivery is
/// signed with it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(String);

impl SigningSecret {
    /// The prefix every secret starts with.
    pub const PREFIX: &'static str = "whsec_";

    /// Wraps a stored or newly generated secret (the sender port makes new ones).
    pub fn new(text: String) -> SigningSecret {
        SigningSecret(text)
    }

    /// The secret as the shop's receiver is configured with it (`whsec_…`).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(…)")
    }
}

/// The event types an endpoint listens to: a non-empty set of [`EVENT_TYPES`], kept in the
/// order of that list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventTypes(Vec<&'static str>);

impl EventTypes {
    /// The types, in the order of [`EVENT_TYPES`].
    pub fn as_slice(&self) -> &[&'static str] {
        &self.0
    }

    /// Whether an event of `kind` is delivered to the endpoint.
    pub fn contains(&self, kind: &str) -> bool {
        self.0.contains(&kind)
    }

    /// Builds the set from kinds already known to be valid (stored rows); unknown ones are
    /// dropped.
    pub fn from_known<'a>(kinds: impl IntoIterator<Item = &'a str>) -> EventTypes {
        let kinds: Vec<&str> = kinds.into_iter().collect();
        EventTypes(EVENT_TYPES.iter().copied().filter(|known| kinds.contains(known)).collect())
    }
}

/// Whether an endpoint receives deliveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointStatus {
    /// New events are delivered to it.
    Enabled,
    /// Nothing is sent to it; events that happen meanwhile are not queued for it.
    Disabled,
}

impl EndpointStatus {
    /// The stored and GraphQL name.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointStatus::Enabled => "ENABLED",
            EndpointStatus::Disabled => "DISABLED",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<EndpointStatus> {
        match text {
            "ENABLED" => Some(EndpointStatus::Enabled),
            "DISABLED" => Some(EndpointStatus::Disabled),
            _ => None,
        }
    }
}

/// A shop's webhook endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Its id.
    pub id: WebhookEndpointId,
    /// Its shop.
    pub tenant: TenantId,
    /// Where deliveries are POSTed.
    pub url: WebhookUrl,
    /// What it listens to.
    pub event_types: EventTypes,
    /// The shop's note about it.
    pub description: String,
    /// Whether it receives deliveries.
    pub status: EndpointStatus,
    /// The secret deliveries are signed with.
    pub secret: SigningSecret,
    /// After a rotation, the previous secret, which also signs deliveries until it expires.
    pub previous_secret: Option<(SigningSecret, OffsetDateTime)>,
    /// When it was registered.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

impl Endpoint {
    /// The secrets a delivery sent `at` is signed with: the current one, and the previous one
    /// while its grace period lasts.
    pub fn signing_secrets(&self, at: OffsetDateTime) -> Vec<SigningSecret> {
        let mut secrets = vec![self.secret.clone()];
        if let Some((previous, until)) = &self.previous_secret
            && at < *until
        {
            secrets.push(previous.clone());
        }
        secrets
    }
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (or being attempted).
    Pending,
    /// A 2xx answer was received.
    Delivered,
    /// The receiver refused it for good (a 4xx other than 429, a redirect, a refused address):
    /// not retried.
    Failed,
    /// Every allowed attempt failed.
    Dead,
    /// Its endpoint was disabled before it was delivered.
    Cancelled,
}

impl DeliveryStatus {
    /// The stored and GraphQL name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "PENDING",
            DeliveryStatus::Delivered => "DELIVERED",
            DeliveryStatus::Failed => "FAILED",
            DeliveryStatus::Dead => "DEAD",
            DeliveryStatus::Cancelled => "CANCELLED",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        match text {
            "PENDING" => Some(DeliveryStatus::Pending),
            "DELIVERED" => Some(DeliveryStatus::Delivered),
            "FAILED" => Some(DeliveryStatus::Failed),
            "DEAD" => Some(DeliveryStatus::Dead),
            "CANCELLED" => Some(DeliveryStatus::Cancelled),
            _ => None,
        }
    }
}

/// One event's delivery to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Its id.
    pub id: WebhookDeliveryId,
    /// The endpoint.
    pub endpoint: WebhookEndpointId,
    /// The event.
    pub event: EventId,
    /// The event's type.
    pub event_type: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// How many attempts were made.
    pub attempts: u32,
    /// When the next attempt is due (`PENDING` only).
    pub next_attempt_at: Option<OffsetDateTime>,
    /// When it was queued.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The delivery.
    pub delivery: WebhookDeliveryId,
    /// 1 for the first attempt.
    pub number: u32,
    /// When it started.
    pub at: OffsetDateTime,
    /// The receiver's HTTP status, when it answered.
    pub http_status: Option<u16>,
    /// How long it took, to the answer's headers or the failure.
    pub duration: Duration,
    /// Why it did not count as delivered, readable by the shop (no response body).
    pub error: Option<String>,
}

/// One signed POST, as the sender port sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookMessage {
    /// Where.
    pub url: WebhookUrl,
    /// The `webhook-id` header: the same for every attempt of one event to one endpoint.
    pub id: String,
    /// The `webhook-timestamp` header (seconds since the epoch), the time of this attempt.
    pub timestamp: OffsetDateTime,
    /// The JSON body, exactly as signed.
    pub body: String,
    /// The secrets to sign with, each giving one `v1,…` entry of `webhook-signature`.
    pub secrets: Vec<SigningSecret>,
}

/// Why an attempt got no usable answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendFailure {
    /// No answer within the connect or total timeout.
    Timeout,
    /// The connection failed (DNS, refused, reset, TLS); retried.
    Connect(String),
    /// The target resolved to an address deliveries may not reach (SSRF guard); not retried.
    Refused(String),
}

/// What one attempt got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendOutcome {
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// A `Retry-After` the receiver sent (seconds or an HTTP date), as a delay from now.
    pub retry_after: Option<Duration>,
    /// How long the attempt took.
    pub duration: Duration,
    /// Why there was no answer (`None` when `status` is set).
    pub failure: Option<SendFailure>,
}

/// A delivery a worker claimed: it alone attempts it until its lease runs out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The delivery's shop.
    pub tenant: TenantId,
    /// The delivery.
    pub delivery: WebhookDeliveryId,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
}

/// The deliveries of every shop still waiting for an attempt, for operators.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    /// How many deliveries are `PENDING`.
    pub pending: u64,
    /// When the oldest of them was queued (its event committed), if any is.
    pub oldest: Option<OffsetDateTime>,
}

/// Where a delivery goes after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextStep {
    /// Its new status.
    pub status: DeliveryStatus,
    /// When it is attempted again (`PENDING` only).
    pub next_attempt_at: Option<OffsetDateTime>,
    /// When this was decided.
    pub at: OffsetDateTime,
}

/// An event as the outbox stored it, for delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its id.
    pub id: EventId,
    /// Its type (`order.placed`).
    pub kind: String,
    /// Its JSON payload.
    pub payload: String,
    /// When it happened.
    pub at: OffsetDateTime,
}
