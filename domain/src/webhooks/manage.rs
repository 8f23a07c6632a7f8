//! Managing a shop's endpoints: register one (its signing secret shown once), change it,
//! disable and enable it, rotate its secret with a grace period, delete it, and send one of its
//! deliveries again. Every use-case needs `webhooks:manage`.

use time::Duration;

use super::model::{Delivery, DeliveryStatus, EVENT_TYPES, Endpoint, EndpointStatus, EventTypes};
use super::target::WebhookUrl;
use crate::auth::{Caller, Permission, authorize};
use crate::error::{DomainError, Invalid};
use crate::ids::{WebhookDeliveryId, WebhookEndpointId};
use crate::ports::{Crypto, Ports, Store, Tx, WebhookRepo};

/// The longest description kept.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// The longest grace period a rotation may give the previous secret: 7 days.
pub const MAX_GRACE: Duration = Duration::days(7);

/// What a shop gives to register an endpoint, or to change one (where every part is optional).
#[derive(Debug, Default)]
pub struct EndpointInput<'a> {
    /// Where deliveries go.
    pub url: Option<&'a str>,
    /// What it listens to.
    pub event_types: Option<&'a [String]>,
    /// A note.
    pub description: Option<&'a str>,
}

/// Parsed and checked endpoint fields.
#[derive(Debug)]
struct EndpointFields {
    url: Option<WebhookUrl>,
    event_types: Option<EventTypes>,
    description: Option<String>,
}

/// Parses the event types a shop listed: at least one, each one of [`EVENT_TYPES`].
///
/// # Errors
/// One [`Invalid`] per unknown type (`eventTypes.N`), or one on `eventTypes` for an empty list.
pub fn parse_event_types(listed: &[String]) -> Result<EventTypes, Vec<Invalid>> {
    if listed.is_empty() {
        return Err(vec![Invalid::new("eventTypes", "list at least one event type")]);
    }
    let errors: Vec<Invalid> = listed
        .iter()
        .enumerate()
        .filter(|(_, kind)| !EVENT_TYPES.contains(&kind.trim()))
        .map(|(index, kind)| {
            Invalid::new(
                &format!("eventTypes.{index}"),
                format!("{kind:?} is not an event type; the types are {}", EVENT_TYPES.join(", ")),
            )
        })
        .collect();
    if errors.is_empty() { Ok(EventTypes::from_known(listed.iter().map(|kind| kind.trim()))) } else { Err(errors) }
}

/// Checks every given field; the URL's host is resolved and checked as the sender will.
async fn parse_fields<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    input: &EndpointInput<'_>,
) -> Result<EndpointFields, DomainError> {
    let mut errors = Vec::new();
    let mut url = None;
    if let Some(raw) = input.url {
        match WebhookUrl::parse(raw, ports.webhooks.policy()) {
            Ok(parsed) => match ports.webhooks.check_target(&parsed).await {
                Ok(()) => url = Some(parsed),
                Err(reason) => errors.push(Invalid::new("url", reason)),
            },
            Err(reason) => errors.push(Invalid::new("url", reason)),
        }
    }
    let event_types = match input.event_types.map(parse_event_types) {
        Some(Ok(types)) => Some(types),
        Some(Err(invalid)) => {
            errors.extend(invalid);
            None
        }
        None => None,
    };
    let description = input.description.map(str::trim).map(str::to_owned);
    if let Some(text) = &description
        && (text.chars().count() > MAX_DESCRIPTION_CHARS || text.chars().any(char::is_control))
    {
        errors.push(Invalid::new(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters, without control characters"),
        ));
    }
    match errors.len() {
        0 => Ok(EndpointFields { url, event_types, description }),
        1 => Err(DomainError::Invalid(errors.remove(0))),
        _ => Err(DomainError::InvalidFields(errors)),
    }
}

fn secret_failure(reason: String) -> DomainError {
    DomainError::internal(format!("no signing secret could be made: {reason}"))
}

/// Registers an endpoint; it returns with its signing secret, which is never shown again.
///
/// # Errors
/// `Forbidden` without `webhooks:manage`; `Invalid`/`InvalidFields` for a URL that is not
/// allowed (naming why), an unknown or no event type, a long description.
#[tracing::instrument(name = "webhooks.create_endpoint", skip_all, fields(webhook_endpoint.id = tracing::field::Empty))]
pub async fn create_endpoint<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    input: EndpointInput<'_>,
) -> Result<Endpoint, DomainError> {
    let scope = authorize(&caller.actor, Permission::WebhooksManage)?;
    let mut missing = Vec::new();
    if input.url.is_none() {
        missing.push(Invalid::new("url", "is required"));
    }
    if input.event_types.is_none() {
        missing.push(Invalid::new("eventTypes", "list at least one event type"));
    }
    if !missing.is_empty() {
        return Err(DomainError::InvalidFields(missing));
    }
    let fields = parse_fields(ports, &input).await?;
    let (Some(url), Some(event_types)) = (fields.url, fields.event_types) else {
        return Err(DomainError::internal("checked endpoint fields went missing"));
    };
    let now = ports.clock.now();
    let endpoint = Endpoint {
        id: WebhookEndpointId::new(),
        tenant: scope.tenant(),
        url,
        event_types,
        description: fields.description.unwrap_or_default(),
        status: EndpointStatus::Enabled,
        secret: ports.webhooks.new_secret().map_err(secret_failure)?,
        previous_secret: None,
        created_at: now,
        updated_at: now,
    };
    let tx = ports.store.begin(&scope).await?;
    tx.insert_endpoint(&scope, &endpoint).await?;
    tx.commit().await?;
    tracing::Span::current().record("webhook_endpoint.id", tracing::field::display(endpoint.id));
    Ok(endpoint)
}

/// Changes what is given of an endpoint's URL, event types and description. Events that
/// happen afterwards follow the new settings; deliveries already queued keep theirs.
///
/// # Errors
/// `NotFound` for an unknown id or another tenant's; `Forbidden` without `webhooks:manage`;
/// `Invalid`/`InvalidFields` as for [`create_endpoint`].
#[tracing::instrument(name = "webhooks.update_endpoint", skip_all, fields(webhook_endpoint.id = %id))]
pub async fn update_endpoint<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: WebhookEndpointId,
    input: EndpointInput<'_>,
) -> Result<Endpoint, DomainError> {
    let scope = authorize(&caller.actor, Permission::WebhooksManage)?;
    let fields = parse_fields(ports, &input).await?;
    let tx = ports.store.begin(&scope).await?;
    let mut endpoint = tx.endpoint(&scope, id).await?.ok_or(DomainError::NotFound)?;
    if let Some(url) = fields.url {
        endpoint.url = url;
    }
    if let Some(types) = fields.event_types {
        endpoint.event_types = types;
    }
    if let Some(description) = fields.description {
        endpoint.description = description;
    }
    endpoint.updated_at = ports.clock.now();
    if !tx.save_endpoint(&scope, &endpoint).await? {
        return Err(DomainError::NotFound);
    }
    tx.commit().await?;
    Ok(endpoint)
}

/// Enables or disables an endpoint. Disabling cancels its deliveries still waiting
/// (`CANCELLED`), and no event is queued for it while it stays disabled; enabling it again
/// delivers the events that happen from then on. Setting the status it has changes nothing.
///
/// # Errors
/// `NotFound` for an unknown id or another tenant's; `Forbidden` without `webhooks:manage`.
#[tracing::instrument(name = "webhooks.set_endpoint_status", skip_all, fields(webhook_endpoint.id = %id))]
pub async fn set_endpoint_status<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: WebhookEndpointId,
    status: EndpointStatus,
) -> Result<Endpoint, DomainError> {
    let scope = authorize(&caller.actor, Permission::WebhooksManage)?;
    let now = ports.clock.now();
    let tx = ports.store.begin(&scope).await?;
    let mut endpoint = tx.endpoint(&scope, id).await?.ok_or(DomainError::NotFound)?;
    if endpoint.status == status {
        return Ok(endpoint);
    }
    endpoint.status = status;
    endpoint.updated_at = now;
    tx.save_endpoint(&scope, &endpoint).await?;
    if status == EndpointStatus::Disabled {
        tx.cancel_pending_deliveries(&scope, id, now).await?;
    }
    tx.commit().await?;
    Ok(endpoint)
}

/// Gives an endpoint a new signing secret, returned with it once. The previous secret keeps
/// signing deliveries beside the new one for `grace` (the receiver accepts either while it
/// switches); a zero grace retires it at once.
///
/// # Errors
/// `NotFound` for an unknown id or another tenant's; `Forbidden` without `webhooks:manage`;
/// `Invalid` on `gracePeriodSeconds` for a negative grace or one beyond [`MAX_GRACE`].
#[tracing::instrument(name = "webhooks.rotate_secret", skip_all, fields(webhook_endpoint.id = %id))]
pub async fn rotate_secret<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: WebhookEndpointId,
    grace: Duration,
) -> Result<Endpoint, DomainError> {
    let scope = authorize(&caller.actor, Permission::WebhooksManage)?;
    if grace.is_negative() || grace > MAX_GRACE {
        return Err(
            Invalid::new("gracePeriodSeconds", format!("must be 0 to {} seconds", MAX_GRACE.whole_seconds())).into()
        );
    }
    let secret = ports.webhooks.new_secret().map_err(secret_failure)?;
    let now = ports.clock.now();
    let tx = ports.store.begin(&scope).await?;
    let mut endpoint = tx.endpoint(&scope, id).await?.ok_or(DomainError::NotFound)?;
    let previous = std::mem::replace(&mut endpoint.secret, secret);
    endpoint.previous_secret = (grace > Duration::ZERO).then(|| (previous, now + grace));
    endpoint.updated_at = now;
    tx.save_endpoint(&scope, &endpoint).await?;
    tx.commit().await?;
    Ok(endpoint)
}

/// Deletes an endpoint with its delivery log. An attempt in flight still ends, unrecorded.
///
/// # Errors
/// `NotFound` for an unknown id or another tenant's; `Forbidden` without `webhooks:manage`.
#[tracing::instrument(name = "webhooks.delete_endpoint", skip_all, fields(webhook_endpoint.id = %id))]
pub async fn delete_endpoint<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: WebhookEndpointId,
) -> Result<WebhookEndpointId, DomainError> {
    let scope = authorize(&caller.actor, Permission::WebhooksManage)?;
    let tx = ports.store.begin(&scope).await?;
    if !tx.delete_endpoint(&scope, id).await? {
        return Err(DomainError::NotFound);
    }
    tx.commit().await?;
    Ok(id)
}

/// Queues the event of `id` to its endpoint again, as a new delivery with its own attempts
/// (the receiver sees the same `webhook-id`, so it can tell it already has the event).
///
/// # Errors
/// `NotFound` for an unknown id or another tenant's; `Forbidden` without `webhooks:manage`;
/// `Invalid` (`ENDPOINT_DISABLED`, on `deliveryId`) while the endpoint is disabled.
#[tracing::instrument(name = "webhooks.redeliver", skip_all, fields(webhook_delivery.id = %id))]
pub async fn redeliver<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: WebhookDeliveryId,
) -> Result<Delivery, DomainError> {
    let scope = authorize(&caller.actor, Permission::WebhooksManage)?;
    let now = ports.clock.now();
    let tx = ports.store.begin(&scope).await?;
    let original = tx.delivery(&scope, id).await?.ok_or(DomainError::NotFound)?;
    let endpoint = tx.endpoint(&scope, original.endpoint).await?.ok_or(DomainError::NotFound)?;
    if endpoint.status == EndpointStatus::Disabled {
        return Err(Invalid::with_code(
            "deliveryId",
            "ENDPOINT_DISABLED",
            "its endpoint is disabled; enable it before redelivering",
        )
        .into());
    }
    let delivery = Delivery {
        id: WebhookDeliveryId::new(),
        endpoint: original.endpoint,
        event: original.event,
        event_type: original.event_type,
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: Some(now),
        created_at: now,
        updated_at: now,
    };
    tx.insert_deliveries(&scope, std::slice::from_ref(&delivery)).await?;
    tx.commit().await?;
    Ok(delivery)
}
