//! Members: the people of a tenant, their roles, and adding, promoting and deactivating them.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use domain::DomainError;
use domain::identity::{Email, Password, User, members};
use domain::ids::UserId;
use time::OffsetDateTime;

use crate::error::{ApiError, UserError, payload, user_errors};
use crate::graphql::connection::{connection, list_complexity, page_request};
use crate::graphql::context::{RequestContext, nullable};
use crate::graphql::global_id::{self, Kind};

/// A member's role.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "Role", remote = "domain::auth::Role")]
pub enum RoleEnum {
    /// Owns the tenant: everything, including managing other owners.
    Owner,
    /// Runs the tenant: everything except managing owners.
    Admin,
    /// Catalog reads, stock and orders.
    Staff,
    /// Reads the active catalog; places, pays and reads their own orders.
    Customer,
}

/// Whether a member may sign in.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "MemberStatus", remote = "domain::identity::MemberStatus")]
pub enum MemberStatusEnum {
    /// May sign in.
    Active,
    /// May not; their sessions were revoked.
    Deactivated,
}

/// A person in a tenant.
#[derive(Clone)]
pub struct MemberObject(pub User);

#[Object(name = "Member")]
impl MemberObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id::encode(Kind::Member, self.0.id.uuid())
    }
    /// Email, unique in the tenant.
    async fn email(&self) -> &str {
        self.0.email.as_str()
    }
    /// Role.
    async fn role(&self) -> RoleEnum {
        self.0.role.into()
    }
    /// Whether they may sign in.
    async fn status(&self) -> MemberStatusEnum {
        self.0.status.into()
    }
    /// When they were created.
    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }
    /// When they last changed.
    async fn updated_at(&self) -> OffsetDateTime {
        self.0.updated_at
    }
}

/// Member queries.
#[derive(Default)]
pub struct MemberQuery;

#[Object]
impl MemberQuery {
    /// The tenant's members, oldest first. Needs `members:read`.
    #[graphql(complexity = "list_complexity(first, last, child_complexity)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, MemberObject>, ApiError> {
        let req = RequestContext::of(ctx)?;
        let page = page_request(first, after, last, before)?;
        let members = members::members(&req.services.ports, req.caller, &page).await?;
        Ok(connection(members, |u| u.id.uuid(), MemberObject))
    }
}

/// Resolves `node(id:)` for a member; `node` decides which failures mean "not there".
pub async fn member_node(req: &RequestContext<'_>, id: uuid::Uuid) -> Result<MemberObject, DomainError> {
    members::member(&req.services.ports, req.caller, UserId::from_uuid(id)).await.map(MemberObject)
}

/// A new member.
#[derive(InputObject)]
pub struct CreateMemberInput {
    /// Their email, unique in the tenant.
    pub email: String,
    /// Their initial password, 10-128 characters.
    #[graphql(secret)]
    pub password: String,
    /// Their role: one whose every permission you hold yourself (`PERMISSION_NOT_HELD`
    /// otherwise); only owners may create owners.
    pub role: RoleEnum,
}

/// A role change.
#[derive(InputObject)]
pub struct ChangeRoleInput {
    /// The member.
    pub member_id: ID,
    /// The new role: one whose every permission you hold yourself.
    pub role: RoleEnum,
}

/// A member to deactivate.
#[derive(InputObject)]
pub struct DeactivateMemberInput {
    /// The member.
    pub member_id: ID,
}

/// A member after a change.
#[derive(SimpleObject, Default)]
pub struct MemberPayload {
    /// The member, when the change happened.
    pub member: Option<MemberObject>,
    /// Why nothing happened, if nothing did.
    pub user_errors: Vec<UserError>,
}

/// Member mutations.
#[derive(Default)]
pub struct MemberMutation;

#[Object]
impl MemberMutation {
    /// Adds a member with an initial password. Needs `members:manage`, and every permission of
    /// the role (`PERMISSION_NOT_HELD` on `role` otherwise); only owners create owners.
    /// Hashes a password: one request may hash at most 5 (`QUERY_TOO_COMPLEX` beyond).
    async fn create_member(
        &self,
        ctx: &Context<'_>,
        input: CreateMemberInput,
    ) -> Result<Option<MemberPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            req.budget.spend_password_check()?;
            let email = Email::parse("email", &input.email);
            let password = Password::parse("password", &input.password);
            let command = match (email, password) {
                (Ok(email), Ok(password)) => members::CreateMember { email, password, role: input.role.into() },
                (email, password) => {
                    let invalid = [email.err(), password.err()].into_iter().flatten().collect();
                    return Ok(MemberPayload { member: None, user_errors: user_errors(invalid) });
                }
            };
            let result = members::create_member(&req.services.ports, req.caller, command).await;
            payload(
                result,
                |u| MemberPayload { member: Some(MemberObject(u)), user_errors: Vec::new() },
                |e| MemberPayload { member: None, user_errors: e },
            )
        })
        .await
    }

    /// Changes a member's role. Needs `members:manage`, and every permission of both the new
    /// role and the member's current one (`PERMISSION_NOT_HELD` on `role` or `memberId`
    /// otherwise); only owners touch the owner role; the last active owner cannot be demoted
    /// (`LAST_OWNER`).
    async fn change_role(&self, ctx: &Context<'_>, input: ChangeRoleInput) -> Result<Option<MemberPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let id = UserId::from_uuid(global_id::decode(Kind::Member, &input.member_id)?);
            let result = members::change_role(&req.services.ports, req.caller, id, input.role.into()).await;
            payload(
                result,
                |u| MemberPayload { member: Some(MemberObject(u)), user_errors: Vec::new() },
                |e| MemberPayload { member: None, user_errors: e },
            )
        })
        .await
    }

    /// Deactivates a member and ends their sessions. Needs `members:manage`, and every permission
    /// of the member's role (`PERMISSION_NOT_HELD` on `memberId` otherwise); only owners
    /// deactivate owners; never the last active owner (`LAST_OWNER`).
    async fn deactivate_member(
        &self,
        ctx: &Context<'_>,
        input: DeactivateMemberInput,
    ) -> Result<Option<MemberPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let id = UserId::from_uuid(global_id::decode(Kind::Member, &input.member_id)?);
            let result = members::deactivate_member(&req.services.ports, req.caller, id).await;
            payload(
                result,
                |u| MemberPayload { member: Some(MemberObject(u)), user_errors: Vec::new() },
                |e| MemberPayload { member: None, user_errors: e },
            )
        })
        .await
    }
}
