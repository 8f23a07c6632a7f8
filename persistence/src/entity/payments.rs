//! Payments: one attempt each to take an order's total, with its processor, status and the
//! processor's reference once it named one.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub order_id: Uuid,
    /// The order's customer, copied so that a customer's reads filter on the payment itself.
    pub customer_id: Option<Uuid>,
    pub amount_minor: i64,
    pub currency_code: String,
    pub processor: String,
    pub method: String,
    pub status: String,
    pub reference: Option<String>,
    pub processor_key: String,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created_by_kind: String,
    pub created_by_id: Option<Uuid>,
    pub created_at: TimeDateTimeWithTimeZone,
    pub updated_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
