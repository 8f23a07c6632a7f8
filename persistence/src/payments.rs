//! The payment repository: payments with their refunds, and each shop's processor settings.
//!
//! Under a customer's scope every read and write of a payment adds `customer_id = them`, and a
//! refund is reached only through a payment of theirs. A payment is always read with all of its
//! refunds, oldest first, in one more statement whatever the number of payments.

use std::collections::HashMap;

use domain::DomainError;
use domain::auth::TenantScope;
use domain::ids::{OrderId, PaymentId, RefundId, UserId};
use domain::money::{Currency, Money};
use domain::page::{Page, PageRequest};
use domain::payments::{
    Failure, Payment, PaymentFilter, PaymentMethod, PaymentSettings, PaymentStatus, ProcessorKind, Refund,
};
use domain::ports::PaymentRepo;
use sea_orm::sea_query::{Expr, OnConflict, Query, SelectStatement};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Select, UpdateMany};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::codec::{actor_columns, actor_from, corrupt};
use crate::entity::{payment_settings, payments, refunds};
use crate::error::{storage_error, unique_is_contention};
use crate::page::keyset_page;
use crate::store::SeaTx;

/// The statuses of a payment that holds its order: at most one per order (a unique index).
const LIVE: [PaymentStatus; 2] = [PaymentStatus::Pending, PaymentStatus::Succeeded];

fn status_from(raw: &str, what: &str) -> Result<PaymentStatus, DomainError> {
    PaymentStatus::parse(raw).ok_or_else(|| corrupt(what))
}

fn money_from(minor: i64, code: &str, what: &str) -> Result<Money, DomainError> {
    let currency = Currency::parse("currencyCode", code).map_err(|_| corrupt(what))?;
    Ok(Money::from_minor(minor, currency))
}

/// The failure recorded in `(code, message)` columns, which are both set or both empty.
fn failure_from(code: Option<String>, message: Option<String>, what: &str) -> Result<Option<Failure>, DomainError> {
    match (code, message) {
        (Some(code), Some(message)) => Ok(Some(Failure { code, message })),
        (None, None) => Ok(None),
        _ => Err(corrupt(what)),
    }
}

/// The `(code, message)` columns of a failure.
fn failure_columns(failure: Option<&Failure>) -> (Option<String>, Option<String>) {
    failure.map_or((None, None), |f| (Some(f.code.clone()), Some(f.message.clone())))
}

/// The row of `payment` of `tenant`, without its refunds.
pub(crate) fn payment_row(tenant: Uuid, payment: &Payment) -> payments::Model {
    let (created_by_kind, created_by_id) = actor_columns(payment.created_by);
    let (failure_code, failure_message) = failure_columns(payment.failure.as_ref());
    payments::Model {
        tenant_id: tenant,
        id: payment.id.uuid(),
        order_id: payment.order.uuid(),
        customer_id: payment.customer.map(UserId::uuid),
        amount_minor: payment.amount.minor(),
        currency_code: payment.amount.currency().code().to_owned(),
        processor: payment.processor.as_str().to_owned(),
        method: payment.method.as_str().to_owned(),
        status: payment.status.as_str().to_owned(),
        reference: payment.reference.clone(),
        processor_key: payment.processor_key.clone(),
        failure_code,
        failure_message,
        created_by_kind: created_by_kind.to_owned(),
        created_by_id,
        created_at: payment.created_at,
        updated_at: payment.updated_at,
    }
}

/// The ids of a customer's payments: the refunds a customer may see are those of these.
fn customer_payments(tenant: Uuid, customer: UserId) -> SelectStatement {
    Query::select()
        .column(payments::Column::Id)
        .from(payments::Entity)
        .and_where(payments::Column::TenantId.eq(tenant))
        .and_where(payments::Column::CustomerId.eq(customer.uuid()))
        .to_owned()
}

fn refund_from(model: refunds::Model) -> Result<Refund, DomainError> {
    Ok(Refund {
        id: RefundId::from_uuid(model.id),
        payment: PaymentId::from_uuid(model.payment_id),
        amount: money_from(model.amount_minor, &model.currency_code, "refund currency")?,
        reason: model.reason,
        status: status_from(&model.status, "refund status")?,
        reference: model.reference,
        processor_key: model.processor_key,
        failure: failure_from(model.failure_code, model.failure_message, "refund failure")?,
        cancels_order: model.cancels_order,
        created_by: actor_from(&model.created_by_kind, model.created_by_id)?,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

fn payment_from(model: payments::Model, refunds: Vec<refunds::Model>) -> Result<Payment, DomainError> {
    Ok(Payment {
        id: PaymentId::from_uuid(model.id),
        order: OrderId::from_uuid(model.order_id),
        customer: model.customer_id.map(UserId::from_uuid),
        amount: money_from(model.amount_minor, &model.currency_code, "payment currency")?,
        processor: ProcessorKind::parse(&model.processor).ok_or_else(|| corrupt("payment processor"))?,
        method: PaymentMethod::from_stored(model.method),
        status: status_from(&model.status, "payment status")?,
        reference: model.reference,
        processor_key: model.processor_key,
        failure: failure_from(model.failure_code, model.failure_message, "payment failure")?,
        created_by: actor_from(&model.created_by_kind, model.created_by_id)?,
        created_at: model.created_at,
        updated_at: model.updated_at,
        refunds: refunds.into_iter().map(refund_from).collect::<Result<_, _>>()?,
    })
}

impl SeaTx {
    /// The payments visible under `scope`: the tenant's, or only the customer's own.
    fn visible_payments(&self, scope: &TenantScope) -> Result<Select<payments::Entity>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let mut select = payments::Entity::find().filter(payments::Column::TenantId.eq(tenant));
        if let Some(customer) = scope.customer() {
            select = select.filter(payments::Column::CustomerId.eq(customer.uuid()));
        }
        Ok(select)
    }

    /// The refunds visible under `scope`: the tenant's, or only those of the customer's own
    /// payments.
    fn visible_refunds(&self, scope: &TenantScope) -> Result<Select<refunds::Entity>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let mut select = refunds::Entity::find().filter(refunds::Column::TenantId.eq(tenant));
        if let Some(customer) = scope.customer() {
            select = select.filter(refunds::Column::PaymentId.in_subquery(customer_payments(tenant, customer)));
        }
        Ok(select)
    }

    /// An UPDATE of the one payment `id` visible under `scope`.
    fn update_payment(&self, scope: &TenantScope, id: PaymentId) -> Result<UpdateMany<payments::Entity>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let mut update = payments::Entity::update_many()
            .filter(payments::Column::TenantId.eq(tenant))
            .filter(payments::Column::Id.eq(id.uuid()));
        if let Some(customer) = scope.customer() {
            update = update.filter(payments::Column::CustomerId.eq(customer.uuid()));
        }
        Ok(update)
    }

    /// An UPDATE of the one refund `id` visible under `scope`.
    fn update_refund(&self, scope: &TenantScope, id: RefundId) -> Result<UpdateMany<refunds::Entity>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let mut update = refunds::Entity::update_many()
            .filter(refunds::Column::TenantId.eq(tenant))
            .filter(refunds::Column::Id.eq(id.uuid()));
        if let Some(customer) = scope.customer() {
            update = update.filter(refunds::Column::PaymentId.in_subquery(customer_payments(tenant, customer)));
        }
        Ok(update)
    }

    /// Attaches the refunds of `rows` to them, with one statement for all of them.
    async fn with_refunds(&self, tenant: Uuid, rows: Vec<payments::Model>) -> Result<Vec<Payment>, DomainError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let found = refunds::Entity::find()
            .filter(refunds::Column::TenantId.eq(tenant))
            .filter(refunds::Column::PaymentId.is_in(rows.iter().map(|r| r.id)))
            .order_by_asc(refunds::Column::Id)
            .all(&self.txn)
            .await
            .map_err(storage_error)?;
        let mut by_payment: HashMap<Uuid, Vec<refunds::Model>> = HashMap::with_capacity(rows.len());
        for refund in found {
            by_payment.entry(refund.payment_id).or_default().push(refund);
        }
        rows.into_iter()
            .map(|row| {
                let refunds = by_payment.remove(&row.id).unwrap_or_default();
                payment_from(row, refunds)
            })
            .collect()
    }

    async fn one_payment(
        &self,
        tenant: Uuid,
        select: Select<payments::Entity>,
    ) -> Result<Option<Payment>, DomainError> {
        let Some(row) = select.one(&self.txn).await.map_err(storage_error)? else { return Ok(None) };
        Ok(self.with_refunds(tenant, vec![row]).await?.pop())
    }

    async fn one_refund(&self, select: Select<refunds::Entity>) -> Result<Option<Refund>, DomainError> {
        select.one(&self.txn).await.map_err(storage_error)?.map(refund_from).transpose()
    }
}

impl PaymentRepo for SeaTx {
    async fn insert_payment(&self, scope: &TenantScope, payment: &Payment) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        // The live-payment index refuses a second PENDING or SUCCEEDED payment of the order:
        // a concurrent payOrder got there first, and running again finds its payment.
        payments::Entity::insert(payment_row(tenant, payment).into_active_model())
            .exec_without_returning(&self.txn)
            .await
            .map_err(unique_is_contention)?;
        Ok(())
    }

    async fn delete_payment(&self, scope: &TenantScope, id: PaymentId) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        let mut delete = payments::Entity::delete_many()
            .filter(payments::Column::TenantId.eq(tenant))
            .filter(payments::Column::Id.eq(id.uuid()));
        if let Some(customer) = scope.customer() {
            delete = delete.filter(payments::Column::CustomerId.eq(customer.uuid()));
        }
        delete.exec(&self.txn).await.map_err(storage_error)?;
        Ok(())
    }

    async fn payment(&self, scope: &TenantScope, id: PaymentId) -> Result<Option<Payment>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let select = self.visible_payments(scope)?.filter(payments::Column::Id.eq(id.uuid()));
        self.one_payment(tenant, select).await
    }

    async fn lock_payment(&self, scope: &TenantScope, id: PaymentId) -> Result<Option<Payment>, DomainError> {
        // A write that changes nothing takes the row's lock on both backends (SQLite has no
        // FOR UPDATE; its write transactions already exclude each other).
        let locked = self
            .update_payment(scope, id)?
            .col_expr(payments::Column::UpdatedAt, Expr::col(payments::Column::UpdatedAt))
            .exec(&self.txn)
            .await
            .map_err(storage_error)?;
        if locked.rows_affected != 1 {
            return Ok(None);
        }
        self.payment(scope, id).await
    }

    async fn payment_by_reference(
        &self,
        scope: &TenantScope,
        processor: ProcessorKind,
        reference: &str,
    ) -> Result<Option<Payment>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let select = self
            .visible_payments(scope)?
            .filter(payments::Column::Processor.eq(processor.as_str()))
            .filter(payments::Column::Reference.eq(reference));
        self.one_payment(tenant, select).await
    }

    async fn live_payment_of(&self, scope: &TenantScope, order: OrderId) -> Result<Option<Payment>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let select = self
            .visible_payments(scope)?
            .filter(payments::Column::OrderId.eq(order.uuid()))
            .filter(payments::Column::Status.is_in(LIVE.map(PaymentStatus::as_str)));
        self.one_payment(tenant, select).await
    }

    async fn payments_of_orders(&self, scope: &TenantScope, orders: &[OrderId]) -> Result<Vec<Payment>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        if orders.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .visible_payments(scope)?
            .filter(payments::Column::OrderId.is_in(orders.iter().map(|o| o.uuid())))
            .order_by_asc(payments::Column::Id)
            .all(&self.txn)
            .await
            .map_err(storage_error)?;
        self.with_refunds(tenant, rows).await
    }

    async fn payments(
        &self,
        scope: &TenantScope,
        filter: &PaymentFilter,
        page: &PageRequest,
    ) -> Result<Page<Payment>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let mut select = self.visible_payments(scope)?;
        if !filter.statuses.is_empty() {
            select = select.filter(payments::Column::Status.is_in(filter.statuses.iter().map(|s| s.as_str())));
        }
        if let Some(from) = filter.created_from {
            select = select.filter(payments::Column::CreatedAt.gte(from));
        }
        if let Some(before) = filter.created_before {
            select = select.filter(payments::Column::CreatedAt.lt(before));
        }
        let Page { items, has_next, has_previous } =
            keyset_page(&self.txn, select, payments::Column::Id, page, true).await?;
        Ok(Page { items: self.with_refunds(tenant, items).await?, has_next, has_previous })
    }

    async fn settle_payment(
        &self,
        scope: &TenantScope,
        id: PaymentId,
        status: PaymentStatus,
        reference: Option<&str>,
        failure: Option<&Failure>,
        at: OffsetDateTime,
    ) -> Result<bool, DomainError> {
        let (failure_code, failure_message) = failure_columns(failure);
        let mut update = self
            .update_payment(scope, id)?
            .col_expr(payments::Column::Status, Expr::value(status.as_str()))
            .col_expr(payments::Column::FailureCode, Expr::value(failure_code))
            .col_expr(payments::Column::FailureMessage, Expr::value(failure_message))
            .col_expr(payments::Column::UpdatedAt, Expr::value(at))
            .filter(payments::Column::Status.eq(PaymentStatus::Pending.as_str()));
        // Without a reference the one recorded earlier (if any) stays.
        if let Some(reference) = reference {
            update = update.col_expr(payments::Column::Reference, Expr::value(reference));
        }
        let updated = update.exec(&self.txn).await.map_err(storage_error)?;
        Ok(updated.rows_affected == 1)
    }

    async fn pending_payments(
        &self,
        scope: &TenantScope,
        before: OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<PaymentId>, DomainError> {
        let ids: Vec<Uuid> = self
            .visible_payments(scope)?
            .select_only()
            .column(payments::Column::Id)
            .filter(payments::Column::Status.eq(PaymentStatus::Pending.as_str()))
            .filter(payments::Column::CreatedAt.lt(before))
            .order_by_asc(payments::Column::CreatedAt)
            .order_by_asc(payments::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(ids.into_iter().map(PaymentId::from_uuid).collect())
    }

    async fn insert_refund(&self, scope: &TenantScope, refund: &Refund) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        let (created_by_kind, created_by_id) = actor_columns(refund.created_by);
        let (failure_code, failure_message) = failure_columns(refund.failure.as_ref());
        let row = refunds::Model {
            tenant_id: tenant,
            id: refund.id.uuid(),
            payment_id: refund.payment.uuid(),
            amount_minor: refund.amount.minor(),
            currency_code: refund.amount.currency().code().to_owned(),
            reason: refund.reason.clone(),
            status: refund.status.as_str().to_owned(),
            reference: refund.reference.clone(),
            processor_key: refund.processor_key.clone(),
            failure_code,
            failure_message,
            cancels_order: refund.cancels_order,
            created_by_kind: created_by_kind.to_owned(),
            created_by_id,
            created_at: refund.created_at,
            updated_at: refund.updated_at,
        };
        // The reference index refuses a refund the processor already reported and a concurrent
        // transaction recorded first: running again finds it.
        refunds::Entity::insert(row.into_active_model())
            .exec_without_returning(&self.txn)
            .await
            .map_err(unique_is_contention)?;
        Ok(())
    }

    async fn delete_refund(&self, scope: &TenantScope, id: RefundId) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        let mut delete = refunds::Entity::delete_many()
            .filter(refunds::Column::TenantId.eq(tenant))
            .filter(refunds::Column::Id.eq(id.uuid()));
        if let Some(customer) = scope.customer() {
            delete = delete.filter(refunds::Column::PaymentId.in_subquery(customer_payments(tenant, customer)));
        }
        delete.exec(&self.txn).await.map_err(storage_error)?;
        Ok(())
    }

    async fn refund(&self, scope: &TenantScope, id: RefundId) -> Result<Option<Refund>, DomainError> {
        let select = self.visible_refunds(scope)?.filter(refunds::Column::Id.eq(id.uuid()));
        self.one_refund(select).await
    }

    async fn refund_by_reference(&self, scope: &TenantScope, reference: &str) -> Result<Option<Refund>, DomainError> {
        let select = self.visible_refunds(scope)?.filter(refunds::Column::Reference.eq(reference));
        self.one_refund(select).await
    }

    async fn settle_refund(
        &self,
        scope: &TenantScope,
        id: RefundId,
        status: PaymentStatus,
        reference: Option<&str>,
        failure: Option<&Failure>,
        at: OffsetDateTime,
    ) -> Result<bool, DomainError> {
        let (failure_code, failure_message) = failure_columns(failure);
        let mut update = self
            .update_refund(scope, id)?
            .col_expr(refunds::Column::Status, Expr::value(status.as_str()))
            .col_expr(refunds::Column::FailureCode, Expr::value(failure_code))
            .col_expr(refunds::Column::FailureMessage, Expr::value(failure_message))
            .col_expr(refunds::Column::UpdatedAt, Expr::value(at))
            .filter(refunds::Column::Status.eq(PaymentStatus::Pending.as_str()));
        // Without a reference the one recorded earlier (if any) stays.
        if let Some(reference) = reference {
            update = update.col_expr(refunds::Column::Reference, Expr::value(reference));
        }
        let updated = update.exec(&self.txn).await.map_err(storage_error)?;
        Ok(updated.rows_affected == 1)
    }

    async fn pending_refunds(
        &self,
        scope: &TenantScope,
        before: OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<RefundId>, DomainError> {
        let ids: Vec<Uuid> = self
            .visible_refunds(scope)?
            .select_only()
            .column(refunds::Column::Id)
            .filter(refunds::Column::Status.eq(PaymentStatus::Pending.as_str()))
            .filter(refunds::Column::CreatedAt.lt(before))
            .order_by_asc(refunds::Column::CreatedAt)
            .order_by_asc(refunds::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(ids.into_iter().map(RefundId::from_uuid).collect())
    }

    async fn payment_settings(&self, scope: &TenantScope) -> Result<Option<PaymentSettings>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let found = payment_settings::Entity::find_by_id(tenant).one(&self.txn).await.map_err(storage_error)?;
        Ok(found.map(|row| PaymentSettings { webhook_secret: row.webhook_secret, updated_at: row.updated_at }))
    }

    async fn save_payment_settings(&self, scope: &TenantScope, settings: &PaymentSettings) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        let row = payment_settings::Model {
            tenant_id: tenant,
            webhook_secret: settings.webhook_secret.clone(),
            updated_at: settings.updated_at,
        };
        payment_settings::Entity::insert(row.into_active_model())
            .on_conflict(
                OnConflict::column(payment_settings::Column::TenantId)
                    .update_columns([payment_settings::Column::WebhookSecret, payment_settings::Column::UpdatedAt])
                    .to_owned(),
            )
            .exec_without_returning(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(())
    }
}
