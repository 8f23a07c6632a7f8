//! Passwords are hashed with argon2id at OWASP's recommended parameters (19 MiB, 2 passes,
//! 1 lane) on blocking threads, so a hash never stalls the async runtime. High-entropy
//! secrets (refresh tokens, API keys) are 256 random bits and stored as SHA-256: a slow hash
//! adds nothing when the secret cannot be guessed.
//!
//! At most [`HashingLimits::concurrency`] hashes run at once, whoever asks (logins, sign-ups,
//! new members): each holds 19 MiB and a core, so without a bound anonymous logins could start
//! one per blocking thread (tokio allows 512) and exhaust memory and CPU. Further hashes queue
//! in arrival order for up to [`HashingLimits::queue_timeout`], then answer `RateLimited`.
//! A hash keeps its slot until it finishes, even when the request that asked for it is gone.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHash as Phc, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::DomainError;
use domain::identity::{Password, PasswordHash, SecretHash};
use domain::ports::Crypto;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// OWASP Password Storage Cheat Sheet: argon2id, m = 19 MiB, t = 2, p = 1.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// How much password hashing may run at once, and how long a hash waits for its turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashingLimits {
    /// Hashes running at once; the rest queue.
    pub concurrency: NonZeroUsize,
    /// How long a queued hash waits before it answers `RateLimited`.
    pub queue_timeout: Duration,
}

impl HashingLimits {
    /// One hash per core, queueing for up to 5 seconds.
    pub fn for_this_machine() -> HashingLimits {
        HashingLimits {
            concurrency: std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
            queue_timeout: Duration::from_secs(5),
        }
    }
}

/// The production [`Crypto`]: argon2id and SHA-256.
#[derive(Clone)]
pub struct Argon2Crypto {
    /// A hash of a random password, verified against when an email is unknown so that an
    /// unknown email costs the same work as a wrong password.
    dummy: PasswordHash,
    /// One permit per hash allowed to run; shared by every clone.
    slots: Arc<Semaphore>,
    queue_timeout: Duration,
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
    /// Prepares the dummy hash (one argon2 run at startup) and the hashing slots.
    ///
    /// # Errors
    /// When the system has no randomness.
    pub fn new(limits: HashingLimits) -> Result<Self, DomainError> {
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|err| DomainError::internal(format!("no randomness: {err}")))?;
        Ok(Argon2Crypto {
            dummy: hash_blocking(&URL_SAFE_NO_PAD.encode(random))?,
            slots: Arc::new(Semaphore::new(limits.concurrency.get())),
            queue_timeout: limits.queue_timeout,
        })
    }

    /// Runs `work` on a blocking thread once a hashing slot is free, holding the slot until
    /// `work` ends (also when the caller stops waiting for it).
    async fn hashing<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, DomainError> {
        let slot = match tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            Ok(Err(closed)) => return Err(DomainError::internal(closed)),
            Err(_) => {
                tracing::warn!(queue_timeout_secs = self.queue_timeout.as_secs(), "password hashing is saturated");
                return Err(DomainError::RateLimited { retry_after_secs: self.queue_timeout.as_secs().max(1) });
            }
        };
        tokio::task::spawn_blocking(move || {
            let done = work();
            drop(slot);
            done
        })
        .await
        .map_err(DomainError::internal)
    }
}

impl Crypto for Argon2Crypto {
    async fn hash_password(&self, password: &Password) -> Result<PasswordHash, DomainError> {
        let password = password.expose().to_owned();
        self.hashing(move || hash_blocking(&password)).await?
    }

    async fn verify_password(&self, password: &Password, hash: Option<&PasswordHash>) -> Result<bool, DomainError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or(&self.dummy).0.clone();
        let password = password.expose().to_owned();
        let verified = self.hashing(move || verify_blocking(&password, &hash)).await?;
        Ok(known && verified)
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

    fn hmac_sha256_matches(&self, key: &[u8], message: &[u8], signature: &str) -> bool {
        let Ok(expected) = decode_hex(signature) else { return false };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { return false };
        mac.update(message);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&expected).is_ok()
    }
}

/// Decodes lowercase or uppercase hex; `Err` for an odd length or a non-hex digit.
fn decode_hex(hex: &str) -> Result<Vec<u8>, ()> {
    if !hex.len().is_multiple_of(2) {
        return Err(());
    }
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |b: u8| (b as char).to_digit(16).ok_or(());
            u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).map_err(|_| ())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(concurrency: usize, queue_timeout: Duration) -> HashingLimits {
        HashingLimits { concurrency: NonZeroUsize::new(concurrency).expect("non-zero"), queue_timeout }
    }

    #[test]
    fn hmac_signatures_match_the_rfc_4231_vector_and_nothing_else() {
        let crypto = Argon2Crypto::new(HashingLimits::for_this_machine()).expect("randomness");
        let (key, data) = (b"Jefe".as_slice(), b"what do ya want for nothing?".as_slice());
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

        assert!(crypto.hmac_sha256_matches(key, data, expected));
        assert!(crypto.hmac_sha256_matches(key, data, &expected.to_uppercase()));
        assert!(!crypto.hmac_sha256_matches(b"jefe", data, expected));
        assert!(!crypto.hmac_sha256_matches(key, b"what do ya want for nothing!", expected));
        for bad in ["", "5b", &expected[1..], "zz", &format!("{expected}00")] {
            assert!(!crypto.hmac_sha256_matches(key, data, bad), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_password_verifies_against_its_own_hash_only() {
        let crypto = Argon2Crypto::new(HashingLimits::for_this_machine()).expect("randomness");
        let password = Password::parse("password", "correct horse battery").expect("valid");
        let other = Password::parse("password", "correct horse battery!").expect("valid");

        let hash = crypto.hash_password(&password).await.expect("hashes");

        assert!(hash.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", hash.0);
        assert!(crypto.verify_password(&password, Some(&hash)).await.expect("checked"));
        assert!(!crypto.verify_password(&other, Some(&hash)).await.expect("checked"));
        assert!(!crypto.verify_password(&password, None).await.expect("checked"), "no hash never verifies");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hashes_beyond_the_slots_queue_and_then_are_rate_limited() {
        let crypto = Argon2Crypto::new(limits(1, Duration::from_millis(200))).expect("randomness");
        let password = Password::parse("password", "correct horse battery").expect("valid");
        let (running, waiting) = (crypto.clone(), crypto.clone());
        let (started, in_slot) = tokio::sync::oneshot::channel::<()>();
        let (release, let_go) = std::sync::mpsc::channel::<()>();
        let slot_holder = tokio::spawn(async move {
            running
                .hashing(move || {
                    let _ = started.send(());
                    let _ = let_go.recv();
                })
                .await
        });
        in_slot.await.expect("the first hash runs");

        let refused = waiting.verify_password(&password, None).await;
        release.send(()).expect("the first hash waits");
        slot_holder.await.expect("joined").expect("ran");
        let after = waiting.verify_password(&password, None).await;

        assert!(matches!(refused, Err(DomainError::RateLimited { retry_after_secs: 1 })), "{refused:?}");
        assert!(matches!(after, Ok(false)), "the slot is free again: {after:?}");
    }

    #[test]
    fn secrets_are_random_43_characters_and_match_only_their_hash() {
        let crypto = Argon2Crypto {
            dummy: PasswordHash(String::new()),
            slots: Arc::new(Semaphore::new(1)),
            queue_timeout: Duration::from_secs(1),
        };

        let (a, b) = (crypto.new_secret().expect("random"), crypto.new_secret().expect("random"));

        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(crypto.secret_matches(&a, &crypto.hash_secret(&a)));
        assert!(!crypto.secret_matches(&b, &crypto.hash_secret(&a)));
    }
}
