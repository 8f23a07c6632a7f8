//! Webhooks: shops register endpoints, and every event of a type an endpoint listens to is
//! delivered to it at least once, signed per the Standard Webhooks specification.
//!
//! Deliveries are queued with their event, in its transaction (`outbox::publish`); the worker
//! of any process claims due ones and attempts them ([`claim_due`], [`attempt_delivery`]).
//!
//! # Layout
//!
//! - `model`: [`Endpoint`], [`Delivery`], [`Attempt`], what crosses the sender port.
//! - `target`: the SSRF rules ([`WebhookUrl`], [`forbidden_address`]).
//! - `manage`: registering, changing, disabling, rotating, deleting, redelivering.
//! - `queries`: endpoints, deliveries and attempts.
//! - `deliver`: claiming, attempting, and what an answer means ([`judge`], [`backoff`]).

mod deliver;
mod manage;
mod model;
mod queries;
mod target;

pub use deliver::{DeliveryPolicy, attempt_delivery, backoff, claim_due, judge, webhook_id};
pub use manage::{
    EndpointInput, MAX_DESCRIPTION_CHARS, MAX_GRACE, create_endpoint, delete_endpoint, parse_event_types, redeliver,
    rotate_secret, set_endpoint_status, update_endpoint,
};
pub use model::{
    Attempt, Backlog, Claim, Delivery, DeliveryStatus, EVENT_TYPES, Endpoint, EndpointStatus, EventTypes, NextStep,
    SendFailure, SendOutcome, SigningSecret, StoredEvent, WebhookMessage,
};
pub use queries::{attempts_of, deliveries, delivery, endpoint, endpoints};
pub use target::{TargetPolicy, WebhookUrl, forbidden_address};
