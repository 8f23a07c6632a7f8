//! The audit log: logins, member and key changes, newest first.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, Object};
use domain::auth::ActorRef;
use domain::identity::{AuditEntry, audit};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::graphql::actor::{ActorKindEnum, member_id_of};
use crate::graphql::connection::{connection, list_complexity, page_request};
use crate::graphql::context::RequestContext;
use crate::graphql::global_id::{self, Kind};

/// What an audit entry records.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "AuditAction", remote = "domain::identity::AuditAction")]
pub enum AuditActionEnum {
    /// A tenant was registered with its owner.
    TenantRegistered,
    /// A member signed in.
    LoginSucceeded,
    /// A sign-in failed.
    LoginFailed,
    /// A used refresh token was presented again; its session was revoked.
    RefreshTokenReused,
    /// A member signed out.
    LoggedOut,
    /// A member was created.
    MemberCreated,
    /// A member's role changed.
    RoleChanged,
    /// A member was deactivated.
    MemberDeactivated,
    /// An API key was created.
    ApiKeyCreated,
    /// An API key was revoked.
    ApiKeyRevoked,
}

/// One line of the audit log.
#[derive(Clone)]
pub struct AuditEntryObject(pub AuditEntry);

#[Object(name = "AuditEntry")]
impl AuditEntryObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id::encode(Kind::AuditEntry, self.0.id.uuid())
    }
    /// What happened.
    async fn action(&self) -> AuditActionEnum {
        self.0.action.into()
    }
    /// What kind of actor acted.
    async fn actor_kind(&self) -> ActorKindEnum {
        self.0.actor.into()
    }
    /// The member who acted, if a member did.
    async fn member_id(&self) -> Option<ID> {
        member_id_of(self.0.actor)
    }
    /// The API key that acted, if one did.
    async fn api_key_id(&self) -> Option<ID> {
        match self.0.actor {
            ActorRef::ApiKey(id) => Some(global_id::encode(Kind::ApiKey, id.uuid())),
            _ => None,
        }
    }
    /// What it happened to, in words (an email, a key name, `STAFF → ADMIN`).
    async fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }
    /// The client's address.
    async fn client_address(&self) -> Option<&str> {
        self.0.address.as_deref()
    }
    /// When.
    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }
}

/// Audit log queries.
#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// Logins, member and key changes, newest first. Needs `audit:read` (owners, admins).
    #[graphql(complexity = "list_complexity(first, last, child_complexity)")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, AuditEntryObject>, ApiError> {
        let req = RequestContext::of(ctx)?;
        let page = page_request(first, after, last, before)?;
        let entries = audit::audit_log(&req.services.ports, req.caller, &page).await?;
        Ok(connection(entries, |e| e.id.uuid(), AuditEntryObject))
    }
}
