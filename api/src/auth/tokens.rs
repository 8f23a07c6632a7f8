//! Access tokens: short-lived JWTs signed with HS256, the only algorithm accepted.
//!
//! Claims: `iss` = `keel`, `aud` = `keel-api`, `sub` (member), `tid` (tenant), `sid`
//! (session), `role` (informational: the stored role is what authorizes), `iat`, `exp`. The
//! header's `kid` names the key: the current secret signs, previous secrets still verify until
//! an operator removes them, so secrets rotate without signing anyone out. Expired tokens,
//! other algorithms (`none` included), wrong keys, issuers or audiences are all rejected.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::DomainError;
use domain::identity::SignedIn;
use domain::identity::sessions::AccessClaims;
use domain::ids::{SessionId, TenantId, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::config::JwtSecret;

/// The `iss` claim Keel issues and accepts.
pub const ISSUER: &str = "keel";
/// The `aud` claim Keel issues and accepts.
pub const AUDIENCE: &str = "keel-api";
/// The only signing algorithm.
const ALGORITHM: Algorithm = Algorithm::HS256;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: uuid::Uuid,
    tid: uuid::Uuid,
    sid: uuid::Uuid,
    role: String,
    iat: i64,
    exp: i64,
}

/// A signed access token and when it expires.
pub struct AccessToken {
    /// The compact JWT.
    pub token: String,
    /// Its `exp`.
    pub expires_at: OffsetDateTime,
}

/// The key set: one signing key, any number of verifying keys, by `kid`.
pub struct AccessTokens {
    signing_kid: String,
    signing: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    validation: Validation,
    lifetime: Duration,
}

/// A key id derived from the secret: stable across restarts, reveals nothing usable.
fn key_id(secret: &JwtSecret) -> String {
    let digest = Sha256::digest([b"keel-jwt-kid:".as_slice(), secret.expose()].concat());
    URL_SAFE_NO_PAD.encode(&digest[..9])
}

impl AccessTokens {
    /// A key set that signs with `current` and also verifies with `previous`.
    pub fn new(current: &JwtSecret, previous: &[JwtSecret], lifetime: Duration) -> Self {
        let mut verifying = HashMap::new();
        for secret in std::iter::once(current).chain(previous) {
            verifying.insert(key_id(secret), DecodingKey::from_secret(secret.expose()));
        }
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 0;
        AccessTokens {
            signing_kid: key_id(current),
            signing: EncodingKey::from_secret(current.expose()),
            verifying,
            validation,
            lifetime,
        }
    }

    /// Signs an access token for a signed-in member.
    ///
    /// # Errors
    /// `Internal` if signing fails (it does not with an HMAC key).
    pub fn issue(&self, signed_in: &SignedIn, now: OffsetDateTime) -> Result<AccessToken, DomainError> {
        let expires_at = now + self.lifetime;
        let claims = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: signed_in.user.id.uuid(),
            tid: signed_in.tenant.id.uuid(),
            sid: signed_in.session.id.uuid(),
            role: signed_in.user.role.as_str().into(),
            iat: now.unix_timestamp(),
            exp: expires_at.unix_timestamp(),
        };
        let header = Header { kid: Some(self.signing_kid.clone()), ..Header::new(ALGORITHM) };
        let token = jsonwebtoken::encode(&header, &claims, &self.signing).map_err(DomainError::internal)?;
        Ok(AccessToken { token, expires_at })
    }

    /// Verifies a token's algorithm, key, signature, issuer, audience and expiry.
    ///
    /// # Errors
    /// `Unauthenticated` with the reason.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, DomainError> {
        self.verify_until(token).map(|(claims, _)| claims)
    }

    /// [`AccessTokens::verify`], also answering the token's `exp`.
    ///
    /// # Errors
    /// `Unauthenticated` with the reason.
    pub fn verify_until(&self, token: &str) -> Result<(AccessClaims, OffsetDateTime), DomainError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| DomainError::Unauthenticated("malformed access token"))?;
        if header.alg != ALGORITHM {
            return Err(DomainError::Unauthenticated("access token signed with an unaccepted algorithm"));
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verifying.get(kid))
            .ok_or(DomainError::Unauthenticated("access token signed with an unknown key"))?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|err| {
            DomainError::Unauthenticated(match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "access token expired; refresh it",
                jsonwebtoken::errors::ErrorKind::InvalidSignature => "access token signature is invalid",
                jsonwebtoken::errors::ErrorKind::InvalidAudience => "access token is for another audience",
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => "access token is from another issuer",
                _ => "invalid access token",
            })
        })?;
        let claims = data.claims;
        let expires_at = OffsetDateTime::from_unix_timestamp(claims.exp)
            .map_err(|_| DomainError::Unauthenticated("invalid access token"))?;
        let access = AccessClaims {
            tenant: TenantId::from_uuid(claims.tid),
            user: UserId::from_uuid(claims.sub),
            session: SessionId::from_uuid(claims.sid),
        };
        Ok((access, expires_at))
    }
}
