//! The idempotency repository.

use domain::auth::TenantScope;
use domain::idempotency::{IdempotencyKey, Recorded};
use domain::identity::SecretHash;
use domain::ports::IdempotencyRepo;
use domain::{DomainError, Taken};
use sea_orm::{EntityTrait, IntoActiveModel};
use time::OffsetDateTime;

use crate::entity::idempotency_keys;
use crate::error::{on_unique, storage_error};
use crate::store::SeaTx;

impl IdempotencyRepo for SeaTx {
    async fn idempotency_record(
        &self,
        scope: &TenantScope,
        operation: &str,
        key: &IdempotencyKey,
    ) -> Result<Option<Recorded>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let found = idempotency_keys::Entity::find_by_id((tenant, operation.to_owned(), key.as_str().to_owned()))
            .one(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(found.map(|row| Recorded { request_hash: SecretHash(row.request_hash), result: row.result }))
    }

    async fn save_idempotency(
        &self,
        scope: &TenantScope,
        operation: &str,
        key: &IdempotencyKey,
        recorded: &Recorded,
        now: OffsetDateTime,
    ) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        let row = idempotency_keys::Model {
            tenant_id: tenant,
            operation: operation.to_owned(),
            key: key.as_str().to_owned(),
            request_hash: recorded.request_hash.0.clone(),
            result: recorded.result.clone(),
            created_at: now,
        };
        idempotency_keys::Entity::insert(row.into_active_model())
            .exec_without_returning(&self.txn)
            .await
            .map_err(|err| on_unique(err, Taken::IdempotencyKey))?;
        Ok(())
    }
}
