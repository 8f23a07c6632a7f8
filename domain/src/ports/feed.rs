//! Reading the outbox back, for the live feed.

use std::future::Future;

use crate::auth::TenantScope;
use crate::error::DomainError;
use crate::feed::{FeedEvent, FeedPosition};

/// Reads the outbox of one tenant in the order its events happened.
pub trait EventFeedRepo {
    /// At most `limit` events of `scope`'s tenant after `after`, ordered by time and then id.
    fn events_after(
        &self,
        scope: &TenantScope,
        after: FeedPosition,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<FeedEvent>, DomainError>> + Send;
}
