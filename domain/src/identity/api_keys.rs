//! API keys: created with an explicit permission list (never more than the creator holds:
//! [`may_grant`], the rule members follow too), shown once, stored as a hash, listed without
//! their secret, revocable by callers holding at least what the key holds.

use super::credentials::{ApiKeyCredential, PresentedSecret};
use super::{ApiKey, AuditAction, new_audit};
use crate::auth::{Caller, Permission, authorize, may_grant};
use crate::error::{DomainError, Invalid};
use crate::ids::ApiKeyId;
use crate::page::{Page, PageRequest};
use crate::ports::{Crypto, IdentityRepo, Ports, Store, Tx};
use crate::text::parse_text;

/// How many trailing characters of a secret are kept to recognise a key.
const HINT_CHARS: usize = 4;

/// A request for a new key.
#[derive(Debug)]
pub struct CreateApiKey {
    /// A label.
    pub name: String,
    /// What it may do.
    pub permissions: Vec<Permission>,
}

impl CreateApiKey {
    /// Parses raw input.
    ///
    /// # Errors
    /// Every invalid field: an empty or long name, no permissions, a permission keys may not hold.
    pub fn parse(name: &str, permissions: Vec<Permission>) -> Result<Self, Vec<Invalid>> {
        let mut errors = Vec::new();
        let name = parse_text("name", name, 100).map_err(|e| errors.push(e)).unwrap_or_default();
        if permissions.is_empty() {
            errors.push(Invalid::new("permissions", "list at least one permission"));
        }
        for (index, permission) in permissions.iter().enumerate() {
            if !permission.grantable_to_api_keys() {
                errors.push(Invalid::new(
                    &format!("permissions.{index}"),
                    format!("{permission} cannot be granted to an API key"),
                ));
            }
        }
        let mut permissions = permissions;
        permissions.sort();
        permissions.dedup();
        if errors.is_empty() { Ok(CreateApiKey { name, permissions }) } else { Err(errors) }
    }
}

/// Creates a key and returns it with its secret, which is never shown again.
///
/// # Errors
/// `Forbidden` without `api_keys:manage`; `Invalid` (`PERMISSION_NOT_HELD`) for a permission
/// the caller does not hold.
#[tracing::instrument(name = "identity.create_api_key", skip_all, fields(api_key.id = tracing::field::Empty))]
pub async fn create_api_key<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    command: CreateApiKey,
) -> Result<(ApiKey, PresentedSecret), DomainError> {
    let scope = authorize(&caller.actor, Permission::ApiKeysManage)?;
    may_grant(&caller.actor, "permissions", &command.permissions)?;
    let now = ports.clock.now();
    let secret = ports.crypto.new_secret()?;
    let key = ApiKey {
        id: ApiKeyId::new(),
        tenant: scope.tenant(),
        name: command.name,
        hint: secret.chars().skip(secret.chars().count().saturating_sub(HINT_CHARS)).collect(),
        permissions: command.permissions,
        created_by: scope.actor(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };

    let tx = ports.store.begin(&scope).await?;
    tx.insert_api_key(&scope, &key, &ports.crypto.hash_secret(&secret)).await?;
    tx.append_audit(
        &scope,
        &new_audit(
            scope.tenant(),
            scope.actor(),
            AuditAction::ApiKeyCreated,
            Some(key.name.clone()),
            caller.address,
            now,
        ),
    )
    .await?;
    tx.commit().await?;

    tracing::Span::current().record("api_key.id", tracing::field::display(key.id));
    let presented = ApiKeyCredential::format(key.tenant, key.id, &secret);
    Ok((key, presented))
}

/// Revokes a key; revoking twice changes nothing. A caller may revoke only keys it could have
/// issued (see [`may_grant`]), so a key allowed to manage keys cannot switch off the shop's
/// more powerful ones.
///
/// # Errors
/// `NotFound` for an unknown id or another tenant's; `Forbidden` without `api_keys:manage`;
/// `Invalid` (`PERMISSION_NOT_HELD`, on `apiKeyId`) for a key holding a permission the caller
/// does not.
#[tracing::instrument(name = "identity.revoke_api_key", skip_all, fields(api_key.id = %id))]
pub async fn revoke_api_key<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: ApiKeyId,
) -> Result<ApiKey, DomainError> {
    let scope = authorize(&caller.actor, Permission::ApiKeysManage)?;
    let now = ports.clock.now();
    let tx = ports.store.begin(&scope).await?;
    let (key, _) = tx.api_key(&scope, id).await?.ok_or(DomainError::NotFound)?;
    may_grant(&caller.actor, "apiKeyId", &key.permissions)?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    tx.revoke_api_key(&scope, id, now).await?;
    let revoked = ApiKey { revoked_at: Some(now), ..key };
    tx.append_audit(
        &scope,
        &new_audit(
            scope.tenant(),
            scope.actor(),
            AuditAction::ApiKeyRevoked,
            Some(revoked.name.clone()),
            caller.address,
            now,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(revoked)
}

/// A page of the tenant's keys, oldest first.
///
/// # Errors
/// `Forbidden` without `api_keys:manage`.
pub async fn api_keys<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    page: &PageRequest,
) -> Result<Page<ApiKey>, DomainError> {
    let scope = authorize(&caller.actor, Permission::ApiKeysManage)?;
    let tx = ports.store.begin_read(&scope).await?;
    let keys = tx.api_keys(&scope, page).await?;
    tx.commit().await?;
    Ok(keys)
}

/// One key of the caller's tenant.
///
/// # Errors
/// `NotFound` for an unknown id or another tenant's; `Forbidden` without `api_keys:manage`.
pub async fn api_key<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: ApiKeyId,
) -> Result<ApiKey, DomainError> {
    let scope = authorize(&caller.actor, Permission::ApiKeysManage)?;
    let tx = ports.store.begin_read(&scope).await?;
    let key = tx.api_key(&scope, id).await?;
    tx.commit().await?;
    key.map(|(key, _)| key).ok_or(DomainError::NotFound)
}
