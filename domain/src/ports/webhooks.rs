//! Webhooks: the endpoints, deliveries and attempts a tenant's transaction stores
//! ([`WebhookRepo`]), the queue every process's worker claims from ([`DeliveryQueue`]), and
//! the sender the Standard Webhooks adapter implements ([`WebhookSender`]).

use std::future::Future;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::TenantScope;
use crate::error::DomainError;
use crate::ids::{EventId, WebhookDeliveryId, WebhookEndpointId};
use crate::page::{Page, PageRequest};
use crate::payments::BoxFuture;
use crate::webhooks::{
    Attempt, Backlog, Claim, Delivery, DeliveryStatus, Endpoint, EventTypes, NextStep, SendOutcome, SigningSecret,
    StoredEvent, TargetPolicy, WebhookMessage, WebhookUrl,
};

/// Signs and sends webhook deliveries, and makes the secrets they are signed with.
pub trait WebhookSender: Send + Sync + 'static {
    /// The address rules this sender applies at connect time.
    fn policy(&self) -> TargetPolicy;

    /// Resolves `url`'s host and checks every address it resolves to (the registration-time
    /// SSRF check; the sender checks again at every connect).
    ///
    /// # Errors
    /// A one-sentence reason, safe to show the shop: the host does not resolve, or resolves to
    /// an address deliveries may not reach.
    fn check_target<'a>(&'a self, url: &'a WebhookUrl) -> BoxFuture<'a, Result<(), String>>;

    /// A new random signing secret (`whsec_` + base64 of 32 random bytes).
    ///
    /// # Errors
    /// A reason when the system has no randomness to give.
    fn new_secret(&self) -> Result<SigningSecret, String>;

    /// POSTs `message` once, signed with each of its secrets, without following redirects.
    fn send<'a>(&'a self, message: &'a WebhookMessage) -> BoxFuture<'a, SendOutcome>;
}

/// Webhook endpoints, deliveries and attempts of one tenant.
pub trait WebhookRepo {
    /// Stores a new endpoint.
    fn insert_endpoint(
        &self,
        scope: &TenantScope,
        endpoint: &Endpoint,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// One endpoint.
    fn endpoint(
        &self,
        scope: &TenantScope,
        id: WebhookEndpointId,
    ) -> impl Future<Output = Result<Option<Endpoint>, DomainError>> + Send;
    /// Writes every field of `endpoint` over the stored one; `false` when it is gone.
    fn save_endpoint(
        &self,
        scope: &TenantScope,
        endpoint: &Endpoint,
    ) -> impl Future<Output = Result<bool, DomainError>> + Send;
    /// Deletes an endpoint with its deliveries and their attempts; `false` when it was not there.
    fn delete_endpoint(
        &self,
        scope: &TenantScope,
        id: WebhookEndpointId,
    ) -> impl Future<Output = Result<bool, DomainError>> + Send;
    /// A page of the tenant's endpoints, oldest first.
    fn endpoints(
        &self,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Endpoint>, DomainError>> + Send;
    /// The enabled endpoints, with what each listens to: who hears of a new event.
    fn listening_endpoints(
        &self,
        scope: &TenantScope,
    ) -> impl Future<Output = Result<Vec<(WebhookEndpointId, EventTypes)>, DomainError>> + Send;
    /// Queues deliveries (none when `deliveries` is empty).
    fn insert_deliveries(
        &self,
        scope: &TenantScope,
        deliveries: &[Delivery],
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// One delivery.
    fn delivery(
        &self,
        scope: &TenantScope,
        id: WebhookDeliveryId,
    ) -> impl Future<Output = Result<Option<Delivery>, DomainError>> + Send;
    /// A page of one endpoint's deliveries, newest first, of one status or all.
    fn deliveries(
        &self,
        scope: &TenantScope,
        endpoint: WebhookEndpointId,
        status: Option<DeliveryStatus>,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Delivery>, DomainError>> + Send;
    /// Every attempt of the given deliveries, by delivery and then attempt number.
    fn attempts_of(
        &self,
        scope: &TenantScope,
        deliveries: &[WebhookDeliveryId],
    ) -> impl Future<Output = Result<Vec<Attempt>, DomainError>> + Send;
    /// Marks an endpoint's `PENDING` deliveries `CANCELLED`; how many there were.
    fn cancel_pending_deliveries(
        &self,
        scope: &TenantScope,
        endpoint: WebhookEndpointId,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<u64, DomainError>> + Send;
    /// The stored event a delivery sends: its type, payload and time.
    fn stored_event(
        &self,
        scope: &TenantScope,
        id: EventId,
    ) -> impl Future<Output = Result<Option<StoredEvent>, DomainError>> + Send;
    /// Records how a claimed attempt ended: stores `attempts` (the attempt, after any earlier
    /// ones whose outcome was lost; stored whenever the delivery still exists, since they
    /// happened; a number already stored is kept), and moves the delivery to `next` only while
    /// the claim's `lease` is still its own and it is still `PENDING`. `true` when it moved.
    fn finish_attempt(
        &self,
        scope: &TenantScope,
        lease: Uuid,
        attempts: &[Attempt],
        next: &NextStep,
    ) -> impl Future<Output = Result<bool, DomainError>> + Send;
}

/// The deliveries waiting across all tenants: claimed by the workers of any number of
/// processes, never one attempt by two of them.
pub trait DeliveryQueue: Send + Sync {
    /// Claims up to `limit` deliveries due at `now`, of any tenant, at most `per_endpoint` in
    /// flight per endpoint (counting those other claims hold), each leased until `until` under
    /// `lease` and with its attempt count raised by one. Skips rows another process is
    /// claiming at the same moment instead of waiting for it.
    fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        until: OffsetDateTime,
        lease: Uuid,
        limit: u32,
        per_endpoint: u32,
    ) -> impl Future<Output = Result<Vec<Claim>, DomainError>> + Send;

    /// How many deliveries of every tenant wait for an attempt, and since when the oldest does.
    fn backlog(&self) -> impl Future<Output = Result<Backlog, DomainError>> + Send;
}
