//! Members: listing, creating, changing roles, deactivating, and `me`.
//!
//! Rules: no caller creates a member, gives a role, or changes or deactivates a member whose
//! role holds a permission the caller does not hold ([`may_grant`], the rule API keys follow
//! too); only an owner may create an owner, change an owner's role, make someone an owner or
//! deactivate an owner; the last active owner can be neither demoted nor deactivated. Member
//! changes take the tenant's row lock first, so two admins racing to demote the last two
//! owners cannot both succeed.

use super::{AuditAction, Email, MemberStatus, Password, Profile, User, new_audit};
use crate::auth::{Actor, Caller, Permission, Role, authorize, may_grant};
use crate::error::{DomainError, Invalid};
use crate::ids::UserId;
use crate::page::{Page, PageRequest};
use crate::ports::{Crypto, IdentityRepo, Ports, Store, Tx};

/// A new member.
#[derive(Debug)]
pub struct CreateMember {
    /// Their email, unique in the tenant.
    pub email: Email,
    /// Their initial password.
    pub password: Password,
    /// Their role.
    pub role: Role,
}

/// Who the caller is, as far as the owner rules care.
fn is_owner(actor: &Actor) -> bool {
    matches!(actor, Actor::Member(member) if member.role() == Role::Owner)
}

fn owners_only() -> DomainError {
    DomainError::Forbidden { needed: Permission::MembersManage }
}

fn last_owner() -> DomainError {
    Invalid::with_code("memberId", "LAST_OWNER", "a tenant needs at least one active owner").into()
}

/// The caller's tenant, member or key, and permissions.
///
/// # Errors
/// `Unauthenticated` for anonymous callers.
pub async fn me<S: Store, C: Crypto>(ports: &Ports<S, C>, caller: &Caller) -> Result<Profile, DomainError> {
    let scope = authorize(&caller.actor, Permission::ProfileRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let tenant = tx.tenant(&scope).await?;
    let (user, api_key) = match &caller.actor {
        Actor::Member(member) => (tx.user(&scope, member.user()).await?, None),
        Actor::ApiKey(key) => (None, tx.api_key(&scope, key.key()).await?.map(|(key, _)| key)),
        Actor::Anonymous | Actor::Operator(_) => (None, None),
    };
    tx.commit().await?;
    Ok(Profile { tenant, user, api_key, permissions: caller.actor.permissions() })
}

/// A page of the tenant's members, oldest first.
///
/// # Errors
/// `Forbidden` without `members:read`.
pub async fn members<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    page: &PageRequest,
) -> Result<Page<User>, DomainError> {
    let scope = authorize(&caller.actor, Permission::MembersRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let members = tx.users(&scope, page).await?;
    tx.commit().await?;
    Ok(members)
}

/// One member of the caller's tenant.
///
/// # Errors
/// `NotFound` for an unknown id or another tenant's; `Forbidden` without `members:read`.
pub async fn member<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: UserId,
) -> Result<User, DomainError> {
    let scope = authorize(&caller.actor, Permission::MembersRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let member = tx.user(&scope, id).await?;
    tx.commit().await?;
    member.ok_or(DomainError::NotFound)
}

/// Adds a member with an initial password.
///
/// # Errors
/// `Forbidden` without `members:manage`, or when a non-owner creates an owner; `Invalid`
/// (`PERMISSION_NOT_HELD`, on `role`) when the role holds a permission the caller does not;
/// `Invalid` (`TAKEN`) when the email is taken in this tenant.
#[tracing::instrument(name = "identity.create_member", skip_all, fields(user.id = tracing::field::Empty))]
pub async fn create_member<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    command: CreateMember,
) -> Result<User, DomainError> {
    let scope = authorize(&caller.actor, Permission::MembersManage)?;
    if command.role == Role::Owner && !is_owner(&caller.actor) {
        return Err(owners_only());
    }
    may_grant(&caller.actor, "role", command.role.permissions())?;
    let hash = ports.crypto.hash_password(&command.password).await?;
    let now = ports.clock.now();
    let user = User {
        id: UserId::new(),
        tenant: scope.tenant(),
        email: command.email,
        role: command.role,
        status: MemberStatus::Active,
        created_at: now,
        updated_at: now,
    };

    let tx = ports.store.begin(&scope).await?;
    tx.lock_tenant(&scope).await?;
    tx.insert_user(&scope, &user, &hash).await?;
    let subject = Some(format!("{} as {}", user.email.as_str(), user.role.as_str()));
    tx.append_audit(
        &scope,
        &new_audit(scope.tenant(), scope.actor(), AuditAction::MemberCreated, subject, caller.address, now),
    )
    .await?;
    tx.commit().await?;

    tracing::Span::current().record("user.id", tracing::field::display(user.id));
    Ok(user)
}

/// Changes a member's role.
///
/// # Errors
/// `NotFound` for an unknown id; `Forbidden` when a non-owner touches the owner role;
/// `Invalid` (`PERMISSION_NOT_HELD`) when the new role (on `role`) or the member's current one
/// (on `memberId`) holds a permission the caller does not; `Invalid` (`LAST_OWNER`) when it
/// would leave no active owner.
#[tracing::instrument(name = "identity.change_role", skip_all, fields(user.id = %id))]
pub async fn change_role<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: UserId,
    role: Role,
) -> Result<User, DomainError> {
    let scope = authorize(&caller.actor, Permission::MembersManage)?;
    may_grant(&caller.actor, "role", role.permissions())?;
    let now = ports.clock.now();
    let tx = ports.store.begin(&scope).await?;
    tx.lock_tenant(&scope).await?;
    let member = tx.user(&scope, id).await?.ok_or(DomainError::NotFound)?;
    if (member.role == Role::Owner || role == Role::Owner) && !is_owner(&caller.actor) {
        return Err(owners_only());
    }
    // Demoting someone who holds more than the caller is taking away what it could not give.
    may_grant(&caller.actor, "memberId", member.role.permissions())?;
    if member.role == role {
        return Ok(member);
    }
    if member.role == Role::Owner && member.status == MemberStatus::Active && tx.count_active_owners(&scope).await? <= 1
    {
        return Err(last_owner());
    }
    let changed = User { role, updated_at: now, ..member.clone() };
    tx.update_user(&scope, &changed).await?;
    let subject = Some(format!("{}: {} → {}", member.email.as_str(), member.role.as_str(), role.as_str()));
    tx.append_audit(
        &scope,
        &new_audit(scope.tenant(), scope.actor(), AuditAction::RoleChanged, subject, caller.address, now),
    )
    .await?;
    tx.commit().await?;
    Ok(changed)
}

/// Deactivates a member and revokes their sessions. Deactivating twice changes nothing.
///
/// A caller may deactivate only members whose role it could give (see [`may_grant`]):
/// otherwise a key allowed to manage customers could lock every admin out.
///
/// # Errors
/// `NotFound` for an unknown id; `Forbidden` when a non-owner deactivates an owner;
/// `Invalid` (`PERMISSION_NOT_HELD`, on `memberId`) when the member's role holds a permission
/// the caller does not; `Invalid` (`LAST_OWNER`) for the last active owner.
#[tracing::instrument(name = "identity.deactivate_member", skip_all, fields(user.id = %id))]
pub async fn deactivate_member<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: UserId,
) -> Result<User, DomainError> {
    let scope = authorize(&caller.actor, Permission::MembersManage)?;
    let now = ports.clock.now();
    let tx = ports.store.begin(&scope).await?;
    tx.lock_tenant(&scope).await?;
    let member = tx.user(&scope, id).await?.ok_or(DomainError::NotFound)?;
    if member.role == Role::Owner && !is_owner(&caller.actor) {
        return Err(owners_only());
    }
    may_grant(&caller.actor, "memberId", member.role.permissions())?;
    if member.status == MemberStatus::Deactivated {
        return Ok(member);
    }
    if member.role == Role::Owner && tx.count_active_owners(&scope).await? <= 1 {
        return Err(last_owner());
    }
    let changed = User { status: MemberStatus::Deactivated, updated_at: now, ..member.clone() };
    tx.update_user(&scope, &changed).await?;
    tx.revoke_sessions_of(&scope, member.id, now).await?;
    let subject = Some(member.email.as_str().to_owned());
    tx.append_audit(
        &scope,
        &new_audit(scope.tenant(), scope.actor(), AuditAction::MemberDeactivated, subject, caller.address, now),
    )
    .await?;
    tx.commit().await?;
    Ok(changed)
}
