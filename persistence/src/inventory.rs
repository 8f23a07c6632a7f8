//! The inventory repository: stock levels changed by conditional statements, and the ledger.

use std::collections::HashMap;

use domain::DomainError;
use domain::auth::TenantScope;
use domain::ids::{LocationId, ProductId, StockMovementId};
use domain::inventory::{Change, Level, Reason, StockLevel, StockMovement};
use domain::page::{Page, PageRequest};
use domain::ports::InventoryRepo;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, IntoActiveModel, QueryFilter, QuerySelect,
    QueryTrait, Statement, Value,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::codec::{actor_columns, actor_from, corrupt};
use crate::entity::{stock_levels, stock_movements};
use crate::error::storage_error;
use crate::page::keyset_page;
use crate::store::SeaTx;

fn level_from(model: stock_levels::Model) -> StockLevel {
    StockLevel {
        product: ProductId::from_uuid(model.product_id),
        location: LocationId::from_uuid(model.location_id),
        level: Level { on_hand: model.on_hand, reserved: model.reserved },
        updated_at: model.updated_at,
    }
}

fn movement_from(model: stock_movements::Model) -> Result<StockMovement, DomainError> {
    Ok(StockMovement {
        id: StockMovementId::from_uuid(model.id),
        product: ProductId::from_uuid(model.product_id),
        location: LocationId::from_uuid(model.location_id),
        change: Change { on_hand: model.delta_on_hand, reserved: model.delta_reserved },
        reason: Reason::parse(&model.reason).ok_or_else(|| corrupt("movement reason"))?,
        reference: model.reference,
        note: model.note,
        actor: actor_from(&model.actor_kind, model.actor_id)?,
        created_at: model.created_at,
    })
}

/// The row of `level` of `tenant`.
pub(crate) fn level_row(tenant: Uuid, level: &StockLevel) -> stock_levels::Model {
    stock_levels::Model {
        tenant_id: tenant,
        product_id: level.product.uuid(),
        location_id: level.location.uuid(),
        on_hand: level.level.on_hand,
        reserved: level.level.reserved,
        updated_at: level.updated_at,
    }
}

/// The ledger row of `movement` of `tenant`.
pub(crate) fn movement_row(tenant: Uuid, movement: &StockMovement) -> stock_movements::Model {
    let (actor_kind, actor_id) = actor_columns(movement.actor);
    stock_movements::Model {
        tenant_id: tenant,
        id: movement.id.uuid(),
        product_id: movement.product.uuid(),
        location_id: movement.location.uuid(),
        delta_on_hand: movement.change.on_hand,
        delta_reserved: movement.change.reserved,
        reason: movement.reason.as_str().to_owned(),
        reference: movement.reference.clone(),
        note: movement.note.clone(),
        actor_kind: actor_kind.to_owned(),
        actor_id,
        created_at: movement.created_at,
    }
}

/// One statement that changes several levels of one location, each by its own change, under the
/// same conditions as `Level::apply` checked on the locked row: it locks the levels in product
/// order first (`ORDER BY … FOR UPDATE`), so concurrent statements over overlapping products
/// cannot deadlock, and returns the levels it changed. A level whose change would break a rule
/// is left as it was and not returned. Both scans name every key column (`product_id IN …`), so
/// each is a few primary-key lookups whatever the planner knows of the table. PostgreSQL only.
fn change_levels_statement(
    tenant: Uuid,
    location: LocationId,
    changes: &[(ProductId, Change)],
    at: OffsetDateTime,
) -> Statement {
    let mut values: Vec<Value> = vec![tenant.into(), location.uuid().into(), at.into()];
    let (mut wanted, mut products) = (Vec::with_capacity(changes.len()), Vec::with_capacity(changes.len()));
    for (product, change) in changes {
        let n = values.len();
        wanted.push(format!("(${}::uuid, ${}::bigint, ${}::bigint)", n + 1, n + 2, n + 3));
        products.push(format!("${}::uuid", n + 1));
        values.extend([product.uuid().into(), change.on_hand.into(), change.reserved.into()]);
    }
    let (wanted, products) = (wanted.join(", "), products.join(", "));
    let sql = format!(
        "WITH wanted (product_id, on_hand, reserved) AS (VALUES {wanted}), \
         locked AS (SELECT level.product_id FROM stock_levels AS level \
             WHERE level.tenant_id = $1 AND level.location_id = $2 AND level.product_id IN ({products}) \
             ORDER BY level.product_id FOR UPDATE) \
         UPDATE stock_levels AS level \
         SET on_hand = level.on_hand + wanted.on_hand, reserved = level.reserved + wanted.reserved, updated_at = $3 \
         FROM wanted JOIN locked USING (product_id) \
         WHERE level.tenant_id = $1 AND level.location_id = $2 AND level.product_id IN ({products}) \
             AND level.product_id = wanted.product_id \
             AND level.on_hand + wanted.on_hand >= 0 AND level.reserved + wanted.reserved >= 0 \
             AND level.reserved + wanted.reserved <= level.on_hand + wanted.on_hand \
         RETURNING level.tenant_id, level.product_id, level.location_id, level.on_hand, level.reserved, level.updated_at"
    );
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

impl SeaTx {
    async fn find_level(
        &self,
        tenant: Uuid,
        product: ProductId,
        location: LocationId,
    ) -> Result<Option<StockLevel>, DomainError> {
        let found = stock_levels::Entity::find_by_id((tenant, product.uuid(), location.uuid()))
            .one(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(found.map(level_from))
    }

    /// Changes one existing level by `change` in one conditional statement, only if the result
    /// keeps every rule; the level after it, or `None` with nothing written.
    async fn change_level(
        &self,
        scope: &TenantScope,
        product: ProductId,
        location: LocationId,
        change: Change,
        at: OffsetDateTime,
    ) -> Result<Option<StockLevel>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        // Check and write in one statement: the same conditions as `Level::apply`, evaluated
        // on the row as it is when the row lock is held, so concurrent changes cannot oversell.
        // `RETURNING` (PostgreSQL, SQLite ≥ 3.35) hands back the level it wrote in that statement.
        let on_hand_after = Expr::col(stock_levels::Column::OnHand).add(change.on_hand);
        let reserved_after = Expr::col(stock_levels::Column::Reserved).add(change.reserved);
        let updated = stock_levels::Entity::update_many()
            .col_expr(stock_levels::Column::OnHand, on_hand_after.clone())
            .col_expr(stock_levels::Column::Reserved, reserved_after.clone())
            .col_expr(stock_levels::Column::UpdatedAt, Expr::value(at))
            .filter(stock_levels::Column::TenantId.eq(tenant))
            .filter(stock_levels::Column::ProductId.eq(product.uuid()))
            .filter(stock_levels::Column::LocationId.eq(location.uuid()))
            .filter(on_hand_after.clone().gte(0))
            .filter(reserved_after.clone().gte(0))
            .filter(reserved_after.lte(on_hand_after))
            .exec_with_returning(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(updated.into_iter().next().map(level_from))
    }
}

impl InventoryRepo for SeaTx {
    async fn apply_movement(
        &self,
        scope: &TenantScope,
        movement: &StockMovement,
    ) -> Result<Option<StockLevel>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let (product, location) = (movement.product.uuid(), movement.location.uuid());
        let zero = stock_levels::Model {
            tenant_id: tenant,
            product_id: product,
            location_id: location,
            on_hand: 0,
            reserved: 0,
            updated_at: movement.created_at,
        };
        stock_levels::Entity::insert(zero.into_active_model())
            .on_conflict_do_nothing_on([
                stock_levels::Column::TenantId,
                stock_levels::Column::ProductId,
                stock_levels::Column::LocationId,
            ])
            .exec_without_returning(&self.txn)
            .await
            .map_err(storage_error)?;
        let changed =
            self.change_level(scope, movement.product, movement.location, movement.change, movement.created_at).await?;
        if changed.is_some() {
            self.append_movements(scope, std::slice::from_ref(movement)).await?;
        }
        Ok(changed)
    }

    async fn change_levels(
        &self,
        scope: &TenantScope,
        location: LocationId,
        changes: &[(ProductId, Change)],
        at: OffsetDateTime,
    ) -> Result<Vec<Option<StockLevel>>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        if self.txn.get_database_backend() != DbBackend::Postgres || changes.len() < 2 {
            // One statement per level, in the caller's order; none after the first refusal.
            let mut after = Vec::with_capacity(changes.len());
            for (product, change) in changes {
                let changed = self.change_level(scope, *product, location, *change, at).await?;
                let refused = changed.is_none();
                after.push(changed);
                if refused {
                    break;
                }
            }
            after.resize(changes.len(), None);
            return Ok(after);
        }
        let mut distinct: Vec<ProductId> = changes.iter().map(|(product, _)| *product).collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() != changes.len() {
            return Err(DomainError::internal("a product's stock level was changed twice in one statement"));
        }
        let rows = self.txn.query_all_raw(change_levels_statement(tenant, location, changes, at)).await;
        let mut changed = HashMap::with_capacity(changes.len());
        for row in rows.map_err(storage_error)? {
            let level = level_from(stock_levels::Model::from_query_result(&row, "").map_err(storage_error)?);
            changed.insert(level.product, level);
        }
        Ok(changes.iter().map(|(product, _)| changed.remove(product)).collect())
    }

    async fn append_movements(&self, scope: &TenantScope, movements: &[StockMovement]) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        if movements.is_empty() {
            return Ok(());
        }
        let rows = movements.iter().map(|movement| movement_row(tenant, movement).into_active_model());
        let insert = stock_movements::Entity::insert_many(rows).build(self.txn.get_database_backend());
        self.txn.insert_later(insert).await.map_err(storage_error)
    }

    async fn stock_level(
        &self,
        scope: &TenantScope,
        product: ProductId,
        location: LocationId,
    ) -> Result<Option<StockLevel>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        self.find_level(tenant, product, location).await
    }

    async fn stock_levels_of(
        &self,
        scope: &TenantScope,
        products: &[ProductId],
    ) -> Result<Vec<StockLevel>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        if products.is_empty() {
            return Ok(Vec::new());
        }
        let rows = stock_levels::Entity::find()
            .filter(stock_levels::Column::TenantId.eq(tenant))
            .filter(stock_levels::Column::ProductId.is_in(products.iter().map(|p| p.uuid())))
            .all(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(rows.into_iter().map(level_from).collect())
    }

    async fn available_quantities(
        &self,
        scope: &TenantScope,
        products: &[ProductId],
    ) -> Result<Vec<(ProductId, i64)>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        if products.is_empty() {
            return Ok(Vec::new());
        }
        // SUM of a bigint is numeric on PostgreSQL: cast it back so both backends answer i64.
        let available = Expr::expr(Func::sum(
            Expr::col(stock_levels::Column::OnHand).sub(Expr::col(stock_levels::Column::Reserved)),
        ))
        .cast_as("BIGINT");
        let rows: Vec<(Uuid, i64)> = stock_levels::Entity::find()
            .select_only()
            .column(stock_levels::Column::ProductId)
            .column_as(available, "available")
            .filter(stock_levels::Column::TenantId.eq(tenant))
            .filter(stock_levels::Column::ProductId.is_in(products.iter().map(|p| p.uuid())))
            .group_by(stock_levels::Column::ProductId)
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(rows.into_iter().map(|(product, available)| (ProductId::from_uuid(product), available)).collect())
    }

    async fn stock_movements(
        &self,
        scope: &TenantScope,
        product: ProductId,
        location: LocationId,
        page: &PageRequest,
    ) -> Result<Page<StockMovement>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let select = stock_movements::Entity::find()
            .filter(stock_movements::Column::TenantId.eq(tenant))
            .filter(stock_movements::Column::ProductId.eq(product.uuid()))
            .filter(stock_movements::Column::LocationId.eq(location.uuid()));
        let rows = keyset_page(&self.txn, select, stock_movements::Column::Id, page, true).await?;
        rows.try_map(movement_from)
    }
}
