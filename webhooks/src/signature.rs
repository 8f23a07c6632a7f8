//! The `webhook-signature` header of the Standard Webhooks specification: for each secret, `v1,`
//! and the base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`, keyed with the base64-decoded
//! part of the secret after `whsec_`; entries are separated by spaces, so a receiver holding
//! either the current or the previous secret verifies during a rotation.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::webhooks::SigningSecret;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The value of `webhook-signature` for one message.
///
/// # Errors
/// A reason safe to show the shop when there is no secret or one is not a `whsec_` secret (the
/// message cannot be signed, and sending it unsigned would only be refused).
pub(crate) fn signature_header(
    id: &str,
    timestamp: i64,
    body: &str,
    secrets: &[SigningSecret],
) -> Result<String, String> {
    if secrets.is_empty() {
        return Err("the delivery has no signing secret".to_owned());
    }
    let signed = format!("{id}.{timestamp}.{body}");
    let entries = secrets
        .iter()
        .map(|secret| {
            let key = key(secret)?;
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| invalid_secret())?;
            mac.update(signed.as_bytes());
            Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
        })
        .collect::<Result<Vec<String>, String>>()?;
    Ok(entries.join(" "))
}

/// The key bytes of `secret`: the base64 after the prefix (the reference implementations also
/// take a secret without it).
fn key(secret: &SigningSecret) -> Result<Vec<u8>, String> {
    let text = secret.expose();
    let encoded = text.strip_prefix(SigningSecret::PREFIX).unwrap_or(text);
    match STANDARD.decode(encoded) {
        Ok(key) if !key.is_empty() => Ok(key),
        _ => Err(invalid_secret()),
    }
}

fn invalid_secret() -> String {
    "the endpoint's signing secret is not a valid whsec_ secret; rotate it".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specification_test_vector_is_reproduced() {
        let secret = SigningSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());
        let header =
            signature_header("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, r#"{"test": 2432232314}"#, &[secret])
                .expect("a valid secret");
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn each_secret_gives_one_entry() {
        let secrets = [
            SigningSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()),
            SigningSecret::new("whsec_c2Vjb25kIHNlY3JldCBieXRlcw==".to_owned()),
        ];
        let header = signature_header("msg_1", 1, "{}", &secrets).expect("valid secrets");
        let entries: Vec<&str> = header.split(' ').collect();
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().all(|entry| entry.starts_with("v1,")));
        assert_ne!(entries[0], entries[1]);
    }

    #[test]
    fn unusable_secrets_are_refused() {
        assert!(signature_header("msg_1", 1, "{}", &[]).is_err());
        for text in ["whsec_not base64!", "whsec_", ""] {
            let reason = signature_header("msg_1", 1, "{}", &[SigningSecret::new(text.to_owned())])
                .expect_err("an invalid secret");
            assert!(reason.contains("rotate it"), "{text}: {reason}");
        }
    }
}
