//! The outbox repository: stores each domain event as the domain describes it (kind, subject,
//! payload); nothing here builds or reads a payload.

use domain::DomainError;
use domain::auth::TenantScope;
use domain::events::OutboxEvent;
use domain::ports::OutboxRepo;
use sea_orm::{ConnectionTrait, EntityTrait, IntoActiveModel, QueryTrait};

use crate::entity::events;
use crate::error::storage_error;
use crate::store::SeaTx;

impl OutboxRepo for SeaTx {
    async fn append_events(&self, scope: &TenantScope, events: &[OutboxEvent]) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        if events.is_empty() {
            return Ok(());
        }
        let rows = events.iter().map(|event| {
            events::Model {
                tenant_id: tenant,
                id: event.id.uuid(),
                kind: event.event.kind().to_owned(),
                subject_id: event.event.subject(),
                payload: event.event.payload(),
                created_at: event.at,
            }
            .into_active_model()
        });
        let insert = events::Entity::insert_many(rows).build(self.txn.get_database_backend());
        self.txn.insert_later(insert).await.map_err(storage_error)
    }
}
