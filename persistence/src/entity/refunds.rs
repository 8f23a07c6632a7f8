//! Refunds: money returned from a payment, with its status and the processor's reference once
//! it named one.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refunds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub payment_id: Uuid,
    pub amount_minor: i64,
    pub currency_code: String,
    pub reason: Option<String>,
    pub status: String,
    pub reference: Option<String>,
    pub processor_key: String,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub cancels_order: bool,
    pub created_by_kind: String,
    pub created_by_id: Option<Uuid>,
    pub created_at: TimeDateTimeWithTimeZone,
    pub updated_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
