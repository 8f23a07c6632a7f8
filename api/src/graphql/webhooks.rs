//! The webhooks part of the schema: a shop's endpoints, their delivery log with every attempt,
//! and the mutations that manage them. Everything needs `webhooks:manage`.

use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use domain::DomainError;
use domain::ids::{WebhookDeliveryId, WebhookEndpointId};
use domain::webhooks::{
    self, Attempt, Delivery, DeliveryStatus, EVENT_TYPES, Endpoint, EndpointInput, EndpointStatus, webhook_id,
};
use time::OffsetDateTime;

use super::connection::{connection, list_complexity, page_request};
use super::context::{RequestContext, nullable};
use super::global_id::{self, Kind};
use crate::error::{ApiError, UserError, payload};

/// Whether an endpoint receives deliveries.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "WebhookEndpointStatus")]
pub enum EndpointStatusEnum {
    /// Events of its types are delivered to it.
    Enabled,
    /// Nothing is sent to it, and events are not queued for it.
    Disabled,
}

impl From<EndpointStatus> for EndpointStatusEnum {
    fn from(status: EndpointStatus) -> Self {
        match status {
            EndpointStatus::Enabled => EndpointStatusEnum::Enabled,
            EndpointStatus::Disabled => EndpointStatusEnum::Disabled,
        }
    }
}

/// Where a webhook delivery stands.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "WebhookDeliveryStatus")]
pub enum DeliveryStatusEnum {
    /// Waiting for its next attempt (see `nextAttemptAt`), or being attempted.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// The receiver refused it for good (a 4xx other than 429, or a redirect, which is never
    /// followed), or its address was refused: not retried.
    Failed,
    /// Every allowed attempt failed (5xx, 429, timeouts, connection failures).
    Dead,
    /// Its endpoint was disabled before it was delivered.
    Cancelled,
}

impl From<DeliveryStatus> for DeliveryStatusEnum {
    fn from(status: DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::Pending => DeliveryStatusEnum::Pending,
            DeliveryStatus::Delivered => DeliveryStatusEnum::Delivered,
            DeliveryStatus::Failed => DeliveryStatusEnum::Failed,
            DeliveryStatus::Dead => DeliveryStatusEnum::Dead,
            DeliveryStatus::Cancelled => DeliveryStatusEnum::Cancelled,
        }
    }
}

impl From<DeliveryStatusEnum> for DeliveryStatus {
    fn from(status: DeliveryStatusEnum) -> Self {
        match status {
            DeliveryStatusEnum::Pending => DeliveryStatus::Pending,
            DeliveryStatusEnum::Delivered => DeliveryStatus::Delivered,
            DeliveryStatusEnum::Failed => DeliveryStatus::Failed,
            DeliveryStatusEnum::Dead => DeliveryStatus::Dead,
            DeliveryStatusEnum::Cancelled => DeliveryStatus::Cancelled,
        }
    }
}

/// A URL of the shop's that receives its events as signed POSTs (Standard Webhooks). Its
/// signing secret is shown once, when created or rotated.
#[derive(Clone)]
pub struct WebhookEndpointObject(pub Arc<Endpoint>);

#[Object(name = "WebhookEndpoint")]
impl WebhookEndpointObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id::encode(Kind::WebhookEndpoint, self.0.id.uuid())
    }
    /// Where deliveries are POSTed.
    async fn url(&self) -> &str {
        self.0.url.as_str()
    }
    /// The event types delivered to it (`order.placed`, …; see `webhookEventTypes`).
    async fn event_types(&self) -> Vec<&'static str> {
        self.0.event_types.as_slice().to_vec()
    }
    /// The shop's note about it (may be empty).
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// Whether it receives deliveries.
    async fn status(&self) -> EndpointStatusEnum {
        self.0.status.into()
    }
    /// After a secret rotation, when the previous secret stops signing deliveries beside the
    /// current one; `null` when only the current one signs.
    async fn previous_secret_expires_at(&self) -> Option<OffsetDateTime> {
        self.0.previous_secret.as_ref().map(|(_, until)| *until)
    }
    /// When it was registered.
    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }
    /// When it last changed.
    async fn updated_at(&self) -> OffsetDateTime {
        self.0.updated_at
    }
}

/// One attempt at a delivery.
#[derive(SimpleObject)]
#[graphql(name = "WebhookAttempt")]
pub struct AttemptObject {
    /// 1 for the first attempt.
    pub number: i32,
    /// When it started.
    pub attempted_at: OffsetDateTime,
    /// The receiver's HTTP status; `null` when it did not answer (timeout, connection failure).
    pub http_status: Option<i32>,
    /// How long the attempt took, in milliseconds, to the answer's headers or the failure.
    pub duration_ms: i64,
    /// Why it did not count as delivered; `null` for a 2xx. The receiver's body is not kept.
    pub error: Option<String>,
}

fn attempt_object(attempt: Attempt) -> AttemptObject {
    AttemptObject {
        number: i32::try_from(attempt.number).unwrap_or(i32::MAX),
        attempted_at: attempt.at,
        http_status: attempt.http_status.map(i32::from),
        duration_ms: i64::try_from(attempt.duration.as_millis()).unwrap_or(i64::MAX),
        error: attempt.error,
    }
}

/// The delivery of one event to one endpoint, with every attempt at it.
#[derive(Clone)]
pub struct WebhookDeliveryObject {
    delivery: Delivery,
    /// The endpoint, when the list it came in already read it.
    endpoint: Option<Arc<Endpoint>>,
    /// Its attempts, when the list it came in already read them.
    attempts: Option<Arc<[Attempt]>>,
}

impl WebhookDeliveryObject {
    fn alone(delivery: Delivery) -> Self {
        WebhookDeliveryObject { delivery, endpoint: None, attempts: None }
    }
}

#[Object(name = "WebhookDelivery")]
impl WebhookDeliveryObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id::encode(Kind::WebhookDelivery, self.delivery.id.uuid())
    }
    /// The endpoint it goes to.
    async fn endpoint(&self, ctx: &Context<'_>) -> Result<WebhookEndpointObject, ApiError> {
        if let Some(endpoint) = &self.endpoint {
            return Ok(WebhookEndpointObject(endpoint.clone()));
        }
        let req = RequestContext::of(ctx)?;
        let endpoint = webhooks::endpoint(&req.services.ports, req.caller, self.delivery.endpoint).await?;
        Ok(WebhookEndpointObject(Arc::new(endpoint)))
    }
    /// The event's id as the receiver sees it in the `webhook-id` header: the same for every
    /// attempt and redelivery of the event, so a receiver can drop what it already has.
    async fn event_id(&self) -> String {
        webhook_id(self.delivery.event)
    }
    /// The event's type, as in the body's `type`.
    async fn event_type(&self) -> &str {
        &self.delivery.event_type
    }
    /// Where it stands.
    async fn status(&self) -> DeliveryStatusEnum {
        self.delivery.status.into()
    }
    /// How many attempts were made.
    async fn attempt_count(&self) -> i32 {
        i32::try_from(self.delivery.attempts).unwrap_or(i32::MAX)
    }
    /// When the next attempt is due; `null` unless `PENDING`.
    async fn next_attempt_at(&self) -> Option<OffsetDateTime> {
        self.delivery.next_attempt_at.filter(|_| self.delivery.status == DeliveryStatus::Pending)
    }
    /// When it was queued (with its event, or by `redeliverWebhook`).
    async fn created_at(&self) -> OffsetDateTime {
        self.delivery.created_at
    }
    /// When it last changed.
    async fn updated_at(&self) -> OffsetDateTime {
        self.delivery.updated_at
    }
    /// Every attempt, first first.
    async fn attempts(&self, ctx: &Context<'_>) -> Result<Vec<AttemptObject>, ApiError> {
        if let Some(attempts) = &self.attempts {
            return Ok(attempts.iter().cloned().map(attempt_object).collect());
        }
        let req = RequestContext::of(ctx)?;
        let mut grouped = webhooks::attempts_of(&req.services.ports, req.caller, &[self.delivery.id]).await?;
        Ok(grouped.remove(&self.delivery.id).unwrap_or_default().into_iter().map(attempt_object).collect())
    }
}

/// Resolves `node(id:)` for a webhook endpoint; `node` decides which failures mean "not there".
pub async fn endpoint_node(req: &RequestContext<'_>, id: uuid::Uuid) -> Result<WebhookEndpointObject, DomainError> {
    let endpoint = webhooks::endpoint(&req.services.ports, req.caller, WebhookEndpointId::from_uuid(id)).await?;
    Ok(WebhookEndpointObject(Arc::new(endpoint)))
}

/// Resolves `node(id:)` for a webhook delivery; `node` decides which failures mean "not there".
pub async fn delivery_node(req: &RequestContext<'_>, id: uuid::Uuid) -> Result<WebhookDeliveryObject, DomainError> {
    let delivery = webhooks::delivery(&req.services.ports, req.caller, WebhookDeliveryId::from_uuid(id)).await?;
    Ok(WebhookDeliveryObject::alone(delivery))
}

/// Webhook queries.
#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// The shop's webhook endpoints, oldest first. Needs `webhooks:manage`.
    #[graphql(complexity = "list_complexity(first, last, child_complexity)")]
    async fn webhook_endpoints(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many from the start (after `after`).")] first: Option<i32>,
        #[graphql(desc = "Endpoints after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many from the end (before `before`).")] last: Option<i32>,
        #[graphql(desc = "Endpoints before this cursor.")] before: Option<String>,
    ) -> Result<Connection<String, WebhookEndpointObject>, ApiError> {
        let req = RequestContext::of(ctx)?;
        let page = page_request(first, after, last, before)?;
        let endpoints = webhooks::endpoints(&req.services.ports, req.caller, &page).await?;
        Ok(connection(endpoints, |e| e.id.uuid(), |e| WebhookEndpointObject(Arc::new(e))))
    }

    /// One endpoint's deliveries, newest first, each with its attempts. Needs
    /// `webhooks:manage`. An unknown endpoint is a `NOT_FOUND` error.
    #[graphql(complexity = "list_complexity(first, last, child_complexity)")]
    #[expect(clippy::too_many_arguments, reason = "the endpoint, a status filter and the four Relay arguments")]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint.")] endpoint_id: ID,
        #[graphql(desc = "Only deliveries in this status.")] status: Option<DeliveryStatusEnum>,
        #[graphql(desc = "At most this many from the start (after `after`).")] first: Option<i32>,
        #[graphql(desc = "Deliveries after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many from the end (before `before`).")] last: Option<i32>,
        #[graphql(desc = "Deliveries before this cursor.")] before: Option<String>,
    ) -> Result<Connection<String, WebhookDeliveryObject>, ApiError> {
        let req = RequestContext::of(ctx)?;
        let id = WebhookEndpointId::from_uuid(global_id::decode(Kind::WebhookEndpoint, &endpoint_id)?);
        let page = page_request(first, after, last, before)?;
        let ports = &req.services.ports;
        let endpoint = Arc::new(webhooks::endpoint(ports, req.caller, id).await?);
        let deliveries = webhooks::deliveries(ports, req.caller, id, status.map(Into::into), &page).await?;
        let look = ctx.look_ahead();
        let wants_attempts = look.field("edges").field("node").field("attempts").exists()
            || look.field("nodes").field("attempts").exists();
        let attempts = if wants_attempts {
            let ids: Vec<WebhookDeliveryId> = deliveries.items.iter().map(|d| d.id).collect();
            Some(webhooks::attempts_of(ports, req.caller, &ids).await?)
        } else {
            None
        };
        Ok(connection(
            deliveries,
            |d| d.id.uuid(),
            |delivery| {
                let attempts =
                    attempts.as_ref().map(|all| Arc::from(all.get(&delivery.id).cloned().unwrap_or_default()));
                WebhookDeliveryObject { delivery, endpoint: Some(endpoint.clone()), attempts }
            },
        ))
    }

    /// Every event type an endpoint can listen to, as the delivered body's `type` names it.
    async fn webhook_event_types(&self) -> Vec<&'static str> {
        EVENT_TYPES.to_vec()
    }
}

/// A new webhook endpoint.
#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// Where to POST deliveries: an `https` (or `http`) URL of a public address. Its host is
    /// resolved now, and again at every delivery; private, loopback, link-local and metadata
    /// addresses are refused.
    pub url: String,
    /// The event types to deliver, at least one (see `webhookEventTypes`).
    pub event_types: Vec<String>,
    /// A note, at most 500 characters.
    pub description: Option<String>,
}

/// Changes to an endpoint; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    /// The endpoint.
    pub endpoint_id: ID,
    /// A new URL, checked like a new endpoint's.
    pub url: Option<String>,
    /// New event types, at least one.
    pub event_types: Option<Vec<String>>,
    /// A new note.
    pub description: Option<String>,
}

/// An endpoint to disable.
#[derive(InputObject)]
pub struct DisableWebhookEndpointInput {
    /// The endpoint.
    pub endpoint_id: ID,
}

/// An endpoint to enable.
#[derive(InputObject)]
pub struct EnableWebhookEndpointInput {
    /// The endpoint.
    pub endpoint_id: ID,
}

/// An endpoint whose signing secret to replace.
#[derive(InputObject)]
pub struct RotateWebhookSecretInput {
    /// The endpoint.
    pub endpoint_id: ID,
    /// Seconds the previous secret keeps signing beside the new one (0 to 604800); the
    /// server's default (a day unless configured) when omitted.
    pub grace_period_seconds: Option<i32>,
}

/// An endpoint to delete.
#[derive(InputObject)]
pub struct DeleteWebhookEndpointInput {
    /// The endpoint.
    pub endpoint_id: ID,
}

/// A delivery to send again.
#[derive(InputObject)]
pub struct RedeliverWebhookInput {
    /// The delivery.
    pub delivery_id: ID,
}

/// A new endpoint and its signing secret.
#[derive(SimpleObject, Default)]
pub struct CreateWebhookEndpointPayload {
    /// The endpoint.
    pub endpoint: Option<WebhookEndpointObject>,
    /// The signing secret (`whsec_…`), shown only now: configure your receiver's Standard
    /// Webhooks library with it.
    pub secret: Option<String>,
    /// Why nothing happened, if nothing did.
    pub user_errors: Vec<UserError>,
}

/// An endpoint after a change.
#[derive(SimpleObject, Default)]
pub struct WebhookEndpointPayload {
    /// The endpoint.
    pub endpoint: Option<WebhookEndpointObject>,
    /// Why nothing happened, if nothing did.
    pub user_errors: Vec<UserError>,
}

/// An endpoint with its new signing secret.
#[derive(SimpleObject, Default)]
pub struct RotateWebhookSecretPayload {
    /// The endpoint.
    pub endpoint: Option<WebhookEndpointObject>,
    /// The new signing secret (`whsec_…`), shown only now.
    pub secret: Option<String>,
    /// Why nothing happened, if nothing did.
    pub user_errors: Vec<UserError>,
}

/// A deleted endpoint.
#[derive(SimpleObject, Default)]
pub struct DeleteWebhookEndpointPayload {
    /// The id the endpoint had.
    pub deleted_endpoint_id: Option<ID>,
    /// Why nothing happened, if nothing did.
    pub user_errors: Vec<UserError>,
}

/// A delivery queued again.
#[derive(SimpleObject, Default)]
pub struct WebhookDeliveryPayload {
    /// The new delivery.
    pub delivery: Option<WebhookDeliveryObject>,
    /// Why nothing happened, if nothing did.
    pub user_errors: Vec<UserError>,
}

/// A mutation input's endpoint id (an id of another type is an unknown endpoint).
fn endpoint_id(id: &ID) -> Result<WebhookEndpointId, ApiError> {
    Ok(WebhookEndpointId::from_uuid(global_id::decode_or_unknown(Kind::WebhookEndpoint, id)?))
}

/// Enables or disables the endpoint `id` for the caller.
async fn set_status(
    ctx: &Context<'_>,
    id: &ID,
    status: EndpointStatus,
) -> Result<Option<WebhookEndpointPayload>, ApiError> {
    nullable(async {
        let req = RequestContext::of(ctx)?;
        endpoint_payload(webhooks::set_endpoint_status(&req.services.ports, req.caller, endpoint_id(id)?, status).await)
    })
    .await
}

fn endpoint_payload(result: Result<Endpoint, DomainError>) -> Result<WebhookEndpointPayload, ApiError> {
    payload(
        result,
        |e| WebhookEndpointPayload { endpoint: Some(WebhookEndpointObject(Arc::new(e))), user_errors: Vec::new() },
        |e| WebhookEndpointPayload { endpoint: None, user_errors: e },
    )
}

/// Webhook mutations.
#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Registers a webhook endpoint. The signing secret is in the payload, once. Needs
    /// `webhooks:manage`. A URL that is not allowed is an `INVALID` user error on `url` saying
    /// why.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> Result<Option<CreateWebhookEndpointPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let fields = EndpointInput {
                url: Some(&input.url),
                event_types: Some(&input.event_types),
                description: input.description.as_deref(),
            };
            let result = webhooks::create_endpoint(&req.services.ports, req.caller, fields).await;
            payload(
                result,
                |endpoint| CreateWebhookEndpointPayload {
                    secret: Some(endpoint.secret.expose().to_owned()),
                    endpoint: Some(WebhookEndpointObject(Arc::new(endpoint))),
                    user_errors: Vec::new(),
                },
                |e| CreateWebhookEndpointPayload { user_errors: e, ..Default::default() },
            )
        })
        .await
    }

    /// Changes an endpoint's URL, event types or description; events from now on follow the
    /// new settings. Needs `webhooks:manage`.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: UpdateWebhookEndpointInput,
    ) -> Result<Option<WebhookEndpointPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let id = endpoint_id(&input.endpoint_id)?;
            let fields = EndpointInput {
                url: input.url.as_deref(),
                event_types: input.event_types.as_deref(),
                description: input.description.as_deref(),
            };
            endpoint_payload(webhooks::update_endpoint(&req.services.ports, req.caller, id, fields).await)
        })
        .await
    }

    /// Disables an endpoint: its waiting deliveries are cancelled and no event is queued for
    /// it until it is enabled again. Needs `webhooks:manage`.
    async fn disable_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: DisableWebhookEndpointInput,
    ) -> Result<Option<WebhookEndpointPayload>, ApiError> {
        set_status(ctx, &input.endpoint_id, EndpointStatus::Disabled).await
    }

    /// Enables a disabled endpoint: events from now on are delivered to it (those that
    /// happened meanwhile are not). Needs `webhooks:manage`.
    async fn enable_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: EnableWebhookEndpointInput,
    ) -> Result<Option<WebhookEndpointPayload>, ApiError> {
        set_status(ctx, &input.endpoint_id, EndpointStatus::Enabled).await
    }

    /// Gives an endpoint a new signing secret, in the payload once. The previous secret keeps
    /// signing beside it (two `v1,…` signatures per delivery) for the grace period, so the
    /// receiver can switch without losing a delivery. Needs `webhooks:manage`.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        input: RotateWebhookSecretInput,
    ) -> Result<Option<RotateWebhookSecretPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let id = endpoint_id(&input.endpoint_id)?;
            let grace = match input.grace_period_seconds {
                Some(seconds) => time::Duration::seconds(i64::from(seconds)),
                None => req.services.webhook_rotation_grace,
            };
            let result = webhooks::rotate_secret(&req.services.ports, req.caller, id, grace).await;
            payload(
                result,
                |endpoint| RotateWebhookSecretPayload {
                    secret: Some(endpoint.secret.expose().to_owned()),
                    endpoint: Some(WebhookEndpointObject(Arc::new(endpoint))),
                    user_errors: Vec::new(),
                },
                |e| RotateWebhookSecretPayload { user_errors: e, ..Default::default() },
            )
        })
        .await
    }

    /// Deletes an endpoint with its delivery log. Needs `webhooks:manage`.
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: DeleteWebhookEndpointInput,
    ) -> Result<Option<DeleteWebhookEndpointPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let id = endpoint_id(&input.endpoint_id)?;
            let result = webhooks::delete_endpoint(&req.services.ports, req.caller, id).await;
            payload(
                result,
                |id| DeleteWebhookEndpointPayload {
                    deleted_endpoint_id: Some(global_id::encode(Kind::WebhookEndpoint, id.uuid())),
                    user_errors: Vec::new(),
                },
                |e| DeleteWebhookEndpointPayload { deleted_endpoint_id: None, user_errors: e },
            )
        })
        .await
    }

    /// Queues a delivery's event to its endpoint again, as a new delivery (same `webhook-id`).
    /// Needs `webhooks:manage`; the endpoint must be enabled (`ENDPOINT_DISABLED` otherwise).
    async fn redeliver_webhook(
        &self,
        ctx: &Context<'_>,
        input: RedeliverWebhookInput,
    ) -> Result<Option<WebhookDeliveryPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let id =
                WebhookDeliveryId::from_uuid(global_id::decode_or_unknown(Kind::WebhookDelivery, &input.delivery_id)?);
            let result = webhooks::redeliver(&req.services.ports, req.caller, id).await;
            payload(
                result,
                |d| WebhookDeliveryPayload { delivery: Some(WebhookDeliveryObject::alone(d)), user_errors: Vec::new() },
                |e| WebhookDeliveryPayload { delivery: None, user_errors: e },
            )
        })
        .await
    }
}
