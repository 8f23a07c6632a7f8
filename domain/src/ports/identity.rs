//! The identity repository: tenants, members, sessions, refresh tokens, API keys and the audit
//! log, with the records only storage hands back ([`RefreshUse`], [`SessionHolder`]).

use std::future::Future;

use time::OffsetDateTime;

use crate::auth::{Role, TenantScope};
use crate::error::DomainError;
use crate::identity::{
    ApiKey, AuditEntry, Email, MemberStatus, PasswordHash, SecretHash, Session, Tenant, TenantStatus, User,
};
use crate::ids::{ApiKeyId, SessionId, UserId};
use crate::page::{Page, PageRequest};

/// What a refresh token presented for rotation turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshUse {
    /// Unused until now; it is now marked used.
    Fresh {
        /// Its session.
        session: SessionId,
        /// Whose.
        user: UserId,
    },
    /// Already used once: someone replayed it.
    Reused {
        /// Its session, to revoke.
        session: SessionId,
    },
    /// Not a token of this tenant.
    Unknown,
}

/// The state behind an access token, read on every authenticated request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionHolder {
    /// The member's current role.
    pub role: Role,
    /// Whether the member may sign in.
    pub status: MemberStatus,
    /// Whether the tenant is in business.
    pub tenant_status: TenantStatus,
    /// Whether the session was revoked (logout, deactivation, token reuse).
    pub revoked: bool,
    /// When the session ends.
    pub expires_at: OffsetDateTime,
}

/// Tenants, members, sessions, API keys and the audit log.
pub trait IdentityRepo {
    /// Takes the tenant's row lock for the rest of the transaction, serialising changes that
    /// check a tenant-wide rule (such as "one owner remains") across processes.
    fn lock_tenant(&self, scope: &TenantScope) -> impl Future<Output = Result<Tenant, DomainError>> + Send;
    /// The scope's tenant.
    fn tenant(&self, scope: &TenantScope) -> impl Future<Output = Result<Tenant, DomainError>> + Send;
    /// Registers a tenant; its id must be the scope's. A taken slug is `Invalid` (`TAKEN`).
    fn insert_tenant(
        &self,
        scope: &TenantScope,
        tenant: &Tenant,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;

    /// Adds a member. A taken email is `Invalid` (`TAKEN`).
    fn insert_user(
        &self,
        scope: &TenantScope,
        user: &User,
        password: &PasswordHash,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// A member by email, with their password hash.
    fn user_by_email(
        &self,
        scope: &TenantScope,
        email: &Email,
    ) -> impl Future<Output = Result<Option<(User, PasswordHash)>, DomainError>> + Send;
    /// A member by id.
    fn user(&self, scope: &TenantScope, id: UserId) -> impl Future<Output = Result<Option<User>, DomainError>> + Send;
    /// A page of members, oldest first.
    fn users(
        &self,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<User>, DomainError>> + Send;
    /// Stores a member's role, status and update time.
    fn update_user(&self, scope: &TenantScope, user: &User) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// How many active owners the tenant has.
    fn count_active_owners(&self, scope: &TenantScope) -> impl Future<Output = Result<u64, DomainError>> + Send;

    /// Starts a session.
    fn insert_session(
        &self,
        scope: &TenantScope,
        session: &Session,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// Adds a refresh token (by hash) to a session.
    fn insert_refresh_token(
        &self,
        scope: &TenantScope,
        session: SessionId,
        hash: &SecretHash,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// Marks a refresh token used, atomically: of two concurrent uses exactly one is `Fresh`.
    fn use_refresh_token(
        &self,
        scope: &TenantScope,
        hash: &SecretHash,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<RefreshUse, DomainError>> + Send;
    /// The session a refresh token (used or not) belongs to.
    fn session_of_refresh_token(
        &self,
        scope: &TenantScope,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<Option<SessionId>, DomainError>> + Send;
    /// The member and session state behind an access token, in one read.
    fn session_holder(
        &self,
        scope: &TenantScope,
        user: UserId,
        session: SessionId,
    ) -> impl Future<Output = Result<Option<SessionHolder>, DomainError>> + Send;
    /// A session by id.
    fn session(
        &self,
        scope: &TenantScope,
        id: SessionId,
    ) -> impl Future<Output = Result<Option<Session>, DomainError>> + Send;
    /// Revokes one session (idempotent).
    fn revoke_session(
        &self,
        scope: &TenantScope,
        session: SessionId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// Revokes every session of a member.
    fn revoke_sessions_of(
        &self,
        scope: &TenantScope,
        user: UserId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;

    /// Stores a new API key with the hash of its secret.
    fn insert_api_key(
        &self,
        scope: &TenantScope,
        key: &ApiKey,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// An API key with the hash of its secret.
    fn api_key(
        &self,
        scope: &TenantScope,
        id: ApiKeyId,
    ) -> impl Future<Output = Result<Option<(ApiKey, SecretHash)>, DomainError>> + Send;
    /// A page of API keys, oldest first.
    fn api_keys(
        &self,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<ApiKey>, DomainError>> + Send;
    /// Records that a key authenticated a request at `now`: writes only its last use, and
    /// only while it is not revoked, so a use racing a revocation cannot undo it.
    fn touch_api_key(
        &self,
        scope: &TenantScope,
        id: ApiKeyId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// Revokes a key at `now`: writes only its revocation, and only if it is not revoked yet
    /// (a key keeps its first revocation time).
    fn revoke_api_key(
        &self,
        scope: &TenantScope,
        id: ApiKeyId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;

    /// Appends to the audit log.
    fn append_audit(
        &self,
        scope: &TenantScope,
        entry: &AuditEntry,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// A page of the audit log, newest first.
    fn audit_entries(
        &self,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<AuditEntry>, DomainError>> + Send;
}
