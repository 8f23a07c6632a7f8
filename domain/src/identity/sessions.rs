//! Signing up, signing in, refreshing, signing out, and turning a presented credential into an
//! [`Actor`].
//!
//! Refresh tokens rotate on every use; presenting one that was already used revokes its whole
//! session (family), because either the client or an attacker holds a stolen copy. Password
//! hashing happens outside transactions so a slow hash never holds a database connection.

use time::Duration;

use super::credentials::{ApiKeyCredential, PresentedSecret, RefreshToken};
use super::throttle::{Attempt, Reservation};
use super::{
    AuditAction, Email, MemberStatus, Password, PasswordHash, Session, SignedIn, Slug, Tenant, TenantStatus, User,
    new_audit,
};
use crate::auth::{
    Actor, ActorRef, Caller, KeyHolder, Member, OperatorConsole, Role, TenantScope, registration_scope, visitor_scope,
};
use crate::error::{DomainError, Invalid};
use crate::ids::{SessionId, TenantId, UserId};
use crate::money::Currency;
use crate::ports::{Crypto, IdentityRepo, Ports, RefreshUse, Store, Tx};
use crate::text::parse_text;

/// How long a session lasts, however often it is refreshed.
pub const SESSION_LIFETIME: Duration = Duration::days(30);
/// How stale an API key's last-use time may get before a request updates it.
const API_KEY_TOUCH_INTERVAL: Duration = Duration::minutes(1);
/// The answer to every failed sign-in, whichever part was wrong.
const BAD_CREDENTIALS: &str = "the tenant, email or password is incorrect";

/// A request to create a tenant and its first owner.
#[derive(Debug)]
pub struct RegisterTenant {
    /// Display name.
    pub name: String,
    /// Unique handle.
    pub slug: Slug,
    /// The currency of its prices.
    pub currency: Currency,
    /// The owner's email.
    pub owner_email: Email,
    /// The owner's password.
    pub owner_password: Password,
}

impl RegisterTenant {
    /// Parses raw input, collecting every invalid field.
    ///
    /// # Errors
    /// Every invalid field, with its name.
    pub fn parse(name: &str, slug: &str, currency: &str, email: &str, password: &str) -> Result<Self, Vec<Invalid>> {
        let name = parse_text("name", name, 100);
        let slug = Slug::parse("slug", slug);
        let currency = Currency::parse("currencyCode", currency);
        let email = Email::parse("ownerEmail", email);
        let password = Password::parse("ownerPassword", password);
        match (name, slug, currency, email, password) {
            (Ok(name), Ok(slug), Ok(currency), Ok(owner_email), Ok(owner_password)) => {
                Ok(RegisterTenant { name, slug, currency, owner_email, owner_password })
            }
            (name, slug, currency, email, password) => {
                Err([name.err(), slug.err(), currency.err(), email.err(), password.err()]
                    .into_iter()
                    .flatten()
                    .collect())
            }
        }
    }
}

/// Creates a tenant and its owner, and signs the owner in.
///
/// # Errors
/// `Forbidden` when self-service registration is closed (operators may always register);
/// `Invalid` (`TAKEN`) when the slug is taken.
#[tracing::instrument(name = "identity.register_tenant", skip_all, fields(tenant.id = tracing::field::Empty))]
pub async fn register_tenant<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    command: RegisterTenant,
    open_registration: bool,
) -> Result<SignedIn, DomainError> {
    let tenant_id = TenantId::new();
    let scope = registration_scope(&caller.actor, tenant_id, open_registration)?;
    let hash = ports.crypto.hash_password(&command.owner_password).await?;
    let now = ports.clock.now();
    let tenant = Tenant {
        id: tenant_id,
        slug: command.slug,
        name: command.name,
        currency: command.currency,
        status: TenantStatus::Active,
        created_at: now,
    };
    let owner = User {
        id: UserId::new(),
        tenant: tenant_id,
        email: command.owner_email,
        role: Role::Owner,
        status: MemberStatus::Active,
        created_at: now,
        updated_at: now,
    };

    let tx = ports.store.begin(&scope).await?;
    tx.insert_tenant(&scope, &tenant).await?;
    tx.insert_user(&scope, &owner, &hash).await?;
    let (session, refresh_token) = start_session(ports, &tx, &scope, &owner).await?;
    let subject = Some(format!("{} ({})", tenant.slug.as_str(), owner.email.as_str()));
    let entry = new_audit(tenant_id, scope.actor(), AuditAction::TenantRegistered, subject, caller.address, now);
    tx.append_audit(&scope, &entry).await?;
    tx.commit().await?;

    tracing::Span::current().record("tenant.id", tracing::field::display(tenant_id));
    Ok(SignedIn { tenant, user: owner, session, refresh_token })
}

/// Suspends or reactivates a tenant: operators only, which `operator` proves. A suspended
/// tenant's members cannot sign in and its tokens and API keys stop working at once; nothing is
/// deleted.
///
/// # Errors
/// `NotFound` for an unknown slug.
pub async fn set_tenant_status<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    operator: &OperatorConsole,
    slug: &Slug,
    status: TenantStatus,
) -> Result<(), DomainError> {
    if ports.store.set_tenant_status(operator, slug, status).await? { Ok(()) } else { Err(DomainError::NotFound) }
}

/// The longest tenant slug accepted at login, in characters (the longest a slug can be).
pub const MAX_LOGIN_SLUG_CHARS: usize = 63;
/// The longest email accepted at login, in bytes (the longest an [`Email`] can be).
pub const MAX_LOGIN_EMAIL_BYTES: usize = 254;

/// A sign-in attempt: the slug and email trimmed, lower-cased and bounded, the password bounded.
/// Their formats are not checked here: a malformed slug or email is simply wrong credentials.
#[derive(Debug)]
pub struct Login {
    tenant_slug: String,
    email: String,
    password: Password,
}

impl Login {
    /// Bounds and normalises the typed values, before anything is counted, hashed or logged.
    ///
    /// # Errors
    /// `Invalid` (code `TOO_LONG`) for each value past its limit: the slug past
    /// [`MAX_LOGIN_SLUG_CHARS`], the email past [`MAX_LOGIN_EMAIL_BYTES`], the password past
    /// [`super::MAX_PASSWORD_CHARS`].
    pub fn parse(tenant_slug: &str, email: &str, password: &str) -> Result<Login, Vec<Invalid>> {
        let tenant_slug = tenant_slug.trim();
        let email = email.trim();
        let slug = if tenant_slug.chars().nth(MAX_LOGIN_SLUG_CHARS).is_some() {
            Err(too_long("tenantSlug", format!("must be at most {MAX_LOGIN_SLUG_CHARS} characters")))
        } else {
            Ok(tenant_slug.to_lowercase())
        };
        // Bounded before lower-casing, which may lengthen a string, and after it, as Email is.
        let email = Some(email)
            .filter(|email| email.len() <= MAX_LOGIN_EMAIL_BYTES)
            .map(str::to_lowercase)
            .filter(|email| email.len() <= MAX_LOGIN_EMAIL_BYTES)
            .ok_or_else(|| too_long("email", format!("must be at most {MAX_LOGIN_EMAIL_BYTES} bytes")));
        let password = Password::presented("password", password);
        match (slug, email, password) {
            (Ok(tenant_slug), Ok(email), Ok(password)) => Ok(Login { tenant_slug, email, password }),
            (slug, email, password) => Err([slug.err(), email.err(), password.err()].into_iter().flatten().collect()),
        }
    }
}

fn too_long(field: &str, message: String) -> Invalid {
    Invalid::with_code(field, "TOO_LONG", message)
}

/// Signs a member in with their password.
///
/// The attempt is counted by the login throttle before anything else happens, unknown tenants
/// and emails included, and its password is checked only if the throttle lets it through.
///
/// # Errors
/// `RateLimited` when the throttle refuses the attempt, or no password-hashing slot freed up
/// in time (then nothing is counted); `Invalid` (`INVALID_CREDENTIALS`) for an unknown tenant,
/// unknown email or wrong password alike (the same hash work is done in each case); `Invalid`
/// (`ACCOUNT_DISABLED`) for a correct password of a deactivated member or suspended tenant.
#[tracing::instrument(name = "identity.login", skip_all, fields(tenant.id = tracing::field::Empty))]
pub async fn login<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    command: Login,
) -> Result<SignedIn, DomainError> {
    let attempt = Attempt::new(&command.tenant_slug, &command.email, caller.address);
    let reservation = ports.throttle.reserve(&attempt, ports.clock.now())?;
    let tenant = match Slug::parse("tenantSlug", &command.tenant_slug) {
        Ok(slug) => ports.store.tenant_by_slug(&slug).await?,
        Err(_) => None,
    };
    let Some(tenant) = tenant else {
        // Same work as a real check, so an unknown tenant answers in the same time.
        let (_, guessed) = check_password(ports, reservation, &command.password, None).await?;
        drop(guessed);
        return Err(Invalid::with_code("", "INVALID_CREDENTIALS", BAD_CREDENTIALS).into());
    };
    tracing::Span::current().record("tenant.id", tracing::field::display(tenant.id));
    let scope = visitor_scope(tenant.id);
    let email = Email::parse("email", &command.email).ok();
    let found = match &email {
        Some(email) => {
            let tx = ports.store.begin_read(&scope).await?;
            let found = tx.user_by_email(&scope, email).await?;
            tx.commit().await?;
            found
        }
        None => None,
    };
    let hash = found.as_ref().map(|(_, hash)| hash);
    let (verified, reservation) = check_password(ports, reservation, &command.password, hash).await?;
    let now = ports.clock.now();

    let tx = ports.store.begin(&scope).await?;
    let user = match found {
        Some((user, _)) if verified => user,
        found => {
            // The reservation stays counted: this was a guess.
            drop(reservation);
            let actor = found.map_or(ActorRef::Visitor, |(user, _)| ActorRef::User(user.id));
            let subject = Some(command.email);
            tx.append_audit(
                &scope,
                &new_audit(tenant.id, actor, AuditAction::LoginFailed, subject, caller.address, now),
            )
            .await?;
            tx.commit().await?;
            return Err(Invalid::with_code("", "INVALID_CREDENTIALS", BAD_CREDENTIALS).into());
        }
    };
    if user.status != MemberStatus::Active || tenant.status != TenantStatus::Active {
        let subject = Some(format!("{} (disabled)", user.email.as_str()));
        tx.append_audit(
            &scope,
            &new_audit(tenant.id, ActorRef::User(user.id), AuditAction::LoginFailed, subject, caller.address, now),
        )
        .await?;
        tx.commit().await?;
        return Err(
            Invalid::with_code("", "ACCOUNT_DISABLED", "this account is deactivated; ask an owner or admin").into()
        );
    }
    let (session, refresh_token) = start_session(ports, &tx, &scope, &user).await?;
    let subject = Some(user.email.as_str().to_owned());
    tx.append_audit(
        &scope,
        &new_audit(tenant.id, ActorRef::User(user.id), AuditAction::LoginSucceeded, subject, caller.address, now),
    )
    .await?;
    tx.commit().await?;
    ports.throttle.succeed(reservation, now);
    Ok(SignedIn { tenant, user, session, refresh_token })
}

/// Checks `password` against `hash` (a dummy when `None`) for a reserved attempt. When no
/// hashing slot frees up in time the password was never checked, so the reservation is given
/// back before the `RateLimited` is returned.
async fn check_password<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    reservation: Reservation,
    password: &Password,
    hash: Option<&PasswordHash>,
) -> Result<(bool, Reservation), DomainError> {
    match ports.crypto.verify_password(password, hash).await {
        Ok(verified) => Ok((verified, reservation)),
        Err(err) => {
            ports.throttle.release(reservation);
            Err(err)
        }
    }
}

/// Exchanges a refresh token for a new one (and so a new access token).
///
/// # Errors
/// `Unauthenticated` for a malformed, unknown, expired or revoked token, or an inactive member
/// or tenant; a token that was already used revokes its session first.
#[tracing::instrument(name = "identity.refresh", skip_all)]
pub async fn refresh_session<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    presented: &str,
) -> Result<SignedIn, DomainError> {
    let token = RefreshToken::parse(presented).ok_or(DomainError::Unauthenticated("invalid refresh token"))?;
    let scope = visitor_scope(token.tenant);
    let hash = ports.crypto.hash_secret(&token.secret);
    let now = ports.clock.now();

    let tx = ports.store.begin(&scope).await?;
    let (session_id, user_id) = match tx.use_refresh_token(&scope, &hash, now).await? {
        RefreshUse::Fresh { session, user } => (session, user),
        RefreshUse::Reused { session } => {
            tx.revoke_session(&scope, session, now).await?;
            let entry =
                new_audit(token.tenant, ActorRef::Visitor, AuditAction::RefreshTokenReused, None, caller.address, now);
            tx.append_audit(&scope, &entry).await?;
            tx.commit().await?;
            return Err(DomainError::Unauthenticated("refresh token already used; the session has been revoked"));
        }
        RefreshUse::Unknown => return Err(DomainError::Unauthenticated("invalid refresh token")),
    };
    let holder = tx.session_holder(&scope, user_id, session_id).await?;
    let active = holder.is_some_and(|h| {
        !h.revoked && h.expires_at > now && h.status == MemberStatus::Active && h.tenant_status == TenantStatus::Active
    });
    let (Some(session), Some(user), true) =
        (tx.session(&scope, session_id).await?, tx.user(&scope, user_id).await?, active)
    else {
        return Err(DomainError::Unauthenticated("session expired or revoked; sign in again"));
    };
    let tenant = tx.tenant(&scope).await?;
    let secret = ports.crypto.new_secret()?;
    tx.insert_refresh_token(&scope, session.id, &ports.crypto.hash_secret(&secret), now).await?;
    tx.commit().await?;
    Ok(SignedIn { tenant, user, session, refresh_token: RefreshToken::format(scope.tenant(), &secret) })
}

/// Ends the session a refresh token belongs to. Unknown tokens are ignored (idempotent).
///
/// # Errors
/// Only storage failures.
#[tracing::instrument(name = "identity.logout", skip_all)]
pub async fn logout<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    presented: &str,
) -> Result<(), DomainError> {
    let Some(token) = RefreshToken::parse(presented) else { return Ok(()) };
    let scope = visitor_scope(token.tenant);
    let hash = ports.crypto.hash_secret(&token.secret);
    let now = ports.clock.now();

    let tx = ports.store.begin(&scope).await?;
    let Some(session_id) = tx.session_of_refresh_token(&scope, &hash).await? else { return Ok(()) };
    let actor = tx.session(&scope, session_id).await?.map_or(ActorRef::Visitor, |s| ActorRef::User(s.user));
    tx.revoke_session(&scope, session_id, now).await?;
    tx.append_audit(&scope, &new_audit(token.tenant, actor, AuditAction::LoggedOut, None, caller.address, now)).await?;
    tx.commit().await
}

/// The verified content of an access token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessClaims {
    /// `tid`.
    pub tenant: TenantId,
    /// `sub`.
    pub user: UserId,
    /// `sid`.
    pub session: SessionId,
}

/// Turns a signature-checked access token into an actor, checking that the member, their
/// session and their tenant are still active, and taking the role as stored now.
///
/// # Errors
/// `Unauthenticated` otherwise.
pub async fn authenticate_member<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    claims: AccessClaims,
) -> Result<Actor, DomainError> {
    let scope = visitor_scope(claims.tenant);
    let holder = ports.store.session_holder(&scope, claims.user, claims.session).await?;
    match holder {
        Some(h) if h.revoked || h.expires_at <= ports.clock.now() => {
            Err(DomainError::Unauthenticated("session revoked or expired; sign in again"))
        }
        Some(h) if h.status != MemberStatus::Active => Err(DomainError::Unauthenticated("member deactivated")),
        Some(h) if h.tenant_status != TenantStatus::Active => Err(DomainError::Unauthenticated("tenant suspended")),
        Some(h) => Ok(Actor::Member(Member::authenticated(claims.tenant, claims.user, h.role, claims.session))),
        None => Err(DomainError::Unauthenticated("unknown session")),
    }
}

/// Turns a presented API key into an actor holding exactly the key's permissions.
///
/// # Errors
/// `Unauthenticated` for a malformed, unknown, wrong or revoked key, or a suspended tenant.
pub async fn authenticate_api_key<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    presented: &str,
) -> Result<Actor, DomainError> {
    let credential = ApiKeyCredential::parse(presented).ok_or(DomainError::Unauthenticated("malformed API key"))?;
    let scope = visitor_scope(credential.tenant);
    let now = ports.clock.now();
    let tx = ports.store.begin_read(&scope).await?;
    let found = tx.api_key(&scope, credential.key).await?;
    let tenant = tx.tenant(&scope).await;
    tx.commit().await?;
    let key = match found {
        Some((key, hash)) if ports.crypto.secret_matches(&credential.secret, &hash) => key,
        _ => return Err(DomainError::Unauthenticated("invalid API key")),
    };
    if key.revoked_at.is_some() {
        return Err(DomainError::Unauthenticated("API key revoked"));
    }
    if !matches!(tenant, Ok(Tenant { status: TenantStatus::Active, .. })) {
        return Err(DomainError::Unauthenticated("tenant suspended"));
    }
    if key.last_used_at.is_none_or(|used| now - used >= API_KEY_TOUCH_INTERVAL) {
        let tx = ports.store.begin(&scope).await?;
        tx.touch_api_key(&scope, key.id, now).await?;
        tx.commit().await?;
    }
    Ok(Actor::ApiKey(KeyHolder::authenticated(key.tenant, key.id, key.permissions)))
}

/// Starts a session for `user` with its first refresh token, inside the caller's transaction.
async fn start_session<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    tx: &S::Tx,
    scope: &TenantScope,
    user: &User,
) -> Result<(Session, PresentedSecret), DomainError> {
    let now = ports.clock.now();
    let session = Session { id: SessionId::new(), user: user.id, created_at: now, expires_at: now + SESSION_LIFETIME };
    tx.insert_session(scope, &session).await?;
    let secret = ports.crypto.new_secret()?;
    tx.insert_refresh_token(scope, session.id, &ports.crypto.hash_secret(&secret), now).await?;
    Ok((session, RefreshToken::format(scope.tenant(), &secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_fields(slug: &str, email: &str, password: &str) -> Vec<(String, &'static str)> {
        Login::parse(slug, email, password)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|invalid| (invalid.field().join("."), invalid.code()))
            .collect()
    }

    #[test]
    fn a_login_is_normalised_and_refused_only_past_its_lengths() {
        let login = Login::parse(" Acme ", " Ada@Example.COM ", "any password").expect("within limits");
        assert_eq!((login.tenant_slug.as_str(), login.email.as_str()), ("acme", "ada@example.com"));
        assert!(Login::parse("not a slug!", "not an email", "short").is_ok(), "formats are not checked here");
        assert!(Login::parse(&"s".repeat(63), &"e".repeat(254), &"p".repeat(128)).is_ok());

        let refused = refused_fields(&"s".repeat(64), &"e".repeat(255), &"p".repeat(129));

        assert_eq!(
            refused,
            [("tenantSlug".into(), "TOO_LONG"), ("email".into(), "TOO_LONG"), ("password".into(), "TOO_LONG")]
        );
        // 'İ' is 2 bytes and lower-cases to 3: the bound holds after normalising too.
        assert_eq!(refused_fields("acme", &"İ".repeat(127), "password"), [("email".into(), "TOO_LONG")]);
    }
}
