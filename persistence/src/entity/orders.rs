//! Orders.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub number: i64,
    pub status: String,
    pub customer_email: String,
    pub customer_id: Option<Uuid>,
    pub note: Option<String>,
    pub location_id: Uuid,
    pub currency_code: String,
    pub subtotal_minor: i64,
    pub total_minor: i64,
    pub placed_by_kind: String,
    pub placed_by_id: Option<Uuid>,
    pub version: i32,
    pub created_at: TimeDateTimeWithTimeZone,
    pub updated_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
