//! The identity repository: tenants, members, sessions, refresh tokens, API keys, audit log.
//!
//! Every query filters by the transaction's tenant (checked against the scope) before
//! anything else; on PostgreSQL row-level security enforces the same a second time.

use domain::auth::{Permission, Role, TenantScope};
use domain::identity::{
    ApiKey, AuditAction, AuditEntry, Email, MemberStatus, PasswordHash, SecretHash, Session, Tenant, User,
};
use domain::ids::{ApiKeyId, AuditEntryId, SessionId, TenantId, UserId};
use domain::page::{Page, PageRequest};
use domain::ports::{IdentityRepo, RefreshUse, SessionHolder};
use domain::{DomainError, Taken};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::codec::{actor_columns, actor_from, corrupt, session_holder_from, session_holder_query, tenant_from};
use crate::entity::{api_keys, audit_log, refresh_tokens, sessions, tenants, users};
use crate::error::{on_unique, storage_error};
use crate::page::keyset_page;
use crate::store::SeaTx;

/// The row of `tenant`.
pub(crate) fn tenant_row(tenant: &Tenant) -> tenants::Model {
    tenants::Model {
        id: tenant.id.uuid(),
        slug: tenant.slug.as_str().to_owned(),
        name: tenant.name.clone(),
        currency_code: tenant.currency.code().to_owned(),
        status: tenant.status.as_str().to_owned(),
        created_at: tenant.created_at,
        updated_at: tenant.created_at,
    }
}

/// The row of member `user` of `tenant`, who signs in with `password`.
pub(crate) fn user_row(tenant: Uuid, user: &User, password: &PasswordHash) -> users::Model {
    users::Model {
        tenant_id: tenant,
        id: user.id.uuid(),
        email: user.email.as_str().to_owned(),
        password_hash: password.0.clone(),
        role: user.role.as_str().to_owned(),
        status: user.status.as_str().to_owned(),
        created_at: user.created_at,
        updated_at: user.updated_at,
    }
}

/// The row of API key `key` of `tenant`, whose secret hashes to `hash`.
pub(crate) fn api_key_row(tenant: Uuid, key: &ApiKey, hash: &SecretHash) -> api_keys::Model {
    let (created_by_kind, created_by_id) = actor_columns(key.created_by);
    api_keys::Model {
        tenant_id: tenant,
        id: key.id.uuid(),
        name: key.name.clone(),
        hint: key.hint.clone(),
        secret_hash: hash.0.clone(),
        permissions: key.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(","),
        created_by_kind: created_by_kind.to_owned(),
        created_by_id,
        created_at: key.created_at,
        last_used_at: key.last_used_at,
        revoked_at: key.revoked_at,
    }
}

/// The row of audit `entry` of `tenant`.
pub(crate) fn audit_row(tenant: Uuid, entry: &AuditEntry) -> audit_log::Model {
    let (actor_kind, actor_id) = actor_columns(entry.actor);
    audit_log::Model {
        tenant_id: tenant,
        id: entry.id.uuid(),
        actor_kind: actor_kind.to_owned(),
        actor_id,
        action: entry.action.as_str().to_owned(),
        subject: entry.subject.clone(),
        client_address: entry.address.clone(),
        created_at: entry.created_at,
    }
}

fn user_from(model: users::Model) -> Result<(User, PasswordHash), DomainError> {
    let user = User {
        id: UserId::from_uuid(model.id),
        tenant: TenantId::from_uuid(model.tenant_id),
        email: Email::parse("email", &model.email).map_err(|_| corrupt("email"))?,
        // An unknown stored role is corrupt data: fail closed rather than guess a role.
        role: Role::parse(&model.role).ok_or_else(|| corrupt("role"))?,
        status: MemberStatus::parse(&model.status),
        created_at: model.created_at,
        updated_at: model.updated_at,
    };
    Ok((user, PasswordHash(model.password_hash)))
}

fn api_key_from(model: api_keys::Model) -> Result<(ApiKey, SecretHash), DomainError> {
    let permissions = model
        .permissions
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| Permission::parse(p).ok_or_else(|| corrupt("permission")))
        .collect::<Result<Vec<_>, _>>()?;
    let key = ApiKey {
        id: ApiKeyId::from_uuid(model.id),
        tenant: TenantId::from_uuid(model.tenant_id),
        name: model.name,
        hint: model.hint,
        permissions,
        created_by: actor_from(&model.created_by_kind, model.created_by_id)?,
        created_at: model.created_at,
        last_used_at: model.last_used_at,
        revoked_at: model.revoked_at,
    };
    Ok((key, SecretHash(model.secret_hash)))
}

fn audit_from(model: audit_log::Model) -> Result<AuditEntry, DomainError> {
    Ok(AuditEntry {
        id: AuditEntryId::from_uuid(model.id),
        tenant: TenantId::from_uuid(model.tenant_id),
        actor: actor_from(&model.actor_kind, model.actor_id)?,
        action: AuditAction::parse(&model.action).ok_or_else(|| corrupt("audit action"))?,
        subject: model.subject,
        address: model.client_address,
        created_at: model.created_at,
    })
}

fn session_from(model: sessions::Model) -> Session {
    Session {
        id: SessionId::from_uuid(model.id),
        user: UserId::from_uuid(model.user_id),
        created_at: model.created_at,
        expires_at: model.expires_at,
    }
}

impl SeaTx {
    /// Revokes the tenant's unrevoked sessions matching `which` (one session, or a member's).
    async fn revoke_sessions_where(
        &self,
        scope: &TenantScope,
        which: sea_orm::sea_query::SimpleExpr,
        now: OffsetDateTime,
    ) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(now))
            .filter(sessions::Column::TenantId.eq(tenant))
            .filter(which)
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(())
    }
}

impl SeaTx {
    /// Sets one timestamp column of an API key, only while the key is not revoked. One column,
    /// conditional on the key being active: writing back the whole row read before a
    /// concurrent revocation would set `revoked_at` to NULL again.
    async fn stamp_active_api_key(
        &self,
        scope: &TenantScope,
        id: ApiKeyId,
        column: api_keys::Column,
        now: OffsetDateTime,
    ) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        api_keys::Entity::update_many()
            .col_expr(column, Expr::value(now))
            .filter(api_keys::Column::TenantId.eq(tenant))
            .filter(api_keys::Column::Id.eq(id.uuid()))
            .filter(api_keys::Column::RevokedAt.is_null())
            .exec(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(())
    }
}

impl IdentityRepo for SeaTx {
    async fn lock_tenant(&self, scope: &TenantScope) -> Result<Tenant, DomainError> {
        let tenant = self.tenant_of(scope)?;
        // A no-op write takes the row lock on PostgreSQL and the write lock on SQLite alike.
        let touch = Query::update()
            .table(tenants::Entity)
            .value(tenants::Column::UpdatedAt, Expr::col(tenants::Column::UpdatedAt))
            .and_where(Expr::col(tenants::Column::Id).eq(tenant))
            .to_owned();
        self.txn.execute(&touch).await.map_err(storage_error)?;
        self.tenant(scope).await
    }

    async fn tenant(&self, scope: &TenantScope) -> Result<Tenant, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let found = tenants::Entity::find_by_id(tenant).one(&self.txn).await.map_err(storage_error)?;
        tenant_from(found.ok_or(DomainError::NotFound)?)
    }

    async fn insert_tenant(&self, scope: &TenantScope, tenant: &Tenant) -> Result<(), DomainError> {
        let id = self.tenant_of(scope)?;
        if id != tenant.id.uuid() {
            return Err(DomainError::internal("inserting a tenant outside its own scope"));
        }
        tenants::Entity::insert(tenant_row(tenant).into_active_model())
            .exec_without_returning(&self.txn)
            .await
            .map_err(|err| on_unique(err, Taken::TenantSlug))?;
        Ok(())
    }

    async fn insert_user(&self, scope: &TenantScope, user: &User, password: &PasswordHash) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        users::Entity::insert(user_row(tenant, user, password).into_active_model())
            .exec_without_returning(&self.txn)
            .await
            .map_err(|err| on_unique(err, Taken::MemberEmail))?;
        Ok(())
    }

    async fn user_by_email(
        &self,
        scope: &TenantScope,
        email: &Email,
    ) -> Result<Option<(User, PasswordHash)>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let found = users::Entity::find()
            .filter(users::Column::TenantId.eq(tenant))
            .filter(users::Column::Email.eq(email.as_str()))
            .one(&self.txn)
            .await
            .map_err(storage_error)?;
        found.map(user_from).transpose()
    }

    async fn user(&self, scope: &TenantScope, id: UserId) -> Result<Option<User>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let found = users::Entity::find_by_id((tenant, id.uuid())).one(&self.txn).await.map_err(storage_error)?;
        Ok(found.map(user_from).transpose()?.map(|(user, _)| user))
    }

    async fn users(&self, scope: &TenantScope, page: &PageRequest) -> Result<Page<User>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let select = users::Entity::find().filter(users::Column::TenantId.eq(tenant));
        let rows = keyset_page(&self.txn, select, users::Column::Id, page, false).await?;
        rows.try_map(|model| user_from(model).map(|(user, _)| user))
    }

    async fn update_user(&self, scope: &TenantScope, user: &User) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        users::Entity::update_many()
            .col_expr(users::Column::Role, Expr::value(user.role.as_str()))
            .col_expr(users::Column::Status, Expr::value(user.status.as_str()))
            .col_expr(users::Column::UpdatedAt, Expr::value(user.updated_at))
            .filter(users::Column::TenantId.eq(tenant))
            .filter(users::Column::Id.eq(user.id.uuid()))
            .exec(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    async fn count_active_owners(&self, scope: &TenantScope) -> Result<u64, DomainError> {
        let tenant = self.tenant_of(scope)?;
        users::Entity::find()
            .filter(users::Column::TenantId.eq(tenant))
            .filter(users::Column::Role.eq(Role::Owner.as_str()))
            .filter(users::Column::Status.eq(MemberStatus::Active.as_str()))
            .count(&self.txn)
            .await
            .map_err(storage_error)
    }

    async fn insert_session(&self, scope: &TenantScope, session: &Session) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        let model = sessions::Model {
            tenant_id: tenant,
            id: session.id.uuid(),
            user_id: session.user.uuid(),
            created_at: session.created_at,
            expires_at: session.expires_at,
            revoked_at: None,
        };
        sessions::Entity::insert(model.into_active_model())
            .exec_without_returning(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    async fn insert_refresh_token(
        &self,
        scope: &TenantScope,
        session: SessionId,
        hash: &SecretHash,
        now: OffsetDateTime,
    ) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        let model = refresh_tokens::Model {
            tenant_id: tenant,
            id: Uuid::now_v7(),
            session_id: session.uuid(),
            token_hash: hash.0.clone(),
            created_at: now,
            used_at: None,
        };
        refresh_tokens::Entity::insert(model.into_active_model())
            .exec_without_returning(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    async fn use_refresh_token(
        &self,
        scope: &TenantScope,
        hash: &SecretHash,
        now: OffsetDateTime,
    ) -> Result<RefreshUse, DomainError> {
        let tenant = self.tenant_of(scope)?;
        // Check and mark in one conditional UPDATE: of two concurrent uses exactly one wins.
        let marked = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::UsedAt, Expr::value(now))
            .filter(refresh_tokens::Column::TenantId.eq(tenant))
            .filter(refresh_tokens::Column::TokenHash.eq(hash.0.as_str()))
            .filter(refresh_tokens::Column::UsedAt.is_null())
            .exec(&self.txn)
            .await
            .map_err(storage_error)?;
        let Some(token) = refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TenantId.eq(tenant))
            .filter(refresh_tokens::Column::TokenHash.eq(hash.0.as_str()))
            .one(&self.txn)
            .await
            .map_err(storage_error)?
        else {
            return Ok(RefreshUse::Unknown);
        };
        let session = SessionId::from_uuid(token.session_id);
        if marked.rows_affected == 0 {
            return Ok(RefreshUse::Reused { session });
        }
        let owner =
            sessions::Entity::find_by_id((tenant, token.session_id)).one(&self.txn).await.map_err(storage_error)?;
        match owner {
            Some(owner) => Ok(RefreshUse::Fresh { session, user: UserId::from_uuid(owner.user_id) }),
            None => Ok(RefreshUse::Unknown),
        }
    }

    async fn session_of_refresh_token(
        &self,
        scope: &TenantScope,
        hash: &SecretHash,
    ) -> Result<Option<SessionId>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let token = refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TenantId.eq(tenant))
            .filter(refresh_tokens::Column::TokenHash.eq(hash.0.as_str()))
            .one(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(token.map(|t| SessionId::from_uuid(t.session_id)))
    }

    async fn session_holder(
        &self,
        scope: &TenantScope,
        user: UserId,
        session: SessionId,
    ) -> Result<Option<SessionHolder>, DomainError> {
        let query = session_holder_query(self.tenant_of(scope)?, user, session);
        let row = self.txn.query_one(&query).await.map_err(storage_error)?;
        row.as_ref().map(session_holder_from).transpose()
    }

    async fn session(&self, scope: &TenantScope, id: SessionId) -> Result<Option<Session>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let found = sessions::Entity::find_by_id((tenant, id.uuid())).one(&self.txn).await.map_err(storage_error)?;
        Ok(found.map(session_from))
    }

    async fn revoke_session(
        &self,
        scope: &TenantScope,
        session: SessionId,
        now: OffsetDateTime,
    ) -> Result<(), DomainError> {
        self.revoke_sessions_where(scope, sessions::Column::Id.eq(session.uuid()), now).await
    }

    async fn revoke_sessions_of(
        &self,
        scope: &TenantScope,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<(), DomainError> {
        self.revoke_sessions_where(scope, sessions::Column::UserId.eq(user.uuid()), now).await
    }

    async fn insert_api_key(&self, scope: &TenantScope, key: &ApiKey, hash: &SecretHash) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        api_keys::Entity::insert(api_key_row(tenant, key, hash).into_active_model())
            .exec_without_returning(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    async fn api_key(&self, scope: &TenantScope, id: ApiKeyId) -> Result<Option<(ApiKey, SecretHash)>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let found = api_keys::Entity::find_by_id((tenant, id.uuid())).one(&self.txn).await.map_err(storage_error)?;
        found.map(api_key_from).transpose()
    }

    async fn api_keys(&self, scope: &TenantScope, page: &PageRequest) -> Result<Page<ApiKey>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let select = api_keys::Entity::find().filter(api_keys::Column::TenantId.eq(tenant));
        let rows = keyset_page(&self.txn, select, api_keys::Column::Id, page, false).await?;
        rows.try_map(|model| api_key_from(model).map(|(key, _)| key))
    }

    async fn touch_api_key(&self, scope: &TenantScope, id: ApiKeyId, now: OffsetDateTime) -> Result<(), DomainError> {
        self.stamp_active_api_key(scope, id, api_keys::Column::LastUsedAt, now).await
    }

    async fn revoke_api_key(&self, scope: &TenantScope, id: ApiKeyId, now: OffsetDateTime) -> Result<(), DomainError> {
        self.stamp_active_api_key(scope, id, api_keys::Column::RevokedAt, now).await
    }

    async fn append_audit(&self, scope: &TenantScope, entry: &AuditEntry) -> Result<(), DomainError> {
        let tenant = self.tenant_of(scope)?;
        audit_log::Entity::insert(audit_row(tenant, entry).into_active_model())
            .exec_without_returning(&self.txn)
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    async fn audit_entries(&self, scope: &TenantScope, page: &PageRequest) -> Result<Page<AuditEntry>, DomainError> {
        let tenant = self.tenant_of(scope)?;
        let select = audit_log::Entity::find().filter(audit_log::Column::TenantId.eq(tenant));
        let rows = keyset_page(&self.txn, select, audit_log::Column::Id, page, true).await?;
        rows.try_map(audit_from)
    }
}
