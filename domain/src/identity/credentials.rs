//! How refresh tokens and API keys look in a client's hands.
//!
//! Both carry their tenant, because tenant data can only be read inside a tenant scope (and,
//! on PostgreSQL, behind row-level security): the server must know the tenant before it can
//! look the secret up. The tenant id is not secret; the 256-bit random part is, and only its
//! hash is stored.
//!
//! - refresh token: `keel_rt_<tenant>_<secret>`
//! - API key: `keel_sk_<tenant>_<key id>_<secret>`
//!
//! where ids are 32 lower-case hex digits and the secret is 43 base64url characters.

use std::fmt;

use uuid::Uuid;

use crate::ids::{ApiKeyId, TenantId};

const REFRESH_PREFIX: &str = "keel_rt_";
const API_KEY_PREFIX: &str = "keel_sk_";
/// Length of the random part: 32 bytes in unpadded base64url.
pub const SECRET_CHARS: usize = 43;

/// A credential string exactly as a client holds it. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct PresentedSecret(String);

impl PresentedSecret {
    /// The full string, to hand to the client once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PresentedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresentedSecret(***)")
    }
}

/// A refresh token, parsed.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// The random part, whose hash is stored.
    pub secret: String,
}

impl RefreshToken {
    /// Builds the client form.
    pub fn format(tenant: TenantId, secret: &str) -> PresentedSecret {
        PresentedSecret(format!("{REFRESH_PREFIX}{}_{secret}", tenant.uuid().simple()))
    }

    /// Parses the client form; `None` for anything malformed.
    pub fn parse(raw: &str) -> Option<RefreshToken> {
        let rest = raw.trim().strip_prefix(REFRESH_PREFIX)?;
        let (tenant, secret) = rest.split_once('_')?;
        let tenant = TenantId::from_uuid(parse_hex_id(tenant)?);
        valid_secret(secret).then(|| RefreshToken { tenant, secret: secret.to_owned() })
    }
}

/// An API key, parsed.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyCredential {
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// The key's id.
    pub key: ApiKeyId,
    /// The random part, whose hash is stored.
    pub secret: String,
}

impl ApiKeyCredential {
    /// Builds the client form.
    pub fn format(tenant: TenantId, key: ApiKeyId, secret: &str) -> PresentedSecret {
        PresentedSecret(format!("{API_KEY_PREFIX}{}_{}_{secret}", tenant.uuid().simple(), key.uuid().simple()))
    }

    /// Whether `raw` looks like an API key rather than an access token.
    pub fn looks_like(raw: &str) -> bool {
        raw.starts_with(API_KEY_PREFIX)
    }

    /// Parses the client form; `None` for anything malformed.
    pub fn parse(raw: &str) -> Option<ApiKeyCredential> {
        let rest = raw.trim().strip_prefix(API_KEY_PREFIX)?;
        let (tenant, rest) = rest.split_once('_')?;
        let (key, secret) = rest.split_once('_')?;
        let tenant = TenantId::from_uuid(parse_hex_id(tenant)?);
        let key = ApiKeyId::from_uuid(parse_hex_id(key)?);
        valid_secret(secret).then(|| ApiKeyCredential { tenant, key, secret: secret.to_owned() })
    }
}

fn parse_hex_id(raw: &str) -> Option<Uuid> {
    (raw.len() == 32 && raw.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Uuid::try_parse(raw).ok()).flatten()
}

fn valid_secret(secret: &str) -> bool {
    secret.len() == SECRET_CHARS && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_9";

    #[test]
    fn refresh_tokens_round_trip_and_reject_tampering() {
        let tenant = TenantId::new();
        let token = RefreshToken::format(tenant, SECRET);

        let parsed = RefreshToken::parse(token.expose()).expect("round trip");

        assert_eq!((parsed.tenant, parsed.secret.as_str()), (tenant, SECRET));
        assert!(RefreshToken::parse(&token.expose().replace("keel_rt_", "keel_sk_")).is_none());
        assert!(RefreshToken::parse(&token.expose()[..token.expose().len() - 1]).is_none());
        assert!(RefreshToken::parse("keel_rt_nothex_x").is_none());
        assert_eq!(format!("{token:?}"), "PresentedSecret(***)");
    }

    #[test]
    fn api_keys_round_trip_and_reject_tampering() {
        let (tenant, key) = (TenantId::new(), ApiKeyId::new());
        let credential = ApiKeyCredential::format(tenant, key, SECRET);

        let parsed = ApiKeyCredential::parse(credential.expose()).expect("round trip");

        assert_eq!((parsed.tenant, parsed.key), (tenant, key));
        assert!(ApiKeyCredential::looks_like(credential.expose()));
        assert!(ApiKeyCredential::parse(&format!("{}!", credential.expose())).is_none());
        assert!(ApiKeyCredential::parse("keel_sk_").is_none());
    }
}
