//! How rows become domain values and back, where more than one repository needs it: the
//! actor columns, tenants, the session-holder row, and the one answer to a stored value that no
//! longer parses.
//!
//! Stored data is Keel's own, written through the same domain types; a value that does not
//! parse back is corrupt, an internal error, never a client's.

use domain::DomainError;
use domain::auth::{ActorRef, Role};
use domain::identity::{MemberStatus, Slug, Tenant, TenantStatus};
use domain::ids::{ApiKeyId, SessionId, TenantId, UserId};
use domain::money::Currency;
use domain::ports::SessionHolder;
use sea_orm::QueryResult;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Query, SelectStatement};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::{sessions, tenants, users};
use crate::error::storage_error;

/// The error for a stored `what` that does not parse back into its domain type.
pub(crate) fn corrupt(what: &str) -> DomainError {
    DomainError::internal(format!("stored {what} is not valid"))
}

/// A [`Tenant`] from its row.
pub(crate) fn tenant_from(model: tenants::Model) -> Result<Tenant, DomainError> {
    Ok(Tenant {
        id: TenantId::from_uuid(model.id),
        slug: Slug::parse("slug", &model.slug).map_err(|_| corrupt("tenant slug"))?,
        name: model.name,
        currency: Currency::parse("currencyCode", &model.currency_code).map_err(|_| corrupt("tenant currency"))?,
        status: TenantStatus::parse(&model.status),
        created_at: model.created_at,
    })
}

/// The `(kind, id)` columns that record an actor.
pub(crate) fn actor_columns(actor: ActorRef) -> (&'static str, Option<Uuid>) {
    match actor {
        ActorRef::User(id) => ("USER", Some(id.uuid())),
        ActorRef::ApiKey(id) => ("API_KEY", Some(id.uuid())),
        ActorRef::Visitor => ("VISITOR", None),
        ActorRef::Operator => ("OPERATOR", None),
        ActorRef::System => ("SYSTEM", None),
    }
}

/// The actor recorded in `(kind, id)` columns.
pub(crate) fn actor_from(kind: &str, id: Option<Uuid>) -> Result<ActorRef, DomainError> {
    match (kind, id) {
        ("USER", Some(id)) => Ok(ActorRef::User(UserId::from_uuid(id))),
        ("API_KEY", Some(id)) => Ok(ActorRef::ApiKey(ApiKeyId::from_uuid(id))),
        ("VISITOR", _) => Ok(ActorRef::Visitor),
        ("OPERATOR", _) => Ok(ActorRef::Operator),
        ("SYSTEM", _) => Ok(ActorRef::System),
        _ => Err(corrupt("actor")),
    }
}

/// The lookup behind a [`SessionHolder`]: the member, their tenant and the session, joined, as
/// columns `role`, `user_status`, `tenant_status`, `revoked_at`, `expires_at` (the columns
/// PostgreSQL's `keel_session_holder` function returns too).
pub(crate) fn session_holder_query(tenant: Uuid, user: UserId, session: SessionId) -> SelectStatement {
    let (u, t, s) = (Alias::new("u"), Alias::new("t"), Alias::new("s"));
    Query::select()
        .expr_as(Expr::col((u.clone(), users::Column::Role)), Alias::new("role"))
        .expr_as(Expr::col((u.clone(), users::Column::Status)), Alias::new("user_status"))
        .expr_as(Expr::col((t.clone(), tenants::Column::Status)), Alias::new("tenant_status"))
        .expr_as(Expr::col((s.clone(), sessions::Column::RevokedAt)), Alias::new("revoked_at"))
        .expr_as(Expr::col((s.clone(), sessions::Column::ExpiresAt)), Alias::new("expires_at"))
        .from_as(users::Entity, u.clone())
        .join_as(
            JoinType::InnerJoin,
            tenants::Entity,
            t.clone(),
            Expr::col((t.clone(), tenants::Column::Id)).equals((u.clone(), users::Column::TenantId)),
        )
        .join_as(
            JoinType::InnerJoin,
            sessions::Entity,
            s.clone(),
            Expr::col((s.clone(), sessions::Column::TenantId))
                .equals((u.clone(), users::Column::TenantId))
                .and(Expr::col((s.clone(), sessions::Column::UserId)).equals((u.clone(), users::Column::Id))),
        )
        .and_where(Expr::col((u.clone(), users::Column::TenantId)).eq(tenant))
        .and_where(Expr::col((u, users::Column::Id)).eq(user.uuid()))
        .and_where(Expr::col((s, sessions::Column::Id)).eq(session.uuid()))
        .to_owned()
}

/// A [`SessionHolder`] from a row of [`session_holder_query`] or of `keel_session_holder`.
pub(crate) fn session_holder_from(row: &QueryResult) -> Result<SessionHolder, DomainError> {
    let text = |column: &str| row.try_get::<String>("", column).map_err(storage_error);
    Ok(SessionHolder {
        role: Role::parse(&text("role")?).ok_or_else(|| corrupt("role"))?,
        status: MemberStatus::parse(&text("user_status")?),
        tenant_status: TenantStatus::parse(&text("tenant_status")?),
        revoked: row.try_get::<Option<OffsetDateTime>>("", "revoked_at").map_err(storage_error)?.is_some(),
        expires_at: row.try_get::<OffsetDateTime>("", "expires_at").map_err(storage_error)?,
    })
}
