//! The outbox: domain events stored in the transaction of the change they report.

use std::future::Future;

use crate::auth::TenantScope;
use crate::error::DomainError;
use crate::events::OutboxEvent;

/// The outbox of domain events, written in the transaction of the change each reports.
pub trait OutboxRepo {
    /// Stores events with the kind, subject and payload the domain gave each, in one statement
    /// (none when `events` is empty). Use-cases publish through `outbox::publish`, which also
    /// queues their webhook deliveries.
    fn append_events(
        &self,
        scope: &TenantScope,
        events: &[OutboxEvent],
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
}
