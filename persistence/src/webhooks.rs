//! The webhook repository: a shop's endpoints, their deliveries and attempts, and the delivery
//! queue every process's worker claims from.
//!
//! The claim is the one statement that reads across tenants: on PostgreSQL it locks the due
//! rows it picks with `FOR UPDATE SKIP LOCKED` (so two workers claiming at once never pick the
//! same row, and neither waits for the other) and runs in a transaction that sets the
//! `keel.worker` setting the deliveries table's row-level security admits. On SQLite the
//! process's write queue serializes claims (one process per SQLite file is the rule).

use std::time::Duration;

use domain::DomainError;
use domain::auth::TenantScope;
use domain::ids::{EventId, TenantId, WebhookDeliveryId, WebhookEndpointId};
use domain::page::{Page, PageRequest};
use domain::ports::{DeliveryQueue, WebhookRepo};
use domain::webhooks::{
    Attempt, Backlog, Claim, Delivery, DeliveryStatus, Endpoint, EndpointStatus, EventTypes, NextStep, SigningSecret,
    StoredEvent, WebhookUrl,
};
use migration::rls::WORKER_SETTING;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Statement,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::codec::corrupt;
use crate::database::Backend;
use crate::entity::{events, webhook_attempts, webhook_deliveries, webhook_endpoints};
use crate::error::storage_error;
use crate::page::keyset_page;
use crate::store::{SeaStore, SeaTx};

/// How many due deliveries a claim considers before it applies the per-endpoint bound.
const CLAIM_WINDOW: u32 = 512;

/// The claim, in PostgreSQL's dialect (SQLite's is derived from it). `$1` now, `$2` the lease's
/// end, `$3` the lease id, `$4` the window, `$5` per endpoint, `$6` the limit.
///
/// `due` takes the waiting deliveries that are due and not held, oldest first, skipping rows
/// another claim is locking and endpoints already at their bound; `busy` counts each endpoint's
/// attempts in flight; `chosen` keeps, per endpoint, only as many as its bound leaves room for.
const CLAIM_SQL: &str = "
WITH busy AS (
    SELECT endpoint_id, COUNT(*) AS n FROM webhook_deliveries
    WHERE status = 'PENDING' AND locked_until IS NOT NULL AND locked_until >= $1
    GROUP BY endpoint_id
), due AS (
    SELECT tenant_id, id, endpoint_id, next_attempt_at FROM webhook_deliveries
    WHERE status = 'PENDING' AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until < $1)
      AND endpoint_id NOT IN (SELECT endpoint_id FROM busy WHERE n >= $5)
    ORDER BY next_attempt_at
    LIMIT $4
    FOR UPDATE SKIP LOCKED
), ranked AS (
    SELECT due.tenant_id, due.id, due.next_attempt_at,
           ROW_NUMBER() OVER (PARTITION BY due.endpoint_id ORDER BY due.next_attempt_at, due.id)
             + COALESCE((SELECT busy.n FROM busy WHERE busy.endpoint_id = due.endpoint_id), 0) AS place
    FROM due
), chosen AS (
    SELECT tenant_id, id FROM ranked WHERE place <= $5 ORDER BY next_attempt_at, id LIMIT $6
)
UPDATE webhook_deliveries
SET locked_until = $2, lease_id = $3, attempts = attempts + 1, updated_at = $1
WHERE (tenant_id, id) IN (SELECT tenant_id, id FROM chosen)
RETURNING tenant_id, id, attempts";

fn endpoint_from(model: webhook_endpoints::Model) -> Result<Endpoint, DomainError> {
    let previous_secret = match (model.previous_secret, model.previous_secret_expires_at) {
        (Some(secret), Some(until)) => Some((SigningSecret::new(secret), until)),
        (None, None) => None,
        _ => return Err(corrupt("webhook endpoint previous secret")),
    };
    Ok(Endpoint {
        id: WebhookEndpointId::from_uuid(model.id),
        tenant: TenantId::from_uuid(model.tenant_id),
        url: WebhookUrl::stored(&model.url).ok_or_else(|| corrupt("webhook endpoint url"))?,
        event_types: EventTypes::from_known(model.event_types.split(',')),
        description: model.description,
        status: EndpointStatus::parse(&model.status).ok_or_else(|| corrupt("webhook endpoint status"))?,
        secret: SigningSecret::new(model.secret),
        previous_secret,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

fn endpoint_model(tenant: Uuid, endpoint: &Endpoint) -> webhook_endpoints::Model {
    let (previous_secret, previous_secret_expires_at) = match &endpoint.previous_secret {
        Some((secret, until)) => (Some(secret.expose().to_owned()), Some(*until)),
        None => (None, None),
    };
    webhook_endpoints::Model {
        tenant_id: tenant,
        id: endpoint.id.uuid(),
        url: endpoint.url.as_str().to_owned(),
        event_types: endpoint.event_types.as_slice().join(","),
        description: endpoint.description.clone(),
        status: endpoint.status.as_str().to_owned(),
        secret: endpoint.secret.expose().to_owned(),
        previous_secret,
        previous_secret_expires_at,
        created_at: endpoint.created_at,
        updated_at: endpoint.updated_at,
    }
}

fn delivery_from(model: webhook_deliveries::Model) -> Result<Delivery, DomainError> {
    Ok(Delivery {
        id: WebhookDeliveryId::from_uuid(model.id),
        endpoint: WebhookEndpointId::from_uuid(model.endpoint_id),
        event: EventId::from_uuid(model.event_id),
        event_type: model.event_type,
        status: DeliveryStatus::parse(&model.status).ok_or_else(|| corrupt("webhook delivery status"))?,
        attempts: u32::try_from(model.attempts).map_err(|_| corrupt("webhook delivery attempts"))?,
        next_attempt_at: model.next_attempt_at,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

fn attempt_from(model: webhook_attempts::Model) -> Result<Attempt, DomainError> {
    Ok(Attempt {
        delivery: WebhookDeliveryId::from_uuid(model.delivery_id),
        number: u32::try_from(model.number).map_err(|_| corrupt("webhook attempt number"))?,
        at: model.attempted_at,
        http_status: model.http_status.and_then(|status| u16::try_from(status).ok()),
        duration: Duration::from_millis(u64::try_from(model.duration_ms).unwrap_or(0)),
        error: model.error,
    })
}

fn count(n: u32, what: &str) -> Result<i32, DomainError> {
    i32::try_from(n).map_err(|_| DomainError::internal(format!("{what} {n} does not fit the column")))
}

impl WebhookRepo for SeaTx {
    async fn insert_endpoint(&self, scope: &TenantScope, endpoint: &Endpoint) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        webhook_endpoints::Entity::insert(endpoint_model(tenant, endpoint).into_active_model())
            .exec_without_returning(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    async fn endpoint(&self, scope: &TenantScope, id: WebhookEndpointId) -> Result<Option<Endpoint>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        webhook_endpoints::Entity::find_by_id((tenant, id.uuid()))
            .one(&self.txn)
            .await
            .map_err(storage_error)?
            .map(endpoint_from)
            .transpose()
    }

    async fn save_endpoint(&self, scope: &TenantScope, endpoint: &Endpoint) -> Result<bool, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let model = endpoint_model(tenant, endpoint);
        let updated = webhook_endpoints::Entity::update_many()
            .col_expr(webhook_endpoints::Column::Url, Expr::value(model.url))
            .col_expr(webhook_endpoints::Column::EventTypes, Expr::value(model.event_types))
            .col_expr(webhook_endpoints::Column::Description, Expr::value(model.description))
            .col_expr(webhook_endpoints::Column::Status, Expr::value(model.status))
            .col_expr(webhook_endpoints::Column::Secret, Expr::value(model.secret))
            .col_expr(webhook_endpoints::Column::PreviousSecret, Expr::value(model.previous_secret))
            .col_expr(webhook_endpoints::Column::PreviousSecretExpiresAt, Expr::value(model.previous_secret_expires_at))
            .col_expr(webhook_endpoints::Column::UpdatedAt, Expr::value(model.updated_at))
            .filter(webhook_endpoints::Column::TenantId.eq(tenant))
            .filter(webhook_endpoints::Column::Id.eq(endpoint.id.uuid()))
            .exec(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(updated.rows_affected > 0)
    }

    async fn delete_endpoint(&self, scope: &TenantScope, id: WebhookEndpointId) -> Result<bool, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let of_endpoint = sea_orm::sea_query::Query::select()
            .column(webhook_deliveries::Column::Id)
            .from(webhook_deliveries::Entity)
            .and_where(webhook_deliveries::Column::TenantId.eq(tenant))
            .and_where(webhook_deliveries::Column::EndpointId.eq(id.uuid()))
            .to_owned();
        webhook_attempts::Entity::delete_many()
            .filter(webhook_attempts::Column::TenantId.eq(tenant))
            .filter(webhook_attempts::Column::DeliveryId.in_subquery(of_endpoint))
            .exec(&self.txn)
            .await
            .map_err(storage_error)?;
        webhook_deliveries::Entity::delete_many()
            .filter(webhook_deliveries::Column::TenantId.eq(tenant))
            .filter(webhook_deliveries::Column::EndpointId.eq(id.uuid()))
            .exec(&self.txn)
            .await
            .map_err(storage_error)?;
        let deleted = webhook_endpoints::Entity::delete_many()
            .filter(webhook_endpoints::Column::TenantId.eq(tenant))
            .filter(webhook_endpoints::Column::Id.eq(id.uuid()))
            .exec(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(deleted.rows_affected > 0)
    }

    async fn endpoints(&self, scope: &TenantScope, page: &PageRequest) -> Result<Page<Endpoint>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let select = webhook_endpoints::Entity::find().filter(webhook_endpoints::Column::TenantId.eq(tenant));
        let rows = keyset_page(&self.txn, select, webhook_endpoints::Column::Id, page, false).await?;
        rows.try_map(endpoint_from)
    }

    async fn listening_endpoints(
        &self,
        scope: &TenantScope,
    ) -> Result<Vec<(WebhookEndpointId, EventTypes)>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let rows: Vec<(Uuid, String)> = webhook_endpoints::Entity::find()
            .select_only()
            .column(webhook_endpoints::Column::Id)
            .column(webhook_endpoints::Column::EventTypes)
            .filter(webhook_endpoints::Column::TenantId.eq(tenant))
            .filter(webhook_endpoints::Column::Status.eq(EndpointStatus::Enabled.as_str()))
            .into_tuple()
            // Reads only endpoints, which no queued insert writes: the outbox events just
            // appended travel with it.
            .all(&self.txn.alongside())
            .await
            .map_err(storage_error)?;
        Ok(rows
            .into_iter()
            .map(|(id, types)| (WebhookEndpointId::from_uuid(id), EventTypes::from_known(types.split(','))))
            .collect())
    }

    async fn insert_deliveries(&self, scope: &TenantScope, deliveries: &[Delivery]) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        if deliveries.is_empty() {
            return Ok(());
        }
        let mut rows = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            rows.push(
                webhook_deliveries::Model {
                    tenant_id: tenant,
                    id: delivery.id.uuid(),
                    endpoint_id: delivery.endpoint.uuid(),
                    event_id: delivery.event.uuid(),
                    event_type: delivery.event_type.clone(),
                    status: delivery.status.as_str().to_owned(),
                    attempts: count(delivery.attempts, "attempts")?,
                    next_attempt_at: delivery.next_attempt_at,
                    locked_until: None,
                    lease_id: None,
                    created_at: delivery.created_at,
                    updated_at: delivery.updated_at,
                }
                .into_active_model(),
            );
        }
        let insert = webhook_deliveries::Entity::insert_many(rows).build(self.txn.get_database_backend());
        self.txn.insert_later(insert).await.map_err(storage_error)
    }

    async fn delivery(&self, scope: &TenantScope, id: WebhookDeliveryId) -> Result<Option<Delivery>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        webhook_deliveries::Entity::find_by_id((tenant, id.uuid()))
            .one(&self.txn)
            .await
            .map_err(storage_error)?
            .map(delivery_from)
            .transpose()
    }

    async fn deliveries(
        &self,
        scope: &TenantScope,
        endpoint: WebhookEndpointId,
        status: Option<DeliveryStatus>,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let mut select = webhook_deliveries::Entity::find()
            .filter(webhook_deliveries::Column::TenantId.eq(tenant))
            .filter(webhook_deliveries::Column::EndpointId.eq(endpoint.uuid()));
        if let Some(status) = status {
            select = select.filter(webhook_deliveries::Column::Status.eq(status.as_str()));
        }
        let rows = keyset_page(&self.txn, select, webhook_deliveries::Column::Id, page, true).await?;
        rows.try_map(delivery_from)
    }

    async fn attempts_of(
        &self,
        scope: &TenantScope,
        deliveries: &[WebhookDeliveryId],
    ) -> Result<Vec<Attempt>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        if deliveries.is_empty() {
            return Ok(Vec::new());
        }
        webhook_attempts::Entity::find()
            .filter(webhook_attempts::Column::TenantId.eq(tenant))
            .filter(webhook_attempts::Column::DeliveryId.is_in(deliveries.iter().map(|id| id.uuid())))
            .order_by_asc(webhook_attempts::Column::DeliveryId)
            .order_by_asc(webhook_attempts::Column::Number)
            .all(&self.txn)
            .await
            .map_err(storage_error)?
            .into_iter()
            .map(attempt_from)
            .collect()
    }

    async fn cancel_pending_deliveries(
        &self,
        scope: &TenantScope,
        endpoint: WebhookEndpointId,
        at: OffsetDateTime,
    ) -> Result<u64, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let cancelled = webhook_deliveries::Entity::update_many()
            .col_expr(webhook_deliveries::Column::Status, Expr::value(DeliveryStatus::Cancelled.as_str()))
            .col_expr(webhook_deliveries::Column::NextAttemptAt, Expr::value(Option::<OffsetDateTime>::None))
            .col_expr(webhook_deliveries::Column::UpdatedAt, Expr::value(at))
            .filter(webhook_deliveries::Column::TenantId.eq(tenant))
            .filter(webhook_deliveries::Column::EndpointId.eq(endpoint.uuid()))
            .filter(webhook_deliveries::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .exec(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(cancelled.rows_affected)
    }

    async fn stored_event(&self, scope: &TenantScope, id: EventId) -> Result<Option<StoredEvent>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let row = events::Entity::find_by_id((tenant, id.uuid())).one(&self.txn).await.map_err(storage_error)?;
        Ok(row.map(|row| StoredEvent {
            id: EventId::from_uuid(row.id),
            kind: row.kind,
            payload: row.payload,
            at: row.created_at,
        }))
    }

    async fn finish_attempt(
        &self,
        scope: &TenantScope,
        lease: Uuid,
        attempts: &[Attempt],
        next: &NextStep,
    ) -> Result<bool, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let Some(delivery) = attempts.first().map(|attempt| attempt.delivery.uuid()) else { return Ok(false) };
        let moved = webhook_deliveries::Entity::update_many()
            .col_expr(webhook_deliveries::Column::Status, Expr::value(next.status.as_str()))
            .col_expr(webhook_deliveries::Column::NextAttemptAt, Expr::value(next.next_attempt_at))
            .col_expr(webhook_deliveries::Column::LockedUntil, Expr::value(Option::<OffsetDateTime>::None))
            .col_expr(webhook_deliveries::Column::LeaseId, Expr::value(Option::<Uuid>::None))
            .col_expr(webhook_deliveries::Column::UpdatedAt, Expr::value(next.at))
            .filter(webhook_deliveries::Column::TenantId.eq(tenant))
            .filter(webhook_deliveries::Column::Id.eq(delivery))
            .filter(webhook_deliveries::Column::LeaseId.eq(lease))
            .filter(webhook_deliveries::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .exec(&self.txn)
            .await
            .map_err(storage_error)?
            .rows_affected
            > 0;
        let exists = moved
            || webhook_deliveries::Entity::find_by_id((tenant, delivery))
                .one(&self.txn)
                .await
                .map_err(storage_error)?
                .is_some();
        if !exists {
            return Ok(false);
        }
        let mut rows = Vec::with_capacity(attempts.len());
        for attempt in attempts {
            rows.push(
                webhook_attempts::Model {
                    tenant_id: tenant,
                    delivery_id: attempt.delivery.uuid(),
                    number: count(attempt.number, "attempt number")?,
                    attempted_at: attempt.at,
                    http_status: attempt.http_status.map(i32::from),
                    duration_ms: i64::try_from(attempt.duration.as_millis()).unwrap_or(i64::MAX),
                    error: attempt.error.clone(),
                }
                .into_active_model(),
            );
        }
        // A number already stored stays: a claim that ran out may have been claimed again and
        // its attempt recorded by another worker first.
        webhook_attempts::Entity::insert_many(rows)
            .on_conflict(
                sea_orm::sea_query::OnConflict::columns([
                    webhook_attempts::Column::TenantId,
                    webhook_attempts::Column::DeliveryId,
                    webhook_attempts::Column::Number,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(moved)
    }
}

impl DeliveryQueue for SeaStore {
    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        until: OffsetDateTime,
        lease: Uuid,
        limit: u32,
        per_endpoint: u32,
    ) -> Result<Vec<Claim>, DomainError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let values: [sea_orm::Value; 6] = [
            now.into(),
            until.into(),
            lease.into(),
            i64::from(CLAIM_WINDOW.max(limit)).into(),
            i64::from(per_endpoint.max(1)).into(),
            i64::from(limit).into(),
        ];
        let (txn, backend, _turn) = self.begin_worker().await?;
        let statement = match backend {
            Backend::Postgres => {
                txn.execute_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!("SELECT set_config('{WORKER_SETTING}', 'on', true)"),
                ))
                .await
                .map_err(storage_error)?;
                Statement::from_sql_and_values(DbBackend::Postgres, CLAIM_SQL, values)
            }
            // SQLite: no row locks to skip (the write queue admits one claim at a time), and
            // numbered parameters are written `?N`.
            Backend::Sqlite => Statement::from_sql_and_values(
                DbBackend::Sqlite,
                CLAIM_SQL.replace("FOR UPDATE SKIP LOCKED", "").replace('$', "?"),
                values,
            ),
        };
        let rows = txn.query_all_raw(statement).await.map_err(storage_error)?;
        txn.commit().await.map_err(storage_error)?;
        rows.into_iter()
            .map(|row| {
                let tenant: Uuid = row.try_get("", "tenant_id").map_err(storage_error)?;
                let id: Uuid = row.try_get("", "id").map_err(storage_error)?;
                let attempts: i32 = row.try_get("", "attempts").map_err(storage_error)?;
                Ok(Claim {
                    tenant: TenantId::from_uuid(tenant),
                    delivery: WebhookDeliveryId::from_uuid(id),
                    attempt: u32::try_from(attempts).map_err(|_| corrupt("webhook delivery attempts"))?,
                })
            })
            .collect()
    }

    async fn backlog(&self) -> Result<Backlog, DomainError> {
        let txn = self.begin_worker_read().await?;
        let pending = || {
            webhook_deliveries::Entity::find()
                .filter(webhook_deliveries::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        };
        let count = pending().count(&txn).await.map_err(storage_error)?;
        let oldest = pending()
            .order_by_asc(webhook_deliveries::Column::CreatedAt)
            .one(&txn)
            .await
            .map_err(storage_error)?
            .map(|row| row.created_at);
        txn.commit().await.map_err(storage_error)?;
        Ok(Backlog { pending: count, oldest })
    }
}
