//! Passwords, tokens and API-key secrets never reach the logs, whatever the level the
//! `api`, `domain` and `persistence` crates log at.

use keel_tests::{PASSWORD, TestApp, logs};
use serde_json::json;

#[tokio::test]
async fn a_login_a_refresh_and_a_key_creation_log_no_secret() {
    let capture = logs::capture();
    let app = TestApp::spawn().await;
    let shop = app.shop("logged").await;
    let access_token = app.anonymous().sign_in("logged", "owner@logged.test", PASSWORD).await;
    let failed = app.anonymous().login("logged", "owner@logged.test", "a-wrong-password-123").await;
    let refreshed = shop
        .app
        .gql(
            "mutation($t: String!) { refreshToken(input: { refreshToken: $t }) { accessToken refreshToken } }",
            json!({ "t": shop.refresh_token }),
        )
        .await;
    let key = shop.api_key(&["PROFILE_READ"]).await;
    key.client.gql("{ me { permissions } }", json!({})).await;
    let secret = key.secret;

    let logged = capture.text();

    assert!(logged.contains("request finished"), "the capture sees the servers' logs");
    assert!(logged.contains("identity.login") || logged.contains("\"graphql.operation\""), "spans are captured");
    let secrets = [
        ("the password", PASSWORD.to_owned()),
        ("a wrong password", "a-wrong-password-123".to_owned()),
        ("an access token", access_token),
        ("a refresh token", shop.refresh_token.clone()),
        ("a rotated refresh token", refreshed.expect_str("/data/refreshToken/refreshToken")),
        ("an API key secret", secret.clone()),
        // `keel_sk_<tenant>_<key id>_<secret>`: the secret is base64url and may itself hold
        // `_`, so it is everything after the fourth underscore (splitting at the last one
        // could leave a few characters, which logs may contain by chance).
        ("the random part of an API key", secret.splitn(5, '_').nth(4).expect("an API key has five parts").to_owned()),
    ];
    for (what, value) in secrets {
        assert!(!logged.contains(&value), "{what} appears in the logs");
    }
    assert_eq!(failed.data()["login"]["userErrors"][0]["code"], "INVALID_CREDENTIALS");
}
