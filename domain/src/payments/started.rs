//! What the first transaction of a payment or refund produced, as its idempotency key stores it:
//! the new record to send to the processor, or, for a repeat of the request, the record the first
//! request made, read again as it is now.

use std::future::Future;

use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{Payment, Refund};
use crate::auth::TenantScope;
use crate::error::DomainError;
use crate::idempotency::Outcome;
use crate::ids::{PaymentId, RefundId};
use crate::ports::Tx;

/// A record an idempotency key stores by id: a payment or a refund.
pub(crate) trait Stored: Sized + Send {
    /// Its id.
    fn id(&self) -> Uuid;

    /// The record with `id` as it is now.
    fn read<T: Tx>(
        tx: &T,
        scope: &TenantScope,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<Self>, DomainError>> + Send;
}

impl Stored for Payment {
    fn id(&self) -> Uuid {
        self.id.uuid()
    }

    async fn read<T: Tx>(tx: &T, scope: &TenantScope, id: Uuid) -> Result<Option<Payment>, DomainError> {
        tx.payment(scope, PaymentId::from_uuid(id)).await
    }
}

impl Stored for Refund {
    fn id(&self) -> Uuid {
        self.id.uuid()
    }

    async fn read<T: Tx>(tx: &T, scope: &TenantScope, id: Uuid) -> Result<Option<Refund>, DomainError> {
        tx.refund(scope, RefundId::from_uuid(id)).await
    }
}

/// A new record to send, or the one a first request made.
pub(crate) enum Started<R> {
    /// Written by this request: send it to the processor.
    New(R),
    /// Written by an earlier request with the same key: answer it.
    Replayed(R),
}

impl<R: Stored> Outcome for Started<R> {
    fn record(&self) -> String {
        let (Started::New(record) | Started::Replayed(record)) = self;
        record.id().to_string()
    }

    async fn replay<T: Tx>(
        tx: &T,
        scope: &TenantScope,
        recorded: &str,
        _now: OffsetDateTime,
    ) -> Result<Started<R>, DomainError> {
        let id = Uuid::try_parse(recorded)
            .map_err(|_| DomainError::internal("a stored idempotent payment result is not an id"))?;
        Ok(Started::Replayed(R::read(tx, scope, id).await?.ok_or(DomainError::NotFound)?))
    }
}
