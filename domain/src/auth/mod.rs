//! Who is asking, what they may do, and the proof that they may: [`TenantScope`].
//!
//! Every use-case starts with [`authorize`]; it fails closed (anonymous callers, unlisted
//! permissions and cross-tenant requests are denied) and is the only way to obtain a
//! [`TenantScope`], which every repository method requires. A scope therefore proves that an
//! authorization happened, for one tenant and one permission.
//!
//! The chain cannot be forged from outside this crate: a [`Member`] or [`KeyHolder`] (and so an
//! [`Actor`] that holds permissions) is made only by authentication in
//! [`crate::identity::sessions`]; the scopes of visitors, jobs and registration are the crate's
//! own; an operator is an [`OperatorConsole`], made only by the `keel` command line (checked by
//! `tests/architecture.rs`). [`may_grant`] is the one rule comparing powers: nobody hands out
//! more than it holds.
//!
//! # Layout
//!
//! - this module: actors, callers, [`TenantScope`] and the functions that make one.
//! - [`permissions`]: [`Permission`] and [`Role`], with what each role grants.

pub mod permissions;

use std::net::IpAddr;

use crate::error::{DomainError, Invalid};
use crate::ids::{ApiKeyId, SessionId, TenantId, UserId};

pub use permissions::{Permission, Role};

/// An authenticated, active member acting through a session.
///
/// Only authentication makes one ([`crate::identity::sessions::authenticate_member`]): the
/// fields are private and the constructor is the crate's own, so holding a `Member` proves the
/// session was checked. Code outside `domain` can read one, not build one:
///
/// ```compile_fail
/// use domain::auth::{Member, Role};
/// use domain::ids::{SessionId, TenantId, UserId};
///
/// let forged = Member { tenant: TenantId::new(), user: UserId::new(), role: Role::Owner, session: SessionId::new() };
/// ```
///
/// ```compile_fail
/// use domain::auth::{Member, Role};
/// use domain::ids::{SessionId, TenantId, UserId};
///
/// let forged = Member::authenticated(TenantId::new(), UserId::new(), Role::Owner, SessionId::new());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    tenant: TenantId,
    user: UserId,
    role: Role,
    session: SessionId,
}

impl Member {
    /// A member whose session authentication has just checked; for authentication only.
    pub(crate) fn authenticated(tenant: TenantId, user: UserId, role: Role, session: SessionId) -> Member {
        Member { tenant, user, role, session }
    }

    /// The member's tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The member.
    pub fn user(&self) -> UserId {
        self.user
    }

    /// The role as stored now (not as claimed in the token), so role changes apply at once.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The session the access token belongs to.
    pub fn session(&self) -> SessionId {
        self.session
    }
}

/// An authenticated, unrevoked API key.
///
/// Only authentication makes one ([`crate::identity::sessions::authenticate_api_key`]), as
/// for [`Member`]:
///
/// ```compile_fail
/// use domain::auth::{KeyHolder, Permission};
/// use domain::ids::{ApiKeyId, TenantId};
///
/// let forged = KeyHolder { tenant: TenantId::new(), key: ApiKeyId::new(), permissions: vec![Permission::MembersManage] };
/// ```
///
/// ```compile_fail
/// use domain::auth::{KeyHolder, Permission};
/// use domain::ids::{ApiKeyId, TenantId};
///
/// let forged = KeyHolder::authenticated(TenantId::new(), ApiKeyId::new(), vec![Permission::MembersManage]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyHolder {
    tenant: TenantId,
    key: ApiKeyId,
    permissions: Vec<Permission>,
}

impl KeyHolder {
    /// A key authentication has just checked, with exactly its stored permissions; for
    /// authentication only.
    pub(crate) fn authenticated(tenant: TenantId, key: ApiKeyId, permissions: Vec<Permission>) -> KeyHolder {
        KeyHolder { tenant, key, permissions }
    }

    /// The key's tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The key.
    pub fn key(&self) -> ApiKeyId {
        self.key
    }

    /// Exactly the permissions listed on the key.
    pub fn permissions(&self) -> &[Permission] {
        &self.permissions
    }
}

/// Proof that the caller is an operator at the `keel` command line, who may register and
/// suspend tenants whatever the registration setting. Operator-only ports (such as
/// [`crate::ports::Store::set_tenant_status`]) take one.
///
/// Rust has no visibility between `pub` and the crate, so the one constructor is public; it is
/// for the `keel tenant …` commands alone (`api/src/app/`), and `tests/architecture.rs` fails
/// on any other caller. The field is private, so there is no other way to make one:
///
/// ```compile_fail
/// let forged = domain::auth::OperatorConsole(());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperatorConsole(());

impl OperatorConsole {
    /// The operator running a `keel` command on this machine. Only the command-line entry
    /// points of `api/src/app/` may call this; no request handler, job or test may.
    pub fn from_command_line() -> OperatorConsole {
        OperatorConsole(())
    }
}

/// Who is making a request.
///
/// Apart from [`Actor::Anonymous`], which grants nothing, an actor can only come from
/// authentication (a [`Member`] or [`KeyHolder`]) or from the command line (an
/// [`OperatorConsole`]). Code outside `domain` may inspect one:
///
/// ```
/// use domain::auth::Actor;
///
/// fn describe(actor: &Actor) -> String {
///     match actor {
///         Actor::Anonymous => "nobody".to_owned(),
///         Actor::Member(member) => format!("member {} as {}", member.user(), member.role().as_str()),
///         Actor::ApiKey(key) => format!("key {} with {} permissions", key.key(), key.permissions().len()),
///         Actor::Operator(_) => "an operator".to_owned(),
///     }
/// }
///
/// assert_eq!(describe(&Actor::Anonymous), "nobody");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// No credential.
    Anonymous,
    /// A member signed in with an access token.
    Member(Member),
    /// A program using an API key.
    ApiKey(KeyHolder),
    /// An operator at the `keel` command line (only `tenant:register`).
    Operator(OperatorConsole),
}

impl Actor {
    /// The tenant this actor belongs to, if any.
    pub fn tenant(&self) -> Option<TenantId> {
        match self {
            Actor::Member(member) => Some(member.tenant),
            Actor::ApiKey(key) => Some(key.tenant),
            Actor::Anonymous | Actor::Operator(_) => None,
        }
    }

    /// The permissions this actor holds in its tenant.
    pub fn permissions(&self) -> Vec<Permission> {
        match self {
            Actor::Member(member) => member.role.permissions().to_vec(),
            Actor::ApiKey(key) => key.permissions.clone(),
            Actor::Anonymous | Actor::Operator(_) => Vec::new(),
        }
    }
}

/// The actor of a request plus where it came from, for the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Who.
    pub actor: Actor,
    /// The client's address, when known.
    pub address: Option<IpAddr>,
}

impl Caller {
    /// A caller with no credential.
    pub fn anonymous(address: Option<IpAddr>) -> Caller {
        Caller { actor: Actor::Anonymous, address }
    }
}

/// Who acted, as recorded in the audit log and ledgers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorRef {
    /// A member.
    User(UserId),
    /// An API key.
    ApiKey(ApiKeyId),
    /// Someone not yet signed in (a login attempt, a registration).
    Visitor,
    /// An operator at the command line.
    Operator,
    /// Keel itself, running a rule on a schedule (unpaid orders expiring).
    System,
}

/// Proof that an actor may use one permission inside one tenant. Only this module makes one:
/// outside `domain`, [`authorize`] is the only way to get one, so none of the crate's own
/// makers (visitors, jobs, registration) can be called from outside:
///
/// ```compile_fail
/// let scope = domain::auth::visitor_scope(domain::ids::TenantId::new());
/// ```
///
/// ```compile_fail
/// let scope = domain::auth::job_scope(domain::ids::TenantId::new());
/// ```
#[derive(Clone, Debug)]
pub struct TenantScope {
    tenant: TenantId,
    actor: ActorRef,
    customer: Option<UserId>,
    granted: Permission,
}

impl TenantScope {
    /// The tenant every query under this scope is confined to.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Who acts.
    pub fn actor(&self) -> ActorRef {
        self.actor
    }

    /// For a customer, the customer: queries must also be confined to their own rows.
    pub fn customer(&self) -> Option<UserId> {
        self.customer
    }

    /// The permission that was checked.
    pub fn granted(&self) -> Permission {
        self.granted
    }
}

/// Checks `actor` for `needed` inside its own tenant. Fails closed.
///
/// # Errors
/// `Unauthenticated` for anonymous callers and operators (who have no tenant), `Forbidden`
/// when the permission is not granted.
pub fn authorize(actor: &Actor, needed: Permission) -> Result<TenantScope, DomainError> {
    let (tenant, who, customer, granted) = match actor {
        Actor::Anonymous | Actor::Operator(_) => {
            return Err(DomainError::Unauthenticated("authentication required"));
        }
        Actor::Member(member) => {
            let customer = (member.role == Role::Customer).then_some(member.user);
            (member.tenant, ActorRef::User(member.user), customer, member.role.grants(needed))
        }
        Actor::ApiKey(key) => (key.tenant, ActorRef::ApiKey(key.key), None, key.permissions.contains(&needed)),
    };
    // Session and registration scopes come only from `visitor_scope` and `registration_scope`.
    if !granted || !needed.grantable_to_api_keys() {
        return Err(DomainError::Forbidden { needed });
    }
    Ok(TenantScope { tenant, actor: who, customer, granted: needed })
}

/// Checks that `actor` holds every permission in `requested`, so that it may hand them out:
/// no actor creates a member, gives a role, or issues an API key with a permission it does not
/// hold itself, nor changes, deactivates or revokes one that holds more than it does. One rule
/// for members and API keys alike; a member's permissions are those of their role as stored
/// now. (Owners and admins hold the same permissions; that only owners manage owners is a
/// separate rule of the member use-cases.)
///
/// # Errors
/// `Invalid` (`PERMISSION_NOT_HELD`) on `field`, naming every permission the actor lacks: the
/// caller can fix the request by asking for less, so it is a user error, like other refusals
/// of an input.
pub fn may_grant(actor: &Actor, field: &str, requested: &[Permission]) -> Result<(), DomainError> {
    let held = actor.permissions();
    let missing: Vec<&str> = requested.iter().filter(|p| !held.contains(p)).map(|p| p.as_str()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Invalid::with_code(field, "PERMISSION_NOT_HELD", format!("you do not hold {} yourself", missing.join(", ")))
        .into())
}

/// The scope of someone signing in to `tenant`: it grants only `session:create`, which covers
/// checking credentials and sessions. The tenant comes from the slug the visitor named, or
/// from a credential being checked; only sign-in and authentication call this.
pub(crate) fn visitor_scope(tenant: TenantId) -> TenantScope {
    TenantScope { tenant, actor: ActorRef::Visitor, customer: None, granted: Permission::SessionCreate }
}

/// The scope of Keel's own background jobs acting inside `tenant` (cancelling orders whose
/// payment timed out). Only the jobs' use-cases call this; no request can reach it.
pub(crate) fn job_scope(tenant: TenantId) -> TenantScope {
    TenantScope { tenant, actor: ActorRef::System, customer: None, granted: Permission::OrdersManage }
}

/// The scope for creating the tenant `tenant`: granted to operators always, and to anyone
/// else only while self-service registration is open.
///
/// # Errors
/// `Forbidden` when registration is closed and the caller is not an operator.
pub(crate) fn registration_scope(actor: &Actor, tenant: TenantId, open: bool) -> Result<TenantScope, DomainError> {
    let who = match actor {
        Actor::Operator(_) => ActorRef::Operator,
        _ if open => ActorRef::Visitor,
        _ => return Err(DomainError::Forbidden { needed: Permission::TenantRegister }),
    };
    Ok(TenantScope { tenant, actor: who, customer: None, granted: Permission::TenantRegister })
}

#[cfg(test)]
mod tests {
    use super::*;

    use Permission as P;

    fn operator() -> Actor {
        Actor::Operator(OperatorConsole(()))
    }

    fn member(role: Role) -> Actor {
        Actor::Member(Member::authenticated(TenantId::new(), UserId::new(), role, SessionId::new()))
    }

    /// The role × permission matrix, one row per permission: (OWNER, ADMIN, STAFF, CUSTOMER).
    const MATRIX: [(Permission, [bool; 4]); 18] = [
        (P::SessionCreate, [false, false, false, false]),
        (P::TenantRegister, [false, false, false, false]),
        (P::ProfileRead, [true, true, true, true]),
        (P::MembersRead, [true, true, false, false]),
        (P::MembersManage, [true, true, false, false]),
        (P::ApiKeysManage, [true, true, false, false]),
        (P::AuditRead, [true, true, false, false]),
        (P::CatalogRead, [true, true, true, true]),
        (P::CatalogWrite, [true, true, false, false]),
        (P::InventoryRead, [true, true, true, false]),
        (P::InventoryWrite, [true, true, true, false]),
        (P::OrdersRead, [true, true, true, true]),
        (P::OrdersWrite, [true, true, true, true]),
        (P::OrdersManage, [true, true, true, false]),
        (P::PaymentsWrite, [true, true, true, true]),
        (P::PaymentsRefund, [true, true, false, false]),
        (P::PaymentsManage, [true, true, false, false]),
        (P::WebhooksManage, [true, true, false, false]),
    ];

    #[test]
    fn every_role_and_permission_cell_is_as_documented() {
        for (permission, expected) in MATRIX {
            for (role, allowed) in Role::ALL.into_iter().zip(expected) {
                let result = authorize(&member(role), permission);

                assert_eq!(result.is_ok(), allowed, "{} × {}", role.as_str(), permission);
                if !allowed {
                    assert!(matches!(result, Err(DomainError::Forbidden { needed }) if needed == permission));
                }
            }
        }
        assert_eq!(MATRIX.len(), Permission::ALL.len(), "the matrix covers every permission");
    }

    #[test]
    fn anonymous_callers_and_operators_are_denied_every_tenant_permission() {
        for permission in Permission::ALL {
            assert!(matches!(authorize(&Actor::Anonymous, permission), Err(DomainError::Unauthenticated(_))));
            assert!(matches!(authorize(&operator(), permission), Err(DomainError::Unauthenticated(_))));
        }
    }

    #[test]
    fn an_api_key_has_exactly_its_listed_permissions() {
        let key = KeyHolder::authenticated(TenantId::new(), ApiKeyId::new(), vec![P::CatalogRead]);
        let actor = Actor::ApiKey(key.clone());

        for permission in Permission::ALL {
            assert_eq!(authorize(&actor, permission).is_ok(), permission == P::CatalogRead, "{permission}");
        }
        let scope = authorize(&actor, P::CatalogRead).expect("listed");
        assert_eq!((scope.tenant(), scope.actor()), (key.tenant, ActorRef::ApiKey(key.key)));
    }

    #[test]
    fn a_key_listing_session_permissions_still_cannot_use_them() {
        let permissions = vec![P::SessionCreate, P::TenantRegister];
        let actor = Actor::ApiKey(KeyHolder::authenticated(TenantId::new(), ApiKeyId::new(), permissions));

        assert!(authorize(&actor, P::SessionCreate).is_err());
        assert!(authorize(&actor, P::TenantRegister).is_err());
    }

    #[test]
    fn a_customer_scope_is_confined_to_the_customer_and_staff_scopes_are_not() {
        let customer = member(Role::Customer);
        let staff = member(Role::Staff);

        let Actor::Member(me) = &customer else { unreachable!("a member") };
        assert_eq!(authorize(&customer, P::OrdersRead).expect("granted").customer(), Some(me.user));
        assert_eq!(authorize(&staff, P::OrdersRead).expect("granted").customer(), None);
    }

    #[test]
    fn a_role_is_grantable_only_by_callers_holding_every_permission_of_it() {
        let key = |permissions: &[Permission]| {
            Actor::ApiKey(KeyHolder::authenticated(TenantId::new(), ApiKeyId::new(), permissions.to_vec()))
        };
        let members_manage_only = key(&[P::MembersManage]);
        let customer_maker = key(&[&[P::MembersManage], Role::Customer.permissions()].concat());
        let everything = key(Role::Owner.permissions());

        for role in Role::ALL {
            assert!(may_grant(&members_manage_only, "role", role.permissions()).is_err(), "{}", role.as_str());
            assert_eq!(may_grant(&customer_maker, "role", role.permissions()).is_ok(), role == Role::Customer);
            assert!(may_grant(&everything, "role", role.permissions()).is_ok(), "{}", role.as_str());
            assert!(may_grant(&member(Role::Admin), "role", role.permissions()).is_ok(), "{}", role.as_str());
        }
        for role in [Role::Staff, Role::Customer] {
            assert!(may_grant(&member(role), "role", Role::Admin.permissions()).is_err(), "{}", role.as_str());
        }
        assert!(may_grant(&member(Role::Staff), "role", Role::Customer.permissions()).is_ok());
        assert!(may_grant(&member(Role::Customer), "role", Role::Staff.permissions()).is_err());
    }

    #[test]
    fn a_refused_grant_names_every_permission_the_caller_lacks() {
        let catalog_reader = Actor::ApiKey(KeyHolder::authenticated(
            TenantId::new(),
            ApiKeyId::new(),
            vec![P::MembersManage, P::CatalogRead],
        ));

        let refused = may_grant(&catalog_reader, "role", Role::Customer.permissions());

        let Err(DomainError::Invalid(invalid)) = refused else { panic!("refused as a user error: {refused:?}") };
        assert_eq!((invalid.field(), invalid.code()), (&["role".to_owned()][..], "PERMISSION_NOT_HELD"));
        assert_eq!(
            invalid.message(),
            "you do not hold profile:read, orders:read, orders:write, payments:write yourself"
        );
        assert!(may_grant(&catalog_reader, "permissions", &[P::CatalogRead]).is_ok());
        assert!(may_grant(&Actor::Anonymous, "permissions", &[P::CatalogRead]).is_err());
    }

    #[test]
    fn registration_is_open_to_visitors_only_when_enabled_and_always_to_operators() {
        let tenant = TenantId::new();

        assert!(registration_scope(&Actor::Anonymous, tenant, true).is_ok());
        assert!(registration_scope(&Actor::Anonymous, tenant, false).is_err());
        assert!(registration_scope(&operator(), tenant, false).is_ok());
    }
}
