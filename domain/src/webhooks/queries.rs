//! Reading a shop's endpoints, their deliveries and each delivery's attempts (`webhooks:manage`).

use std::collections::HashMap;

use super::model::{Attempt, Delivery, DeliveryStatus, Endpoint};
use crate::auth::{Caller, Permission, authorize};
use crate::error::DomainError;
use crate::ids::{WebhookDeliveryId, WebhookEndpointId};
use crate::page::{Page, PageRequest};
use crate::ports::{Crypto, Ports, Store, Tx, WebhookRepo};

/// A page of the shop's endpoints, oldest first.
///
/// # Errors
/// `Forbidden` without `webhooks:manage`.
pub async fn endpoints<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    page: &PageRequest,
) -> Result<Page<Endpoint>, DomainError> {
    let scope = authorize(&caller.actor, Permission::WebhooksManage)?;
    let tx = ports.store.begin_read(&scope).await?;
    let endpoints = tx.endpoints(&scope, page).await?;
    tx.commit().await?;
    Ok(endpoints)
}

/// One endpoint of the shop.
///
/// # Errors
/// `NotFound` for an unknown id or another tenant's; `Forbidden` without `webhooks:manage`.
pub async fn endpoint<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: WebhookEndpointId,
) -> Result<Endpoint, DomainError> {
    let scope = authorize(&caller.actor, Permission::WebhooksManage)?;
    let tx = ports.store.begin_read(&scope).await?;
    let endpoint = tx.endpoint(&scope, id).await?;
    tx.commit().await?;
    endpoint.ok_or(DomainError::NotFound)
}

/// A page of one endpoint's deliveries, newest first, of one status or all.
///
/// # Errors
/// `NotFound` for an unknown endpoint or another tenant's; `Forbidden` without
/// `webhooks:manage`.
pub async fn deliveries<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    endpoint: WebhookEndpointId,
    status: Option<DeliveryStatus>,
    page: &PageRequest,
) -> Result<Page<Delivery>, DomainError> {
    let scope = authorize(&caller.actor, Permission::WebhooksManage)?;
    let tx = ports.store.begin_read(&scope).await?;
    if tx.endpoint(&scope, endpoint).await?.is_none() {
        return Err(DomainError::NotFound);
    }
    let deliveries = tx.deliveries(&scope, endpoint, status, page).await?;
    tx.commit().await?;
    Ok(deliveries)
}

/// One delivery of the shop.
///
/// # Errors
/// `NotFound` for an unknown id or another tenant's; `Forbidden` without `webhooks:manage`.
pub async fn delivery<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: WebhookDeliveryId,
) -> Result<Delivery, DomainError> {
    let scope = authorize(&caller.actor, Permission::WebhooksManage)?;
    let tx = ports.store.begin_read(&scope).await?;
    let delivery = tx.delivery(&scope, id).await?;
    tx.commit().await?;
    delivery.ok_or(DomainError::NotFound)
}

/// The attempts of several deliveries in one read, by delivery, each list by attempt number.
///
/// # Errors
/// `Forbidden` without `webhooks:manage`.
pub async fn attempts_of<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    deliveries: &[WebhookDeliveryId],
) -> Result<HashMap<WebhookDeliveryId, Vec<Attempt>>, DomainError> {
    let scope = authorize(&caller.actor, Permission::WebhooksManage)?;
    let tx = ports.store.begin_read(&scope).await?;
    let attempts = tx.attempts_of(&scope, deliveries).await?;
    tx.commit().await?;
    let mut grouped: HashMap<WebhookDeliveryId, Vec<Attempt>> = HashMap::new();
    for attempt in attempts {
        grouped.entry(attempt.delivery).or_default().push(attempt);
    }
    Ok(grouped)
}
