//! Publishing domain events: [`publish`] writes them to the outbox and queues a webhook
//! delivery of each to every enabled endpoint listening to its type, all in the transaction of
//! the change they report, so a delivery exists exactly when its event does.

use crate::auth::TenantScope;
use crate::error::DomainError;
use crate::events::OutboxEvent;
use crate::ids::WebhookDeliveryId;
use crate::ports::{OutboxRepo, WebhookRepo};
use crate::webhooks::{Delivery, DeliveryStatus};

/// Appends `events` to the outbox and queues their deliveries (one more read of the shop's
/// enabled endpoints; nothing is written for a shop without any).
///
/// # Errors
/// Storage failures; the caller's transaction then rolls back with its change.
pub(crate) async fn publish<T: OutboxRepo + WebhookRepo>(
    tx: &T,
    scope: &TenantScope,
    events: &[OutboxEvent],
) -> Result<(), DomainError> {
    if events.is_empty() {
        return Ok(());
    }
    tx.append_events(scope, events).await?;
    let listening = tx.listening_endpoints(scope).await?;
    let deliveries: Vec<Delivery> = events
        .iter()
        .flat_map(|event| {
            let kind = event.event.kind();
            listening.iter().filter(move |(_, types)| types.contains(kind)).map(move |(endpoint, _)| Delivery {
                id: WebhookDeliveryId::new(),
                endpoint: *endpoint,
                event: event.id,
                event_type: kind.to_owned(),
                status: DeliveryStatus::Pending,
                attempts: 0,
                next_attempt_at: Some(event.at),
                created_at: event.at,
                updated_at: event.at,
            })
        })
        .collect();
    tx.insert_deliveries(scope, &deliveries).await
}
