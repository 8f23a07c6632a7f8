//! Authentication: turning an `Authorization` header into an [`Actor`], and the cryptography
//! behind passwords, secrets and access tokens.
//!
//! No credential is [`Actor::Anonymous`]. A credential that is present but invalid (expired,
//! bad signature, revoked key, unknown scheme) is never downgraded to anonymous: it is an
//! `UNAUTHENTICATED` answer with the reason, so a client knows to refresh or sign in again.
//!
//! # Layout
//!
//! - [`crypto`]: argon2id passwords and hashed random secrets (the domain's `Crypto` port).
//! - [`tokens`]: signing and verifying access tokens (JWT, HS256, `kid` key rotation).

pub mod crypto;
pub mod tokens;

use domain::DomainError;
use domain::auth::Actor;
use domain::identity::credentials::ApiKeyCredential;
use domain::identity::sessions;
use http::HeaderMap;
use time::OffsetDateTime;

use crate::app::ports::AppPorts;
use tokens::AccessTokens;

/// The longest `Authorization` header value read, in bytes: an access token is a few hundred
/// and an API key 117; anything longer is refused before it is parsed or verified.
pub const MAX_AUTHORIZATION_BYTES: usize = 4096;

/// Resolves the caller behind the request's `Authorization` header.
///
/// # Errors
/// `Unauthenticated` with the reason for any credential that is present but not valid.
pub async fn authenticate(ports: &AppPorts, tokens: &AccessTokens, headers: &HeaderMap) -> Result<Actor, DomainError> {
    authenticate_until(ports, tokens, headers).await.map(|(actor, _)| actor)
}

/// [`authenticate`], also answering when the credential stops being valid by itself: an access
/// token's expiry (`None` for API keys and anonymous callers, which do not expire).
///
/// # Errors
/// As [`authenticate`].
pub async fn authenticate_until(
    ports: &AppPorts,
    tokens: &AccessTokens,
    headers: &HeaderMap,
) -> Result<(Actor, Option<OffsetDateTime>), DomainError> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else { return Ok((Actor::Anonymous, None)) };
    if value.len() > MAX_AUTHORIZATION_BYTES {
        return Err(DomainError::Unauthenticated("the Authorization header is too long"));
    }
    let value = value.to_str().map_err(|_| DomainError::Unauthenticated("unreadable Authorization header"))?;
    let (scheme, credential) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || credential.trim().is_empty() {
        return Err(DomainError::Unauthenticated("use `Authorization: Bearer <access token or API key>`"));
    }
    let credential = credential.trim();
    if ApiKeyCredential::looks_like(credential) {
        return Ok((sessions::authenticate_api_key(ports, credential).await?, None));
    }
    let (claims, expires_at) = tokens.verify_until(credential)?;
    Ok((sessions::authenticate_member(ports, claims).await?, Some(expires_at)))
}
