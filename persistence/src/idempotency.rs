//! The idempotency repository. A key's namespace is the customer's user id under a customer's
//! scope and the tenant's id otherwise, so customers never share keys with each other or with
//! the shop.

use domain::DomainError;
use domain::auth::TenantScope;
use domain::idempotency::{Claim, Recorded, still_in_progress};
use domain::identity::SecretHash;
use domain::ports::IdempotencyRepo;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, TryInsertResult};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::idempotency_keys::{self, Column};
use crate::error::{is_timeout, storage_error};
use crate::store::SeaTx;

impl SeaTx {
    /// `(tenant, namespace)` of `scope`'s keys.
    fn key_owner(&self, scope: &TenantScope) -> Result<(Uuid, Uuid), DomainError> {
        let tenant = self.tenant_of(scope)?;
        Ok((tenant, scope.customer().map_or(tenant, |customer| customer.uuid())))
    }
}

impl IdempotencyRepo for SeaTx {
    async fn claim_idempotency_key(
        &self,
        scope: &TenantScope,
        claim: &Claim,
        now: OffsetDateTime,
    ) -> Result<Option<Recorded>, DomainError> {
        let (tenant, namespace) = self.key_owner(scope)?;
        let row = idempotency_keys::Model {
            tenant_id: tenant,
            namespace,
            operation: claim.operation.as_str().to_owned(),
            key: claim.key.as_str().to_owned(),
            request_hash: claim.fingerprint.0.clone(),
            result: None,
            created_at: now,
        };
        // On PostgreSQL, an insert meeting a row that another transaction inserted and has not
        // committed waits for that transaction, then does nothing (it committed) or inserts (it
        // rolled back). A wait cut short by the statement timeout means that request runs on.
        let inserted = idempotency_keys::Entity::insert(row.into_active_model())
            .on_conflict_do_nothing_on([Column::TenantId, Column::Namespace, Column::Operation, Column::Key])
            .exec_without_returning(&self.txn)
            .await
            .map_err(|err| if is_timeout(&err) { still_in_progress() } else { storage_error(err) })?;
        if matches!(inserted, TryInsertResult::Inserted(rows) if rows > 0) {
            return Ok(None);
        }
        let found = idempotency_keys::Entity::find_by_id((
            tenant,
            namespace,
            claim.operation.as_str().to_owned(),
            claim.key.as_str().to_owned(),
        ))
        .one(&self.txn)
        .await
        .map_err(storage_error)?;
        // Purged between the two statements: run again, and the claim succeeds.
        let row = found.ok_or_else(|| DomainError::contention("an idempotency key was purged while it was claimed"))?;
        Ok(Some(Recorded { request_hash: SecretHash(row.request_hash), result: row.result }))
    }

    async fn complete_idempotency_key(
        &self,
        scope: &TenantScope,
        claim: &Claim,
        result: &str,
    ) -> Result<(), DomainError> {
        let (tenant, namespace) = self.key_owner(scope)?;
        let updated = idempotency_keys::Entity::update_many()
            .col_expr(Column::Result, Expr::value(result))
            .filter(Column::TenantId.eq(tenant))
            .filter(Column::Namespace.eq(namespace))
            .filter(Column::Operation.eq(claim.operation.as_str()))
            .filter(Column::Key.eq(claim.key.as_str()))
            // Writes only the key, which no queued insert writes: what the request's work
            // queued travels with it.
            .exec(&self.txn.alongside())
            .await
            .map_err(storage_error)?;
        if updated.rows_affected == 1 {
            Ok(())
        } else {
            Err(DomainError::internal("an idempotency key was completed without being claimed"))
        }
    }

    async fn release_idempotency_key(&self, scope: &TenantScope, claim: &Claim) -> Result<(), DomainError> {
        let (tenant, namespace) = self.key_owner(scope)?;
        idempotency_keys::Entity::delete_many()
            .filter(Column::TenantId.eq(tenant))
            .filter(Column::Namespace.eq(namespace))
            .filter(Column::Operation.eq(claim.operation.as_str()))
            .filter(Column::Key.eq(claim.key.as_str()))
            .exec(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    async fn purge_idempotency_keys(&self, scope: &TenantScope, before: OffsetDateTime) -> Result<u64, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let deleted = idempotency_keys::Entity::delete_many()
            .filter(Column::TenantId.eq(tenant))
            .filter(Column::CreatedAt.lt(before))
            .exec(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(deleted.rows_affected)
    }
}
