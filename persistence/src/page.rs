//! Keyset pagination: one page of any list, read past a cursor in the list's order, with
//! whether rows exist on either side; the same SQL meaning on SQLite and PostgreSQL.

use domain::DomainError;
use domain::page::{Direction, Page, PageRequest, SortValue};
use sea_orm::sea_query::{Expr, ExprTrait, IntoColumnRef, SimpleExpr};
use sea_orm::{EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect, Select, Value};
use uuid::Uuid;

use crate::error::storage_error;
use crate::txn::Txn;

/// The columns a list is ordered by: an optional sort column, then the id, which breaks ties;
/// both ascending, or both descending.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Keyset<C> {
    /// The sort column; `None` for lists ordered by id alone.
    pub sort: Option<C>,
    /// The id column.
    pub id: C,
    /// Whether the list runs from the highest `(sort, id)` down.
    pub descending: bool,
}

/// Reads one page of `select` by keyset on `id`, in ascending or (`newest_first`) descending
/// id order, and finds whether rows exist on either side.
pub(crate) async fn keyset_page<E>(
    txn: &Txn,
    select: Select<E>,
    id: E::Column,
    request: &PageRequest,
    newest_first: bool,
) -> Result<Page<E::Model>, DomainError>
where
    E: EntityTrait,
    E::Column: IntoColumnRef + Copy,
{
    keyset_page_by(txn, select, Keyset { sort: None, id, descending: newest_first }, request).await
}

/// A position in a keyset: the sort column with the item's value in it (none for lists ordered
/// by id alone), and the item's id.
type Position<C> = (Option<(C, Value)>, Uuid);

/// Rows past `position` upwards (or downwards), excluding it (or, `inclusive`, including it).
fn past<C: IntoColumnRef + Copy>(id: C, (sort, cursor): &Position<C>, upwards: bool, inclusive: bool) -> SimpleExpr {
    let id_past = match (upwards, inclusive) {
        (true, false) => Expr::col(id).gt(*cursor),
        (true, true) => Expr::col(id).gte(*cursor),
        (false, false) => Expr::col(id).lt(*cursor),
        (false, true) => Expr::col(id).lte(*cursor),
    };
    let Some((sort, value)) = sort else { return id_past };
    let key = || Expr::col(*sort);
    let (seek, strictly) = if upwards {
        (key().gte(value.clone()), key().gt(value.clone()))
    } else {
        (key().lte(value.clone()), key().lt(value.clone()))
    };
    seek.and(strictly.or(key().eq(value.clone()).and(id_past)))
}

/// A cursor's sort value as a database value.
fn sql_value(value: &SortValue) -> Value {
    match value {
        SortValue::Text(text) => text.clone().into(),
        SortValue::Integer(n) => (*n).into(),
        SortValue::Time(time) => (*time).into(),
    }
}

/// Reads one page of `select` in the order of `keyset`, starting strictly beyond the request's
/// cursor, and finds whether rows exist on either side.
///
/// A position is `(sort value, id)`, compared lexicographically. "Beyond `(v, i)`" is written
/// `key >= v AND (key > v OR (key = v AND id > i))`: the same meaning on SQLite and PostgreSQL,
/// and the redundant `key >= v` gives an index on `(tenant_id, key, id)` a range to seek to, so
/// a deep page does not scan the rows before it.
pub(crate) async fn keyset_page_by<E>(
    txn: &Txn,
    select: Select<E>,
    keyset: Keyset<E::Column>,
    request: &PageRequest,
) -> Result<Page<E::Model>, DomainError>
where
    E: EntityTrait,
    E::Column: IntoColumnRef + Copy,
{
    let forward = request.direction == Direction::Forward;
    // Reading "forward" in a descending list means walking positions downwards, and vice versa.
    let ascending = forward != keyset.descending;
    let id = keyset.id;
    let position: Option<Position<E::Column>> = match (&request.cursor, keyset.sort) {
        (None, _) => None,
        (Some(cursor), None) => Some((None, cursor.id)),
        (Some(cursor), Some(sort)) => {
            let value = cursor
                .value
                .as_ref()
                .ok_or_else(|| DomainError::internal("a cursor without a sort value reached a sorted list"))?;
            Some((Some((sort, sql_value(value))), cursor.id))
        }
    };
    let mut query = select.clone();
    if let Some(position) = &position {
        query = query.filter(past(id, position, ascending, false));
    }
    let order = if ascending { Order::Asc } else { Order::Desc };
    if let Some(sort) = keyset.sort {
        query = query.order_by(sort, order.clone());
    }
    query = query.order_by(id, order);
    let limit = u64::try_from(request.limit).unwrap_or(u64::MAX);
    let mut rows = query.limit(limit.saturating_add(1)).all(txn).await.map_err(storage_error)?;
    let more = rows.len() > request.limit;
    rows.truncate(request.limit);
    let before_cursor = match &position {
        Some(position) => select
            .filter(past(id, position, !ascending, true))
            .limit(1)
            .one(txn)
            .await
            .map_err(storage_error)?
            .is_some(),
        None => false,
    };
    if !forward {
        rows.reverse();
    }
    Ok(if forward {
        Page { items: rows, has_next: more, has_previous: before_cursor }
    } else {
        Page { items: rows, has_next: before_cursor, has_previous: more }
    })
}
