//! The identity part of the schema: tenants, members, sessions, API keys, the audit log.
//!
//! Resolvers parse input, call one domain use-case and map its result; authorization happens
//! inside the use-case.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use domain::auth::{ActorRef, Permission, Role};
use domain::identity::{
    ApiKey, AuditAction, AuditEntry, Email, MemberStatus, Password, Profile, SignedIn, Tenant, TenantStatus, User,
    api_keys, audit, members, sessions,
};
use domain::ids::{ApiKeyId, UserId};
use time::OffsetDateTime;

use super::actor::{ActorKindEnum, member_id_of};
use super::connection::{connection, list_complexity, page_request};
use super::context::{RequestContext, nullable};
use super::global_id::{self, Kind};
use crate::error::{ApiError, UserError, payload, user_errors};

// ---- enums -------------------------------------------------------------------------------

/// A member's role.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "Role")]
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

impl From<Role> for RoleEnum {
    fn from(role: Role) -> Self {
        match role {
            Role::Owner => RoleEnum::Owner,
            Role::Admin => RoleEnum::Admin,
            Role::Staff => RoleEnum::Staff,
            Role::Customer => RoleEnum::Customer,
        }
    }
}

impl From<RoleEnum> for Role {
    fn from(role: RoleEnum) -> Self {
        match role {
            RoleEnum::Owner => Role::Owner,
            RoleEnum::Admin => Role::Admin,
            RoleEnum::Staff => Role::Staff,
            RoleEnum::Customer => Role::Customer,
        }
    }
}

/// A named capability inside a tenant. Roles grant fixed sets; API keys list theirs.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "Permission")]
pub enum PermissionEnum {
    /// `profile:read`: `me`.
    ProfileRead,
    /// `members:read`: list members.
    MembersRead,
    /// `members:manage`: create members, change roles, deactivate.
    MembersManage,
    /// `api_keys:manage`: create, list and revoke API keys.
    ApiKeysManage,
    /// `audit:read`: read the audit log.
    AuditRead,
    /// `catalog:read`: read products.
    CatalogRead,
    /// `catalog:write`: change products.
    CatalogWrite,
    /// `inventory:read`: read stock.
    InventoryRead,
    /// `inventory:write`: receive, adjust and transfer stock.
    InventoryWrite,
    /// `orders:read`: read orders.
    OrdersRead,
    /// `orders:write`: place orders and cancel unpaid ones (customers: their own).
    OrdersWrite,
    /// `orders:manage`: record payment taken outside Keel, fulfil, cancel paid orders.
    OrdersManage,
    /// `payments:write`: pay orders.
    PaymentsWrite,
    /// `payments:refund`: refund payments.
    PaymentsRefund,
    /// `webhooks:manage`: manage webhook endpoints.
    WebhooksManage,
}

const PERMISSIONS: [(PermissionEnum, Permission); 15] = [
    (PermissionEnum::ProfileRead, Permission::ProfileRead),
    (PermissionEnum::MembersRead, Permission::MembersRead),
    (PermissionEnum::MembersManage, Permission::MembersManage),
    (PermissionEnum::ApiKeysManage, Permission::ApiKeysManage),
    (PermissionEnum::AuditRead, Permission::AuditRead),
    (PermissionEnum::CatalogRead, Permission::CatalogRead),
    (PermissionEnum::CatalogWrite, Permission::CatalogWrite),
    (PermissionEnum::InventoryRead, Permission::InventoryRead),
    (PermissionEnum::InventoryWrite, Permission::InventoryWrite),
    (PermissionEnum::OrdersRead, Permission::OrdersRead),
    (PermissionEnum::OrdersWrite, Permission::OrdersWrite),
    (PermissionEnum::OrdersManage, Permission::OrdersManage),
    (PermissionEnum::PaymentsWrite, Permission::PaymentsWrite),
    (PermissionEnum::PaymentsRefund, Permission::PaymentsRefund),
    (PermissionEnum::WebhooksManage, Permission::WebhooksManage),
];

fn to_permission(value: PermissionEnum) -> Permission {
    PERMISSIONS.iter().find(|(e, _)| *e == value).map_or(Permission::ProfileRead, |(_, p)| *p)
}

fn from_permissions(permissions: &[Permission]) -> Vec<PermissionEnum> {
    permissions.iter().filter_map(|p| PERMISSIONS.iter().find(|(_, d)| d == p).map(|(e, _)| *e)).collect()
}

/// Whether a tenant may be used.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "TenantStatus")]
pub enum TenantStatusEnum {
    /// In business.
    Active,
    /// Switched off by an operator.
    Suspended,
}

/// Whether a member may sign in.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "MemberStatus")]
pub enum MemberStatusEnum {
    /// May sign in.
    Active,
    /// May not; their sessions were revoked.
    Deactivated,
}

/// What an audit entry records.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "AuditAction")]
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

impl From<AuditAction> for AuditActionEnum {
    fn from(action: AuditAction) -> Self {
        match action {
            AuditAction::TenantRegistered => AuditActionEnum::TenantRegistered,
            AuditAction::LoginSucceeded => AuditActionEnum::LoginSucceeded,
            AuditAction::LoginFailed => AuditActionEnum::LoginFailed,
            AuditAction::RefreshTokenReused => AuditActionEnum::RefreshTokenReused,
            AuditAction::LoggedOut => AuditActionEnum::LoggedOut,
            AuditAction::MemberCreated => AuditActionEnum::MemberCreated,
            AuditAction::RoleChanged => AuditActionEnum::RoleChanged,
            AuditAction::MemberDeactivated => AuditActionEnum::MemberDeactivated,
            AuditAction::ApiKeyCreated => AuditActionEnum::ApiKeyCreated,
            AuditAction::ApiKeyRevoked => AuditActionEnum::ApiKeyRevoked,
        }
    }
}

// ---- objects -----------------------------------------------------------------------------

/// A shop: the unit of isolation. Everything else belongs to exactly one tenant.
#[derive(Clone)]
pub struct TenantObject(pub Tenant);

#[Object(name = "Tenant")]
impl TenantObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id::encode(Kind::Tenant, self.0.id.uuid())
    }
    /// Unique handle, used to sign in.
    async fn slug(&self) -> &str {
        self.0.slug.as_str()
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// ISO 4217 code of the currency every price is in.
    async fn currency_code(&self) -> &str {
        self.0.currency.code()
    }
    /// Whether the tenant may be used.
    async fn status(&self) -> TenantStatusEnum {
        match self.0.status {
            TenantStatus::Active => TenantStatusEnum::Active,
            TenantStatus::Suspended => TenantStatusEnum::Suspended,
        }
    }
    /// When it was registered.
    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }
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
        match self.0.status {
            MemberStatus::Active => MemberStatusEnum::Active,
            MemberStatus::Deactivated => MemberStatusEnum::Deactivated,
        }
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

/// A credential for programs, with an explicit permission list. Its secret is shown once,
/// when created.
#[derive(Clone)]
pub struct ApiKeyObject(pub ApiKey);

#[Object(name = "ApiKey")]
impl ApiKeyObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id::encode(Kind::ApiKey, self.0.id.uuid())
    }
    /// Label.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The last characters of the secret, to recognise the key (`…abcd`).
    async fn hint(&self) -> String {
        format!("…{}", self.0.hint)
    }
    /// Exactly what the key may do.
    async fn permissions(&self) -> Vec<PermissionEnum> {
        from_permissions(&self.0.permissions)
    }
    /// Whether the key still authenticates.
    async fn active(&self) -> bool {
        self.0.revoked_at.is_none()
    }
    /// When it was created.
    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }
    /// When it last authenticated a request (updated at most once a minute).
    async fn last_used_at(&self) -> Option<OffsetDateTime> {
        self.0.last_used_at
    }
    /// When it was revoked.
    async fn revoked_at(&self) -> Option<OffsetDateTime> {
        self.0.revoked_at
    }
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

/// The caller: their tenant, who they are, and what they may do.
pub struct Me(Profile);

#[Object]
impl Me {
    /// The caller's tenant.
    async fn tenant(&self) -> TenantObject {
        TenantObject(self.0.tenant.clone())
    }
    /// The member, when a person is calling.
    async fn member(&self) -> Option<MemberObject> {
        self.0.user.clone().map(MemberObject)
    }
    /// The API key, when a program is calling.
    async fn api_key(&self) -> Option<ApiKeyObject> {
        self.0.api_key.clone().map(ApiKeyObject)
    }
    /// What the caller may do.
    async fn permissions(&self) -> Vec<PermissionEnum> {
        from_permissions(&self.0.permissions)
    }
}

// ---- queries -----------------------------------------------------------------------------

/// Identity queries.
#[derive(Default)]
pub struct IdentityQuery;

#[Object]
impl IdentityQuery {
    /// The caller. `UNAUTHENTICATED` without a credential.
    async fn me(&self, ctx: &Context<'_>) -> Result<Me, ApiError> {
        let req = RequestContext::of(ctx)?;
        Ok(Me(members::me(&req.services.ports, req.caller).await?))
    }

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

    /// The tenant's API keys, oldest first, revoked ones included. Needs `api_keys:manage`.
    #[graphql(complexity = "list_complexity(first, last, child_complexity)")]
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, ApiKeyObject>, ApiError> {
        let req = RequestContext::of(ctx)?;
        let page = page_request(first, after, last, before)?;
        let keys = api_keys::api_keys(&req.services.ports, req.caller, &page).await?;
        Ok(connection(keys, |k| k.id.uuid(), ApiKeyObject))
    }

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

/// Resolves `node(id:)` for a tenant: only the caller's own; `None` for any other.
///
/// # Errors
/// When the caller's profile cannot be read (no credential, a storage failure).
pub async fn tenant_node(req: &RequestContext<'_>, id: uuid::Uuid) -> Result<Option<TenantObject>, ApiError> {
    let profile = members::me(&req.services.ports, req.caller).await?;
    Ok((profile.tenant.id.uuid() == id).then_some(TenantObject(profile.tenant)))
}

/// Resolves `node(id:)` for a member; `None` for unknown, foreign or hidden ones.
pub async fn member_node(req: &RequestContext<'_>, id: uuid::Uuid) -> Option<MemberObject> {
    members::member(&req.services.ports, req.caller, UserId::from_uuid(id)).await.ok().map(MemberObject)
}

/// Resolves `node(id:)` for an API key; `None` for unknown, foreign or hidden ones.
pub async fn api_key_node(req: &RequestContext<'_>, id: uuid::Uuid) -> Option<ApiKeyObject> {
    api_keys::api_key(&req.services.ports, req.caller, ApiKeyId::from_uuid(id)).await.ok().map(ApiKeyObject)
}

// ---- mutations ---------------------------------------------------------------------------

/// A new tenant and its first owner.
#[derive(InputObject)]
pub struct RegisterTenantInput {
    /// Display name, 1-100 characters.
    pub name: String,
    /// Unique handle: 3-63 of a-z, 0-9 and '-'.
    pub slug: String,
    /// ISO 4217 code of the currency every price will be in.
    pub currency_code: String,
    /// The owner's email.
    pub owner_email: String,
    /// The owner's password, 10-128 characters.
    #[graphql(secret)]
    pub owner_password: String,
}

/// A sign-in.
#[derive(InputObject)]
pub struct LoginInput {
    /// The tenant's handle.
    pub tenant_slug: String,
    /// The member's email.
    pub email: String,
    /// The member's password.
    #[graphql(secret)]
    pub password: String,
}

/// A refresh token to exchange.
#[derive(InputObject)]
pub struct RefreshTokenInput {
    /// The refresh token from the last sign-in or refresh; it is used up by this call.
    #[graphql(secret)]
    pub refresh_token: String,
}

/// A session to end.
#[derive(InputObject)]
pub struct LogoutInput {
    /// Any refresh token of the session.
    #[graphql(secret)]
    pub refresh_token: String,
}

/// A new member.
#[derive(InputObject)]
pub struct CreateMemberInput {
    /// Their email, unique in the tenant.
    pub email: String,
    /// Their initial password, 10-128 characters.
    #[graphql(secret)]
    pub password: String,
    /// Their role; only owners may create owners.
    pub role: RoleEnum,
}

/// A role change.
#[derive(InputObject)]
pub struct ChangeRoleInput {
    /// The member.
    pub member_id: ID,
    /// The new role.
    pub role: RoleEnum,
}

/// A member to deactivate.
#[derive(InputObject)]
pub struct DeactivateMemberInput {
    /// The member.
    pub member_id: ID,
}

/// A new API key.
#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// A label, 1-100 characters.
    pub name: String,
    /// What it may do; each must be a permission you hold.
    pub permissions: Vec<PermissionEnum>,
}

/// A key to revoke.
#[derive(InputObject)]
pub struct RevokeApiKeyInput {
    /// The key.
    pub api_key_id: ID,
}

macro_rules! session_payload {
    ($name:ident, $graphql:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(SimpleObject, Default)]
        #[graphql(name = $graphql)]
        pub struct $name {
            /// Bearer token for `Authorization`, valid until `expiresAt`.
            pub access_token: Option<String>,
            /// Exchange it with `refreshToken` for new tokens; it works once.
            pub refresh_token: Option<String>,
            /// When the access token expires.
            pub expires_at: Option<OffsetDateTime>,
            /// The signed-in member.
            pub member: Option<MemberObject>,
            /// Their tenant.
            pub tenant: Option<TenantObject>,
            /// Why nothing happened, if nothing did.
            pub user_errors: Vec<UserError>,
        }

        impl $name {
            fn signed_in(req: &RequestContext<'_>, signed_in: SignedIn) -> Result<Self, ApiError> {
                let now = req.services.ports.clock.now();
                let access = req.services.tokens.issue(&signed_in, now)?;
                Ok($name {
                    access_token: Some(access.token),
                    refresh_token: Some(signed_in.refresh_token.expose().to_owned()),
                    expires_at: Some(access.expires_at),
                    member: Some(MemberObject(signed_in.user)),
                    tenant: Some(TenantObject(signed_in.tenant)),
                    user_errors: Vec::new(),
                })
            }

            fn rejected(user_errors: Vec<UserError>) -> Self {
                $name { user_errors, ..Default::default() }
            }
        }
    };
}

session_payload!(RegisterTenantPayload, "RegisterTenantPayload", "The new tenant, its owner, and the owner's tokens.");
session_payload!(LoginPayload, "LoginPayload", "Tokens for the signed-in member.");
session_payload!(RefreshTokenPayload, "RefreshTokenPayload", "Fresh tokens; the presented refresh token is used up.");

/// The outcome of `logout`.
#[derive(SimpleObject)]
pub struct LogoutPayload {
    /// Always true: the session is over (or was never valid).
    pub logged_out: bool,
    /// Always empty.
    pub user_errors: Vec<UserError>,
}

/// A member after a change.
#[derive(SimpleObject, Default)]
pub struct MemberPayload {
    /// The member, when the change happened.
    pub member: Option<MemberObject>,
    /// Why nothing happened, if nothing did.
    pub user_errors: Vec<UserError>,
}

/// A new API key and its secret.
#[derive(SimpleObject, Default)]
pub struct CreateApiKeyPayload {
    /// The key.
    pub api_key: Option<ApiKeyObject>,
    /// The secret (`keel_sk_…`), shown only now: store it, it cannot be retrieved again.
    pub secret: Option<String>,
    /// Why nothing happened, if nothing did.
    pub user_errors: Vec<UserError>,
}

/// An API key after a change.
#[derive(SimpleObject, Default)]
pub struct ApiKeyPayload {
    /// The key.
    pub api_key: Option<ApiKeyObject>,
    /// Why nothing happened, if nothing did.
    pub user_errors: Vec<UserError>,
}

/// Identity mutations.
#[derive(Default)]
pub struct IdentityMutation;

#[Object]
impl IdentityMutation {
    /// Creates a tenant and its owner, and signs the owner in. Open to anyone in development;
    /// in production only with `KEEL_OPEN_REGISTRATION=true` (`FORBIDDEN` otherwise). Hashes a
    /// password: one request may hash at most 5 (`QUERY_TOO_COMPLEX` beyond).
    async fn register_tenant(
        &self,
        ctx: &Context<'_>,
        input: RegisterTenantInput,
    ) -> Result<Option<RegisterTenantPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            req.budget.spend_password_check()?;
            let command = match sessions::RegisterTenant::parse(
                &input.name,
                &input.slug,
                &input.currency_code,
                &input.owner_email,
                &input.owner_password,
            ) {
                Ok(command) => command,
                Err(invalid) => return Ok(RegisterTenantPayload::rejected(user_errors(invalid))),
            };
            let result =
                sessions::register_tenant(&req.services.ports, req.caller, command, req.services.open_registration)
                    .await;
            payload(result, |s| RegisterTenantPayload::signed_in(&req, s), |e| Ok(RegisterTenantPayload::rejected(e)))?
        })
        .await
    }

    /// Signs a member in. Wrong credentials are a `userErrors` entry (`INVALID_CREDENTIALS`);
    /// too many failures are `RATE_LIMITED` with `retryAfter` seconds. Checks a password: one
    /// request may check at most 5 (`QUERY_TOO_COMPLEX` beyond).
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<Option<LoginPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            req.budget.spend_password_check()?;
            let command = sessions::Login {
                tenant_slug: input.tenant_slug,
                email: input.email,
                password: Password::presented(&input.password),
            };
            let result = sessions::login(&req.services.ports, req.caller, command).await;
            payload(result, |s| LoginPayload::signed_in(&req, s), |e| Ok(LoginPayload::rejected(e)))?
        })
        .await
    }

    /// Exchanges a refresh token for new tokens. A token works once: presenting a used one
    /// revokes its whole session. `UNAUTHENTICATED` for any token that is not valid.
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        input: RefreshTokenInput,
    ) -> Result<Option<RefreshTokenPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let result = sessions::refresh_session(&req.services.ports, req.caller, &input.refresh_token).await;
            payload(result, |s| RefreshTokenPayload::signed_in(&req, s), |e| Ok(RefreshTokenPayload::rejected(e)))?
        })
        .await
    }

    /// Ends the session of a refresh token. Its access tokens stop working at once.
    async fn logout(&self, ctx: &Context<'_>, input: LogoutInput) -> Result<Option<LogoutPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            sessions::logout(&req.services.ports, req.caller, &input.refresh_token).await?;
            Ok(LogoutPayload { logged_out: true, user_errors: Vec::new() })
        })
        .await
    }

    /// Adds a member with an initial password. Needs `members:manage`; only owners create owners.
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

    /// Changes a member's role. Needs `members:manage`; only owners touch the owner role; the
    /// last active owner cannot be demoted (`LAST_OWNER`).
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

    /// Deactivates a member and ends their sessions. Needs `members:manage`; only owners
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

    /// Creates an API key with the listed permissions (each one you hold yourself). The secret
    /// is in the payload, once. Needs `api_keys:manage`.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> Result<Option<CreateApiKeyPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let permissions = input.permissions.into_iter().map(to_permission).collect();
            let command = match api_keys::CreateApiKey::parse(&input.name, permissions) {
                Ok(command) => command,
                Err(invalid) => {
                    return Ok(CreateApiKeyPayload { user_errors: user_errors(invalid), ..Default::default() });
                }
            };
            let result = api_keys::create_api_key(&req.services.ports, req.caller, command).await;
            payload(
                result,
                |(key, secret)| CreateApiKeyPayload {
                    api_key: Some(ApiKeyObject(key)),
                    secret: Some(secret.expose().to_owned()),
                    user_errors: Vec::new(),
                },
                |e| CreateApiKeyPayload { user_errors: e, ..Default::default() },
            )
        })
        .await
    }

    /// Revokes an API key; it stops working at once. Needs `api_keys:manage`.
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        input: RevokeApiKeyInput,
    ) -> Result<Option<ApiKeyPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let id = ApiKeyId::from_uuid(global_id::decode(Kind::ApiKey, &input.api_key_id)?);
            let result = api_keys::revoke_api_key(&req.services.ports, req.caller, id).await;
            payload(
                result,
                |k| ApiKeyPayload { api_key: Some(ApiKeyObject(k)), user_errors: Vec::new() },
                |e| ApiKeyPayload { api_key: None, user_errors: e },
            )
        })
        .await
    }
}
