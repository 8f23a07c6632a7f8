//! The order repository: orders with their lines, the status history and the per-tenant
//! number counter (advanced outside the placement's transaction on PostgreSQL, inside it on
//! SQLite). Under a customer's scope every read adds `customer_id = them`.

use std::collections::HashMap;

use domain::DomainError;
use domain::auth::TenantScope;
use domain::catalog::Sku;
use domain::identity::Email;
use domain::ids::{LocationId, OrderId, OrderTransitionId, ProductId, UserId};
use domain::money::{Currency, Money};
use domain::orders::{Order, OrderFilter, OrderLine, OrderNumber, OrderStatus, Transition};
use domain::page::{Page, PageRequest};
use domain::ports::OrderRepo;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Select, Statement,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::codec::{actor_columns, actor_from, corrupt};
use crate::entity::{order_lines, order_numbers, order_transitions, orders};
use crate::error::storage_error;
use crate::page::keyset_page;
use crate::store::SeaTx;

fn status_from(raw: &str) -> Result<OrderStatus, DomainError> {
    OrderStatus::parse(raw).ok_or_else(|| corrupt("order status"))
}

fn line_from(model: order_lines::Model, currency: Currency) -> Result<OrderLine, DomainError> {
    Ok(OrderLine {
        position: model.position,
        product: ProductId::from_uuid(model.product_id),
        sku: Sku::parse("sku", &model.sku).map_err(|_| corrupt("order line sku"))?,
        name: model.name,
        unit_price: Money::from_minor(model.unit_price_minor, currency),
        quantity: model.quantity,
        total: Money::from_minor(model.total_minor, currency),
    })
}

fn order_from(model: orders::Model, lines: Vec<order_lines::Model>) -> Result<Order, DomainError> {
    let currency = Currency::parse("currencyCode", &model.currency_code).map_err(|_| corrupt("order currency"))?;
    Ok(Order {
        id: OrderId::from_uuid(model.id),
        number: OrderNumber::from_i64(model.number),
        status: status_from(&model.status)?,
        customer_email: Email::parse("customerEmail", &model.customer_email).map_err(|_| corrupt("order email"))?,
        customer: model.customer_id.map(UserId::from_uuid),
        note: model.note,
        location: LocationId::from_uuid(model.location_id),
        subtotal: Money::from_minor(model.subtotal_minor, currency),
        total: Money::from_minor(model.total_minor, currency),
        lines: lines.into_iter().map(|line| line_from(line, currency)).collect::<Result<_, _>>()?,
        placed_by: actor_from(&model.placed_by_kind, model.placed_by_id)?,
        version: model.version,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

fn transition_from(model: order_transitions::Model) -> Result<Transition, DomainError> {
    Ok(Transition {
        id: OrderTransitionId::from_uuid(model.id),
        order: OrderId::from_uuid(model.order_id),
        from: model.from_status.as_deref().map(status_from).transpose()?,
        to: status_from(&model.to_status)?,
        reason: model.reason,
        actor: actor_from(&model.actor_kind, model.actor_id)?,
        at: model.created_at,
    })
}

/// The row of `order` of `tenant`, without its lines ([`line_rows`]).
pub(crate) fn order_row(tenant: Uuid, order: &Order) -> orders::Model {
    let (placed_by_kind, placed_by_id) = actor_columns(order.placed_by);
    orders::Model {
        tenant_id: tenant,
        id: order.id.uuid(),
        number: order.number.get(),
        status: order.status.as_str().to_owned(),
        customer_email: order.customer_email.as_str().to_owned(),
        customer_id: order.customer.map(UserId::uuid),
        note: order.note.clone(),
        location_id: order.location.uuid(),
        currency_code: order.total.currency().code().to_owned(),
        subtotal_minor: order.subtotal.minor(),
        total_minor: order.total.minor(),
        placed_by_kind: placed_by_kind.to_owned(),
        placed_by_id,
        version: order.version,
        created_at: order.created_at,
        updated_at: order.updated_at,
    }
}

/// The rows of the lines of `order` of `tenant`.
pub(crate) fn line_rows(tenant: Uuid, order: &Order) -> impl Iterator<Item = order_lines::Model> + '_ {
    order.lines.iter().map(move |line| order_lines::Model {
        tenant_id: tenant,
        order_id: order.id.uuid(),
        position: line.position,
        product_id: line.product.uuid(),
        sku: line.sku.as_str().to_owned(),
        name: line.name.clone(),
        unit_price_minor: line.unit_price.minor(),
        quantity: line.quantity,
        total_minor: line.total.minor(),
    })
}

/// The history row of `transition` of `tenant`.
pub(crate) fn transition_row(tenant: Uuid, transition: &Transition) -> order_transitions::Model {
    let (actor_kind, actor_id) = actor_columns(transition.actor);
    order_transitions::Model {
        tenant_id: tenant,
        id: transition.id.uuid(),
        order_id: transition.order.uuid(),
        from_status: transition.from.map(|s| s.as_str().to_owned()),
        to_status: transition.to.as_str().to_owned(),
        reason: transition.reason.clone(),
        actor_kind: actor_kind.to_owned(),
        actor_id,
        created_at: transition.at,
    }
}

impl SeaTx {
    /// The orders visible under `scope`: the tenant's, or only the customer's own.
    fn visible_orders(&self, scope: &TenantScope) -> Result<Select<orders::Entity>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let mut select = orders::Entity::find().filter(orders::Column::TenantId.eq(tenant));
        if let Some(customer) = scope.customer() {
            select = select.filter(orders::Column::CustomerId.eq(customer.uuid()));
        }
        Ok(select)
    }

    /// Attaches the lines of `rows` to them, with one statement for all of them.
    async fn with_lines(&self, tenant: Uuid, rows: Vec<orders::Model>) -> Result<Vec<Order>, DomainError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let lines = order_lines::Entity::find()
            .filter(order_lines::Column::TenantId.eq(tenant))
            .filter(order_lines::Column::OrderId.is_in(rows.iter().map(|r| r.id)))
            .order_by_asc(order_lines::Column::OrderId)
            .order_by_asc(order_lines::Column::Position)
            .all(&self.txn)
            .await
            .map_err(storage_error)?;
        let mut by_order: HashMap<Uuid, Vec<order_lines::Model>> = HashMap::with_capacity(rows.len());
        for line in lines {
            by_order.entry(line.order_id).or_default().push(line);
        }
        rows.into_iter()
            .map(|row| {
                let lines = by_order.remove(&row.id).unwrap_or_default();
                order_from(row, lines)
            })
            .collect()
    }

    async fn one_order(&self, tenant: Uuid, select: Select<orders::Entity>) -> Result<Option<Order>, DomainError> {
        let Some(row) = select.one(&self.txn).await.map_err(storage_error)? else { return Ok(None) };
        Ok(self.with_lines(tenant, vec![row]).await?.pop())
    }
}

impl OrderRepo for SeaTx {
    async fn next_order_number(&self, scope: &TenantScope) -> Result<OrderNumber, DomainError> {
        let tenant = self.tenant_of(scope)?;
        if let Some(numbering) = &self.numbering {
            // PostgreSQL: the counter advances in a transaction of its own, which holds the
            // counter's row for that one statement and not through this transaction's commit
            // (see `Database::numbering`). The number is never given back: a placement that
            // fails from here on leaves a gap.
            let call = Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT keel_next_order_number($1) AS number",
                [tenant.into()],
            );
            let row = numbering.query_one_raw(call).await.map_err(storage_error)?;
            let number = row
                .ok_or_else(|| DomainError::internal("taking an order number returned no row"))?
                .try_get::<i64>("", "number")
                .map_err(storage_error)?;
            return Ok(OrderNumber::from_i64(number));
        }
        // SQLite: one statement that creates the counter or increments it inside this
        // transaction. Writers take turns there, so holding the row to the commit costs nothing,
        // and a placement that rolls back gives its number back.
        let first = order_numbers::Model { tenant_id: tenant, last_number: OrderNumber::FIRST.get() };
        let next = Expr::col((order_numbers::Entity, order_numbers::Column::LastNumber)).add(1);
        let row = order_numbers::Entity::insert(first.into_active_model())
            .on_conflict(
                OnConflict::column(order_numbers::Column::TenantId)
                    .value(order_numbers::Column::LastNumber, next)
                    .to_owned(),
            )
            .exec_with_returning(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(OrderNumber::from_i64(row.last_number))
    }

    async fn insert_order(&self, scope: &TenantScope, order: &Order) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        let backend = self.txn.get_database_backend();
        self.txn
            .insert_later(orders::Entity::insert(order_row(tenant, order).into_active_model()).build(backend))
            .await
            .map_err(storage_error)?;
        let lines = line_rows(tenant, order).map(IntoActiveModel::into_active_model);
        self.txn.insert_later(order_lines::Entity::insert_many(lines).build(backend)).await.map_err(storage_error)
    }

    async fn order(&self, scope: &TenantScope, id: OrderId) -> Result<Option<Order>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let select = self.visible_orders(scope)?.filter(orders::Column::Id.eq(id.uuid()));
        self.one_order(tenant, select).await
    }

    async fn order_by_number(&self, scope: &TenantScope, number: OrderNumber) -> Result<Option<Order>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let select = self.visible_orders(scope)?.filter(orders::Column::Number.eq(number.get()));
        self.one_order(tenant, select).await
    }

    async fn orders(
        &self,
        scope: &TenantScope,
        filter: &OrderFilter,
        page: &PageRequest,
    ) -> Result<Page<Order>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let mut select = self.visible_orders(scope)?;
        if !filter.statuses.is_empty() {
            select = select.filter(orders::Column::Status.is_in(filter.statuses.iter().map(|s| s.as_str())));
        }
        if let Some(email) = &filter.customer_email {
            select = select.filter(orders::Column::CustomerEmail.eq(email.as_str()));
        }
        if let Some(from) = filter.created_from {
            select = select.filter(orders::Column::CreatedAt.gte(from));
        }
        if let Some(before) = filter.created_before {
            select = select.filter(orders::Column::CreatedAt.lt(before));
        }
        let rows = keyset_page(&self.txn, select, orders::Column::Id, page, true).await?;
        let Page { items, has_next, has_previous } = rows;
        Ok(Page { items: self.with_lines(tenant, items).await?, has_next, has_previous })
    }

    async fn lock_order(&self, scope: &TenantScope, id: OrderId) -> Result<bool, DomainError> {
        let tenant = self.tenant_of(scope)?;
        // A write that changes nothing takes the row's lock on both backends (SQLite has no
        // FOR UPDATE; its write transactions already exclude each other).
        let mut update = orders::Entity::update_many()
            .col_expr(orders::Column::Version, Expr::col(orders::Column::Version))
            .filter(orders::Column::TenantId.eq(tenant))
            .filter(orders::Column::Id.eq(id.uuid()));
        if let Some(customer) = scope.customer() {
            update = update.filter(orders::Column::CustomerId.eq(customer.uuid()));
        }
        let locked = update.exec(&self.txn).await.map_err(storage_error)?;
        Ok(locked.rows_affected == 1)
    }

    async fn set_order_status(
        &self,
        scope: &TenantScope,
        id: OrderId,
        from: OrderStatus,
        to: OrderStatus,
        at: OffsetDateTime,
    ) -> Result<bool, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let updated = orders::Entity::update_many()
            .col_expr(orders::Column::Status, Expr::value(to.as_str()))
            .col_expr(orders::Column::Version, Expr::col(orders::Column::Version).add(1))
            .col_expr(orders::Column::UpdatedAt, Expr::value(at))
            .filter(orders::Column::TenantId.eq(tenant))
            .filter(orders::Column::Id.eq(id.uuid()))
            .filter(orders::Column::Status.eq(from.as_str()))
            .exec(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(updated.rows_affected == 1)
    }

    async fn append_transition(&self, scope: &TenantScope, transition: &Transition) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        let insert = order_transitions::Entity::insert(transition_row(tenant, transition).into_active_model())
            .build(self.txn.get_database_backend());
        self.txn.insert_later(insert).await.map_err(storage_error)
    }

    async fn transitions_of(&self, scope: &TenantScope, orders: &[OrderId]) -> Result<Vec<Transition>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        if orders.is_empty() {
            return Ok(Vec::new());
        }
        let rows = order_transitions::Entity::find()
            .filter(order_transitions::Column::TenantId.eq(tenant))
            .filter(order_transitions::Column::OrderId.is_in(orders.iter().map(|o| o.uuid())))
            .order_by_asc(order_transitions::Column::Id)
            .all(&self.txn)
            .await
            .map_err(storage_error)?;
        rows.into_iter().map(transition_from).collect()
    }

    async fn unpaid_orders_placed_before(
        &self,
        scope: &TenantScope,
        before: OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<OrderId>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let ids: Vec<Uuid> = orders::Entity::find()
            .select_only()
            .column(orders::Column::Id)
            .filter(orders::Column::TenantId.eq(tenant))
            .filter(orders::Column::Status.eq(OrderStatus::PendingPayment.as_str()))
            .filter(orders::Column::CreatedAt.lt(before))
            .order_by_asc(orders::Column::CreatedAt)
            .limit(limit)
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(ids.into_iter().map(OrderId::from_uuid).collect())
    }
}
