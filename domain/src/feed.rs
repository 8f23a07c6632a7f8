//! The live feed: outbox events read back, in the order they happened, for the subscriptions
//! that stream them to clients.
//!
//! A server process reads each tenant its subscribers belong to as Keel's own job (the rows are
//! the tenant's, so on PostgreSQL row-level security is set to that tenant as for every read);
//! what a subscriber may see of them is the API's to decide with [`crate::auth::authorize`].

use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::job_scope;
use crate::error::DomainError;
use crate::ids::{EventId, TenantId};
use crate::ports::{Crypto, EventFeedRepo, Ports, Store, Tx};

/// An outbox event as stored: what the outbox repository wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedEvent {
    /// Its id (time-ordered).
    pub id: EventId,
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// Its kind, such as `order.paid`.
    pub kind: String,
    /// The id of what it happened to.
    pub subject: Uuid,
    /// Its versioned JSON payload, as the domain built it.
    pub payload: String,
    /// When it happened.
    pub at: OffsetDateTime,
}

impl FeedEvent {
    /// Where this event sits in the feed's order: by time, then by id.
    pub fn position(&self) -> FeedPosition {
        FeedPosition { at: self.at, id: self.id }
    }
}

/// A place in a tenant's feed, ordered by time and then id; reading "after" it starts with the
/// next event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedPosition {
    /// The event's time.
    pub at: OffsetDateTime,
    /// The event's id.
    pub id: EventId,
}

impl FeedPosition {
    /// The position just before every event of `at` or later.
    pub fn before(at: OffsetDateTime) -> FeedPosition {
        FeedPosition { at, id: EventId::from_uuid(Uuid::nil()) }
    }
}

/// The most events one read returns; [`read_feed`] reads page after page.
pub const FEED_PAGE: u64 = 500;

/// Every event of `tenant` after `after`, oldest first.
///
/// # Errors
/// `Unavailable` or `Internal` when storage fails.
pub async fn read_feed<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    tenant: TenantId,
    after: FeedPosition,
) -> Result<Vec<FeedEvent>, DomainError> {
    let scope = job_scope(tenant);
    let tx = ports.store.begin_read(&scope).await?;
    let mut events = Vec::new();
    let mut from = after;
    loop {
        let page = tx.events_after(&scope, from, FEED_PAGE).await?;
        let full = page.len() as u64 >= FEED_PAGE;
        if let Some(last) = page.last() {
            from = last.position();
        }
        events.extend(page);
        if !full {
            break;
        }
    }
    tx.commit().await?;
    Ok(events)
}
