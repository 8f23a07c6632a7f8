//! Passwords are hashed with argon2id at OWASP's recommended parameters (19 MiB, 2 passes,
//! 1 lane) on blocking threads, so a hash never stalls the async runtime. High-entropy
//! secrets (refresh tokens, API keys) are 256 random bits and stored as SHA-256: a slow hash
//! adds nothing when the secret cannot be guessed.

use argon2::password_hash::{PasswordHash as Phc, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::DomainError;
use domain::identity::{Password, PasswordHash, SecretHash};
use domain::ports::Crypto;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// OWASP Password Storage Cheat Sheet: argon2id, m = 19 MiB, t = 2, p = 1.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// The production [`Crypto`]: argon2id and SHA-256.
#[derive(Clone)]
pub struct Argon2Crypto {
    /// A hash of a random password, verified against when an email is unknown so that an
    /// unknown email costs the same work as a wrong password.
    dummy: PasswordHash,
}

fn hasher() -> Argon2<'static> {
    // The parameters are constants inside argon2's accepted ranges; `Params::DEFAULT` is the
    // same OWASP setting, used should the constants ever be rejected.
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).unwrap_or(Params::DEFAULT);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> Result<PasswordHash, DomainError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|err| DomainError::internal(format!("no randomness for a salt: {err}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|err| DomainError::internal(err.to_string()))?;
    let hash =
        hasher().hash_password(password.as_bytes(), &salt).map_err(|err| DomainError::internal(err.to_string()))?;
    Ok(PasswordHash(hash.to_string()))
}

fn verify_blocking(password: &str, hash: &str) -> bool {
    Phc::new(hash).is_ok_and(|parsed| hasher().verify_password(password.as_bytes(), &parsed).is_ok())
}

impl Argon2Crypto {
    /// Prepares the dummy hash (one argon2 run at startup).
    ///
    /// # Errors
    /// When the system has no randomness.
    pub fn new() -> Result<Self, DomainError> {
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|err| DomainError::internal(format!("no randomness: {err}")))?;
        Ok(Argon2Crypto { dummy: hash_blocking(&URL_SAFE_NO_PAD.encode(random))? })
    }
}

impl Crypto for Argon2Crypto {
    async fn hash_password(&self, password: &Password) -> Result<PasswordHash, DomainError> {
        let password = password.expose().to_owned();
        tokio::task::spawn_blocking(move || hash_blocking(&password)).await.map_err(DomainError::internal)?
    }

    async fn verify_password(&self, password: &Password, hash: Option<&PasswordHash>) -> bool {
        let known = hash.is_some();
        let hash = hash.unwrap_or(&self.dummy).0.clone();
        let password = password.expose().to_owned();
        let verified = tokio::task::spawn_blocking(move || verify_blocking(&password, &hash)).await.unwrap_or(false);
        known && verified
    }

    fn new_secret(&self) -> Result<String, DomainError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|err| DomainError::internal(format!("no randomness for a secret: {err}")))?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    fn hash_secret(&self, secret: &str) -> SecretHash {
        let digest = Sha256::digest(secret.as_bytes());
        SecretHash(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    fn secret_matches(&self, secret: &str, hash: &SecretHash) -> bool {
        self.hash_secret(secret).0.as_bytes().ct_eq(hash.0.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_verifies_against_its_own_hash_only() {
        let crypto = Argon2Crypto::new().expect("randomness");
        let password = Password::parse("password", "correct horse battery").expect("valid");
        let other = Password::parse("password", "correct horse battery!").expect("valid");

        let hash = crypto.hash_password(&password).await.expect("hashes");

        assert!(hash.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", hash.0);
        assert!(crypto.verify_password(&password, Some(&hash)).await);
        assert!(!crypto.verify_password(&other, Some(&hash)).await);
        assert!(!crypto.verify_password(&password, None).await, "no hash never verifies");
    }

    #[test]
    fn secrets_are_random_43_characters_and_match_only_their_hash() {
        let crypto = Argon2Crypto { dummy: PasswordHash(String::new()) };

        let (a, b) = (crypto.new_secret().expect("random"), crypto.new_secret().expect("random"));

        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(crypto.secret_matches(&a, &crypto.hash_secret(&a)));
        assert!(!crypto.secret_matches(&b, &crypto.hash_secret(&a)));
    }
}
