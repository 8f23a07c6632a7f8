//! The outbox read back for the live feed: one tenant's events after a position, by time and
//! then id (the `events` primary key is `(tenant_id, id)`).

use domain::DomainError;
use domain::auth::TenantScope;
use domain::feed::{FeedEvent, FeedPosition};
use domain::ids::{EventId, TenantId};
use domain::ports::EventFeedRepo;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entity::events;
use crate::error::storage_error;
use crate::store::SeaTx;

impl EventFeedRepo for SeaTx {
    async fn events_after(
        &self,
        scope: &TenantScope,
        after: FeedPosition,
        limit: u64,
    ) -> Result<Vec<FeedEvent>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let later = Condition::any().add(events::Column::CreatedAt.gt(after.at)).add(
            Condition::all().add(events::Column::CreatedAt.eq(after.at)).add(events::Column::Id.gt(after.id.uuid())),
        );
        let rows = events::Entity::find()
            .filter(events::Column::TenantId.eq(tenant))
            .filter(later)
            .order_by_asc(events::Column::CreatedAt)
            .order_by_asc(events::Column::Id)
            .limit(limit)
            .all(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(rows
            .into_iter()
            .map(|row| FeedEvent {
                id: EventId::from_uuid(row.id),
                tenant: TenantId::from_uuid(row.tenant_id),
                kind: row.kind,
                subject: row.subject_id,
                payload: row.payload,
                at: row.created_at,
            })
            .collect())
    }
}
