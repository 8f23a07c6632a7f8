//! Tenants, members, sessions, API keys and the audit log: who exists and how they prove it.
//!
//! Values here parse at the boundary ([`Email::parse`], [`Password::parse`], …) so everything
//! inside is valid. Secrets (`Password`, presented tokens) never implement a revealing `Debug`.
//!
//! # Layout
//!
//! - this module: the values and records.
//! - [`credentials`]: the formats of refresh tokens and API keys as clients hold them.
//! - [`sessions`]: registration, login, refresh, logout, and resolving a credential to an actor.
//! - [`members`]: creating members, changing roles, deactivating (never the last owner).
//! - [`api_keys`]: creating, listing and revoking API keys.
//! - [`audit`]: reading the audit log; [`AuditEntry`] records what happened.
//! - [`throttle`]: login throttling per (account, client address), client address and account.
//!
//! The use-cases take [`crate::ports::Ports`]; names and labels parse with [`crate::text`].

pub mod api_keys;
pub mod audit;
pub mod credentials;
pub mod members;
pub mod sessions;
pub mod throttle;

use std::fmt;

use time::OffsetDateTime;

use crate::auth::{ActorRef, Permission, Role};
use crate::error::Invalid;
use crate::ids::{ApiKeyId, AuditEntryId, SessionId, TenantId, UserId};
use crate::money::Currency;
pub use throttle::LoginThrottle;

/// An email address, trimmed and lower-cased; unique per tenant.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Parses an address: one `@`, a non-empty local part, a dotted domain, at most 254 bytes.
    ///
    /// # Errors
    /// `Invalid` on `field`.
    pub fn parse(field: &str, raw: &str) -> Result<Email, Invalid> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && match email.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && local.len() <= 64
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if valid {
            Ok(Email(email))
        } else {
            Err(Invalid::new(field, "must be an email address like name@example.com"))
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    /// Emails are personal data: `Debug` (and so logs) shows only the domain.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let domain = self.0.split_once('@').map(|(_, d)| d).unwrap_or_default();
        write!(f, "Email(***@{domain})")
    }
}

/// A tenant's URL-safe handle: 3–63 of `a–z 0–9 -`, not starting or ending with `-`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    /// Parses a slug, lower-casing it.
    ///
    /// # Errors
    /// `Invalid` on `field`.
    pub fn parse(field: &str, raw: &str) -> Result<Slug, Invalid> {
        let slug = raw.trim().to_ascii_lowercase();
        let valid = (3..=63).contains(&slug.len())
            && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !slug.starts_with('-')
            && !slug.ends_with('-');
        if valid {
            Ok(Slug(slug))
        } else {
            Err(Invalid::new(field, "must be 3 to 63 of a-z, 0-9 and '-', not starting or ending with '-'"))
        }
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed: 10 to 128 characters. `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

/// The shortest accepted password, in characters (OWASP ASVS 2.1.1 asks for at least 8).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest accepted password, in characters; bounds hashing work per request.
pub const MAX_PASSWORD_CHARS: usize = 128;

impl Password {
    /// Checks the length of a new password.
    ///
    /// # Errors
    /// `Invalid` on `field` (code `WEAK_PASSWORD`) outside 10–128 characters.
    pub fn parse(field: &str, raw: &str) -> Result<Password, Invalid> {
        let length = raw.chars().count();
        if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&length) {
            Ok(Password(raw.to_owned()))
        } else {
            Err(Invalid::with_code(
                field,
                "WEAK_PASSWORD",
                format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"),
            ))
        }
    }

    /// A password presented at login: not held to the policy's minimum (it may predate it),
    /// but refused past [`MAX_PASSWORD_CHARS`], before any hashing: no stored password is
    /// longer, and a megabyte "password" must not buy a megabyte of hashing.
    ///
    /// # Errors
    /// `Invalid` on `field` (code `TOO_LONG`) past [`MAX_PASSWORD_CHARS`] characters.
    pub fn presented(field: &str, raw: &str) -> Result<Password, Invalid> {
        if raw.chars().nth(MAX_PASSWORD_CHARS).is_some() {
            return Err(Invalid::with_code(
                field,
                "TOO_LONG",
                format!("must be at most {MAX_PASSWORD_CHARS} characters"),
            ));
        }
        Ok(Password(raw.to_owned()))
    }

    /// The characters, for hashing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A stored password hash (a PHC string). Opaque outside the crypto adapter.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

/// The stored hash of a high-entropy secret (refresh token, API key), hex-encoded.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretHash(pub String);

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(***)")
    }
}

/// Whether a tenant may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantStatus {
    /// In business.
    Active,
    /// Switched off by an operator: nobody of this tenant can sign in or use a key.
    Suspended,
}

impl TenantStatus {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "ACTIVE",
            TenantStatus::Suspended => "SUSPENDED",
        }
    }

    /// Parses a storage name; anything unknown is treated as suspended (fail closed).
    pub fn parse(raw: &str) -> TenantStatus {
        if raw == "ACTIVE" { TenantStatus::Active } else { TenantStatus::Suspended }
    }
}

/// A shop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Its unique handle, used to sign in.
    pub slug: Slug,
    /// Its display name.
    pub name: String,
    /// The currency all its prices are in.
    pub currency: Currency,
    /// Whether it may be used.
    pub status: TenantStatus,
    /// When it was registered.
    pub created_at: OffsetDateTime,
}

/// Whether a member may sign in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberStatus {
    /// May sign in.
    Active,
    /// May not; their sessions were revoked.
    Deactivated,
}

impl MemberStatus {
    /// Storage and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Active => "ACTIVE",
            MemberStatus::Deactivated => "DEACTIVATED",
        }
    }

    /// Parses a storage name; anything unknown is treated as deactivated (fail closed).
    pub fn parse(raw: &str) -> MemberStatus {
        if raw == "ACTIVE" { MemberStatus::Active } else { MemberStatus::Deactivated }
    }
}

/// A person in a tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Their id.
    pub id: UserId,
    /// Their tenant.
    pub tenant: TenantId,
    /// Their email, unique in the tenant.
    pub email: Email,
    /// Their role.
    pub role: Role,
    /// Whether they may sign in.
    pub status: MemberStatus,
    /// When they were created.
    pub created_at: OffsetDateTime,
    /// When they last changed.
    pub updated_at: OffsetDateTime,
}

/// A signed-in session: one refresh-token family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Its id (the `sid` claim of access tokens).
    pub id: SessionId,
    /// Whose.
    pub user: UserId,
    /// When it started.
    pub created_at: OffsetDateTime,
    /// When it ends regardless of refreshes.
    pub expires_at: OffsetDateTime,
}

/// An API key as listed: never its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    /// Its id.
    pub id: ApiKeyId,
    /// Its tenant.
    pub tenant: TenantId,
    /// A label chosen by its creator.
    pub name: String,
    /// The last characters of the secret, to recognise a key without revealing it.
    pub hint: String,
    /// Exactly what it may do.
    pub permissions: Vec<Permission>,
    /// Who created it.
    pub created_by: ActorRef,
    /// When.
    pub created_at: OffsetDateTime,
    /// When it last authenticated a request (updated at most once a minute).
    pub last_used_at: Option<OffsetDateTime>,
    /// When it was revoked; a revoked key authenticates nothing.
    pub revoked_at: Option<OffsetDateTime>,
}

/// What an audit entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    /// A tenant was registered with its owner.
    TenantRegistered,
    /// A member signed in.
    LoginSucceeded,
    /// A sign-in failed (wrong password, unknown email, deactivated member).
    LoginFailed,
    /// A rotated refresh token was presented again; its session was revoked.
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

impl AuditAction {
    /// Every action.
    pub const ALL: [AuditAction; 10] = [
        AuditAction::TenantRegistered,
        AuditAction::LoginSucceeded,
        AuditAction::LoginFailed,
        AuditAction::RefreshTokenReused,
        AuditAction::LoggedOut,
        AuditAction::MemberCreated,
        AuditAction::RoleChanged,
        AuditAction::MemberDeactivated,
        AuditAction::ApiKeyCreated,
        AuditAction::ApiKeyRevoked,
    ];

    /// Storage and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::TenantRegistered => "TENANT_REGISTERED",
            AuditAction::LoginSucceeded => "LOGIN_SUCCEEDED",
            AuditAction::LoginFailed => "LOGIN_FAILED",
            AuditAction::RefreshTokenReused => "REFRESH_TOKEN_REUSED",
            AuditAction::LoggedOut => "LOGGED_OUT",
            AuditAction::MemberCreated => "MEMBER_CREATED",
            AuditAction::RoleChanged => "ROLE_CHANGED",
            AuditAction::MemberDeactivated => "MEMBER_DEACTIVATED",
            AuditAction::ApiKeyCreated => "API_KEY_CREATED",
            AuditAction::ApiKeyRevoked => "API_KEY_REVOKED",
        }
    }

    /// Parses a storage name.
    pub fn parse(raw: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == raw)
    }
}

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Its id (time-ordered).
    pub id: AuditEntryId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Who acted.
    pub actor: ActorRef,
    /// What happened.
    pub action: AuditAction,
    /// What it happened to, in words (an email, a key name, `STAFF → ADMIN`).
    pub subject: Option<String>,
    /// The client's address.
    pub address: Option<String>,
    /// When.
    pub created_at: OffsetDateTime,
}

/// What a successful registration, login or refresh yields: who is now signed in, and the
/// refresh token to give them (shown once).
#[derive(Debug)]
pub struct SignedIn {
    /// Their tenant.
    pub tenant: Tenant,
    /// Who signed in.
    pub user: User,
    /// The session.
    pub session: Session,
    /// The new refresh token, in the format clients hold it.
    pub refresh_token: credentials::PresentedSecret,
}

/// The profile behind `me`.
#[derive(Clone, Debug)]
pub struct Profile {
    /// The caller's tenant.
    pub tenant: Tenant,
    /// The member, when a person is calling.
    pub user: Option<User>,
    /// The API key, when a program is calling.
    pub api_key: Option<ApiKey>,
    /// What the caller may do.
    pub permissions: Vec<Permission>,
}

/// An audit entry for `action`, stamped `now`.
pub(crate) fn new_audit(
    tenant: TenantId,
    actor: ActorRef,
    action: AuditAction,
    subject: Option<String>,
    address: Option<std::net::IpAddr>,
    now: OffsetDateTime,
) -> AuditEntry {
    AuditEntry {
        id: AuditEntryId::new(),
        tenant,
        actor,
        action,
        subject,
        address: address.map(|a| a.to_string()),
        created_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse("email", "  Ada@Example.COM ").map(|e| e.0), Ok("ada@example.com".to_owned()));
        for bad in ["", "ada", "ada@", "@example.com", "ada@example", "a da@example.com", "a@b@example.com", "ada@.com"]
        {
            assert!(Email::parse("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_email_debug_shows_only_its_domain() {
        let email = Email::parse("email", "ada@example.com").expect("valid");

        assert_eq!(format!("{email:?}"), "Email(***@example.com)");
    }

    #[test]
    fn slugs_are_url_safe() {
        assert_eq!(Slug::parse("slug", "Acme-Shop").map(|s| s.0), Ok("acme-shop".to_owned()));
        for bad in ["ab", "-acme", "acme-", "acme shop", "acmé", &"a".repeat(64)] {
            assert!(Slug::parse("slug", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_10_to_128_characters_and_never_printed() {
        assert!(Password::parse("password", "123456789").is_err());
        assert!(Password::parse("password", "1234567890").is_ok());
        assert!(Password::parse("password", &"é".repeat(128)).is_ok());
        assert!(Password::parse("password", &"x".repeat(129)).is_err());
        let password = Password::parse("password", "correct horse battery").expect("valid");
        assert_eq!(format!("{password:?}"), "Password(***)");
        assert!(Password::presented("password", "short").is_ok(), "the minimum is not checked at login");
        assert!(Password::presented("password", &"é".repeat(MAX_PASSWORD_CHARS)).is_ok());
        let long = Password::presented("password", &"x".repeat(MAX_PASSWORD_CHARS + 1)).expect_err("129");
        assert_eq!((long.field(), long.code()), (&["password".to_owned()][..], "TOO_LONG"));
    }

    #[test]
    fn unknown_statuses_fail_closed() {
        assert_eq!(TenantStatus::parse("ACTIVE"), TenantStatus::Active);
        assert_eq!(TenantStatus::parse("active?"), TenantStatus::Suspended);
        assert_eq!(MemberStatus::parse(""), MemberStatus::Deactivated);
    }
}
