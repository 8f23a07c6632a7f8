//! Access tokens: one pinned algorithm, checked key, issuer, audience and expiry; `kid`-based
//! rotation. Each forged token differs from a valid one in exactly one respect, and the valid
//! re-signed control proves the forging itself is right.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use keel_tests::{PASSWORD, TestApp};
use serde_json::{Value, json};

const ME: &str = "{ me { member { email } } }";
const SECRET_ONE: &str = "first-secret-with-at-least-32-bytes-of-entropy";
const SECRET_TWO: &str = "second-secret-with-at-least-32-bytes-of-entropy";

/// The header and claims of a JWT.
fn parts(token: &str) -> (Value, Value) {
    let mut segments = token.split('.');
    let mut next = || -> Value {
        let segment = segments.next().unwrap_or_else(|| panic!("{token} is not a JWT"));
        let json = URL_SAFE_NO_PAD.decode(segment).unwrap_or_else(|err| panic!("{token}: {err}"));
        serde_json::from_slice(&json).unwrap_or_else(|err| panic!("{token}: {err}"))
    };
    (next(), next())
}

fn sign(alg: Algorithm, kid: &str, claims: &Value, secret: &str) -> String {
    let header = Header { kid: Some(kid.to_owned()), ..Header::new(alg) };
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret.as_bytes())).expect("signs")
}

async fn status_and_code(app: &TestApp, token: &str) -> (u16, Option<String>) {
    let response = app.with_bearer(token).gql(ME, json!({})).await;
    (response.status, response.error_code().map(str::to_owned))
}

#[tokio::test]
async fn forged_expired_and_misdirected_tokens_are_unauthenticated() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let token = app.anonymous().sign_in("acme", "owner@acme.test", PASSWORD).await;
    let (header, claims) = parts(&token);
    let kid = header["kid"].as_str().unwrap_or_else(|| panic!("no kid in {header}")).to_owned();
    let secret = api::config::DEVELOPMENT_JWT_SECRET;
    let now = claims["iat"].as_i64().unwrap_or_else(|| panic!("no iat in {claims}"));
    let with = |key: &str, value: Value| {
        let mut changed = claims.clone();
        changed[key] = value;
        changed
    };
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT", "kid": kid }).to_string()),
        token.split('.').nth(1).unwrap_or_else(|| panic!("{token} has no claims"))
    );

    let control = sign(Algorithm::HS256, &kid, &claims, secret);
    let forged = [
        ("alg none", unsigned),
        ("another algorithm", sign(Algorithm::HS512, &kid, &claims, secret)),
        ("a wrong key", sign(Algorithm::HS256, &kid, &claims, "some-other-secret-of-sufficient-length")),
        ("an unknown kid", sign(Algorithm::HS256, "unknown-kid", &claims, secret)),
        ("another audience", sign(Algorithm::HS256, &kid, &with("aud", json!("another-api")), secret)),
        ("another issuer", sign(Algorithm::HS256, &kid, &with("iss", json!("not-keel")), secret)),
        ("an expiry in the past", sign(Algorithm::HS256, &kid, &with("exp", json!(now - 60)), secret)),
        (
            "no expiry",
            sign(
                Algorithm::HS256,
                &kid,
                &{
                    let mut c = claims.clone();
                    c.as_object_mut().map(|o| o.remove("exp"));
                    c
                },
                secret,
            ),
        ),
        ("another member id", sign(Algorithm::HS256, &kid, &with("sub", json!(uuid::Uuid::now_v7())), secret)),
        ("a truncated signature", token[..token.len() - 3].to_owned()),
        ("garbage", "not.a.jwt".to_owned()),
    ];

    assert_eq!(status_and_code(&app, &control).await, (200, None), "the re-signed control is accepted");
    for (case, token) in forged {
        assert_eq!(
            status_and_code(&app, &token).await,
            (401, Some("UNAUTHENTICATED".to_owned())),
            "a token with {case}"
        );
    }
    assert_eq!(header["alg"], "HS256");
    for claim in ["iss", "aud", "sub", "tid", "sid", "role", "iat", "exp"] {
        assert!(claims.get(claim).is_some(), "claim {claim} in {claims}");
    }
    drop(shop);
}

#[tokio::test]
async fn a_rotated_secret_keeps_old_tokens_valid_until_it_is_removed() {
    let first = TestApp::spawn_with(keel_tests::TestDatabase::create().await, &["--jwt-secret", SECRET_ONE]).await;
    let shop = first.shop("acme").await;
    let old_token = shop.owner.gql(ME, json!({})).await;
    assert_eq!(old_token.status, 200);
    let old = first.anonymous().sign_in("acme", "owner@acme.test", PASSWORD).await;
    let database = first.into_database().await;

    let rotated =
        TestApp::spawn_with(database, &["--jwt-secret", SECRET_TWO, "--jwt-previous-secrets", SECRET_ONE]).await;
    let still_valid = status_and_code(&rotated, &old).await;
    let new = rotated.anonymous().sign_in("acme", "owner@acme.test", PASSWORD).await;
    let database = rotated.into_database().await;
    let removed = TestApp::spawn_with(database, &["--jwt-secret", SECRET_TWO]).await;

    assert_eq!(still_valid, (200, None), "previous secrets verify");
    assert_ne!(parts(&old).0["kid"], parts(&new).0["kid"], "new tokens name the new key");
    assert_eq!(status_and_code(&removed, &new).await, (200, None));
    assert_eq!(
        status_and_code(&removed, &old).await,
        (401, Some("UNAUTHENTICATED".to_owned())),
        "a removed secret verifies nothing"
    );
}

#[tokio::test]
async fn an_authorization_header_that_is_not_a_bearer_credential_is_refused() {
    let app = TestApp::spawn().await;

    for value in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "Token abc"] {
        let response = app
            .send(
                app.client
                    .post(app.url("/graphql"))
                    .header("authorization", value)
                    .json(&json!({ "query": "{ apiVersion }" })),
            )
            .await;
        assert_eq!((response.status, response.error_code()), (401, Some("UNAUTHENTICATED")), "{value}");
    }
}
