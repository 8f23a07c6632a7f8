//! Products.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "products")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    /// `domain::catalog::name_sort_key(name)`, what `NAME` sorts by.
    pub sort_name: String,
    pub description: String,
    pub price_minor: i64,
    pub currency_code: String,
    pub active: bool,
    pub version: i32,
    /// Below this many available units at a location, a change writes `stock.low`; none: never.
    pub low_stock_threshold: Option<i64>,
    pub created_at: TimeDateTimeWithTimeZone,
    pub updated_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
