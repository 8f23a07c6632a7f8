//! Identity as clients meet it: registration, login, refresh, logout, members, API keys,
//! audit log, and the rules that fail closed.

use keel_tests::{PASSWORD, PRODUCTION_JWT_SECRET, TestApp, TestDatabase};
use serde_json::{Value, json};

const ME: &str = "{ me { tenant { slug } member { email role } apiKey { name } permissions } }";

#[tokio::test]
async fn registering_a_tenant_signs_its_owner_in_with_every_permission() {
    let app = TestApp::spawn().await;

    let shop = app.shop("acme").await;
    let me = shop.owner.gql(ME, json!({})).await;

    assert_eq!(me.data()["me"]["tenant"]["slug"], "acme");
    assert_eq!(me.data()["me"]["member"], json!({ "email": "owner@acme.test", "role": "OWNER" }));
    assert_eq!(me.data()["me"]["permissions"].as_array().map(Vec::len), Some(16));
}

#[tokio::test]
async fn registration_reports_every_bad_field_and_a_taken_slug() {
    let app = TestApp::spawn().await;
    app.shop("taken").await;
    let register = "mutation($input: RegisterTenantInput!) { registerTenant(input: $input) { tenant { id } userErrors { field code } } }";

    let invalid = app
        .anonymous()
        .gql(register, json!({ "input": { "name": " ", "slug": "-x", "currencyCode": "ABC", "ownerEmail": "nope", "ownerPassword": "short" } }))
        .await;
    let taken = app
        .anonymous()
        .gql(register, json!({ "input": { "name": "Again", "slug": "TAKEN", "currencyCode": "EUR", "ownerEmail": "a@b.test", "ownerPassword": PASSWORD } }))
        .await;

    let errors = invalid.user_errors("registerTenant");
    let fields: Vec<&str> = errors.iter().filter_map(|e| e["field"][0].as_str()).collect();
    assert_eq!(fields, ["name", "slug", "currencyCode", "ownerEmail", "ownerPassword"], "{}", invalid.text);
    assert_eq!(invalid.data()["registerTenant"]["tenant"], Value::Null);
    assert_eq!(taken.data()["registerTenant"]["userErrors"], json!([{ "field": ["slug"], "code": "TAKEN" }]));
}

#[tokio::test]
async fn production_closes_self_service_registration_unless_opened() {
    let database = TestDatabase::create().await;
    let production = ["--env", "production", "--jwt-secret", PRODUCTION_JWT_SECRET, "--migrate-on-start", "true"];
    let closed = TestApp::spawn_with(database, &production).await;

    let refused = closed.anonymous().gql("mutation { registerTenant(input: { name: \"A\", slug: \"acme\", currencyCode: \"EUR\", ownerEmail: \"o@a.test\", ownerPassword: \"correct horse battery\" }) { tenant { id } } }", json!({})).await;
    let database = closed.into_database().await;
    let open = TestApp::spawn_with(database, &[&production[..], &["--open-registration", "true"]].concat()).await;
    let shop = open.shop("acme").await;

    assert_eq!(refused.error_code(), Some("FORBIDDEN"), "{}", refused.text);
    assert_eq!(shop.owner.gql(ME, json!({})).await.data()["me"]["tenant"]["slug"], "acme");
}

#[tokio::test]
async fn a_wrong_password_an_unknown_email_and_an_unknown_tenant_answer_alike() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;

    let token = app.anonymous().sign_in("acme", "OWNER@acme.test", PASSWORD).await;
    let wrong_password = app.anonymous().login("acme", "owner@acme.test", "not the password").await;
    let unknown_email = app.anonymous().login("acme", "nobody@acme.test", PASSWORD).await;
    let unknown_tenant = app.anonymous().login("nowhere", "owner@acme.test", PASSWORD).await;

    assert_eq!(app.with_bearer(&token).gql(ME, json!({})).await.data()["me"]["member"]["email"], "owner@acme.test");
    let failed = wrong_password.data()["login"].clone();
    assert_eq!(failed["userErrors"][0]["code"], "INVALID_CREDENTIALS");
    assert_eq!(failed["accessToken"], Value::Null);
    assert_eq!(unknown_email.data()["login"], failed);
    assert_eq!(unknown_tenant.data()["login"], failed);
    drop(shop);
}

#[tokio::test]
async fn repeated_failures_are_rate_limited_per_account_even_with_the_right_password() {
    let app = TestApp::spawn().await;
    app.shop("acme").await;

    for _ in 0..5 {
        let failed = app.anonymous().login("acme", "owner@acme.test", "wrong password").await;
        assert_eq!(failed.user_error_codes("login"), ["INVALID_CREDENTIALS"]);
    }
    let throttled = app.anonymous().login("acme", "owner@acme.test", PASSWORD).await;

    assert_eq!(throttled.error_code(), Some("RATE_LIMITED"), "{}", throttled.text);
    let retry_after = throttled.errors()[0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap_or_else(|| panic!("no retryAfter: {}", throttled.text));
    assert!((1..=900).contains(&retry_after), "retryAfter {retry_after}");
}

#[tokio::test]
async fn one_request_checks_at_most_five_passwords_however_many_aliases_it_sends() {
    let app = TestApp::spawn().await;
    app.shop("acme").await;
    let logins: String = (0..8)
        .map(|i| format!("l{i}: login(input: {{ tenantSlug: \"acme\", email: \"owner@acme.test\", password: $p }}) {{ accessToken }} "))
        .collect();

    let answer = app.anonymous().gql(&format!("mutation($p: String!) {{ {logins} }}"), json!({ "p": PASSWORD })).await;

    let signed_in: Vec<bool> = (0..8).map(|i| answer.data()[format!("l{i}")]["accessToken"].is_string()).collect();
    assert_eq!(signed_in, [true, true, true, true, true, false, false, false], "{}", answer.text);
    let refused: Vec<_> =
        answer.errors().iter().map(|e| (e["path"][0].clone(), e["extensions"]["code"].clone())).collect();
    assert_eq!(refused, (5..8).map(|i| (json!(format!("l{i}")), json!("QUERY_TOO_COMPLEX"))).collect::<Vec<_>>());
    // The budget is per request: the next one signs in again.
    let next = app.anonymous().login("acme", "owner@acme.test", PASSWORD).await;
    assert!(next.data()["login"]["accessToken"].is_string(), "{}", next.text);
}

#[tokio::test]
async fn a_refresh_token_works_once_and_its_reuse_revokes_the_whole_session() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let refresh = "mutation($t: String!) { refreshToken(input: { refreshToken: $t }) { accessToken refreshToken } }";

    let first = shop.app.gql(refresh, json!({ "t": shop.refresh_token })).await;
    let next_refresh = first.expect_str("/data/refreshToken/refreshToken");
    let next_access = first.expect_str("/data/refreshToken/accessToken");
    assert_eq!(app.with_bearer(&next_access).gql(ME, json!({})).await.status, 200);
    let replayed = shop.app.gql(refresh, json!({ "t": shop.refresh_token })).await;
    let after_replay = shop.app.gql(refresh, json!({ "t": next_refresh })).await;
    let access_after_replay = app.with_bearer(&next_access).gql(ME, json!({})).await;

    assert_ne!(next_refresh, shop.refresh_token);
    assert_eq!(replayed.error_code(), Some("UNAUTHENTICATED"));
    assert_eq!(after_replay.error_code(), Some("UNAUTHENTICATED"), "the family is revoked");
    assert_eq!((access_after_replay.status, access_after_replay.error_code()), (401, Some("UNAUTHENTICATED")));
}

#[tokio::test]
async fn logout_ends_the_session_and_its_access_tokens_at_once() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;

    let out = shop
        .app
        .gql(
            "mutation($t: String!) { logout(input: { refreshToken: $t }) { loggedOut } }",
            json!({ "t": shop.refresh_token }),
        )
        .await;
    let me = shop.owner.gql(ME, json!({})).await;
    let refreshed = shop
        .app
        .gql(
            "mutation($t: String!) { refreshToken(input: { refreshToken: $t }) { accessToken } }",
            json!({ "t": shop.refresh_token }),
        )
        .await;

    assert_eq!(out.data()["logout"]["loggedOut"], true);
    assert_eq!(me.error_code(), Some("UNAUTHENTICATED"));
    assert_eq!(refreshed.error_code(), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn deactivated_members_lose_their_tokens_and_cannot_sign_in() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let (staff, staff_id) = shop.member("STAFF", "staff@acme.test").await;
    assert_eq!(staff.gql(ME, json!({})).await.data()["me"]["member"]["role"], "STAFF");

    let deactivated = shop
        .owner
        .gql(
            "mutation($id: ID!) { deactivateMember(input: { memberId: $id }) { member { status } } }",
            json!({ "id": staff_id }),
        )
        .await;
    let me = staff.gql(ME, json!({})).await;
    let login = app.anonymous().login("acme", "staff@acme.test", PASSWORD).await;

    assert_eq!(deactivated.data()["deactivateMember"]["member"]["status"], "DEACTIVATED");
    assert_eq!(me.error_code(), Some("UNAUTHENTICATED"));
    assert_eq!(login.user_error_codes("login"), ["ACCOUNT_DISABLED"]);
}

#[tokio::test]
async fn role_rules_fail_closed_and_the_last_owner_stays() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let (admin, _) = shop.member("ADMIN", "admin@acme.test").await;
    let (staff, staff_id) = shop.member("STAFF", "staff@acme.test").await;
    let change = "mutation($id: ID!, $role: Role!) { changeRole(input: { memberId: $id, role: $role }) { member { role } userErrors { code } } }";
    let create = "mutation($role: Role!) { createMember(input: { email: \"new@acme.test\", password: \"correct horse battery\", role: $role }) { member { id } } }";

    let staff_creates = staff.gql(create, json!({ "role": "STAFF" })).await;
    let admin_makes_owner = admin.gql(create, json!({ "role": "OWNER" })).await;
    let admin_demotes_owner = admin.gql(change, json!({ "id": shop.owner_id, "role": "ADMIN" })).await;
    let owner_demotes_self = shop.owner.gql(change, json!({ "id": shop.owner_id, "role": "ADMIN" })).await;
    let owner_deactivates_self = shop
        .owner
        .gql(
            "mutation($id: ID!) { deactivateMember(input: { memberId: $id }) { userErrors { code } } }",
            json!({ "id": shop.owner_id }),
        )
        .await;
    let admin_promotes_staff = admin.gql(change, json!({ "id": staff_id, "role": "ADMIN" })).await;

    assert_eq!(staff_creates.error_code(), Some("FORBIDDEN"));
    assert_eq!(admin_makes_owner.error_code(), Some("FORBIDDEN"));
    assert_eq!(admin_demotes_owner.error_code(), Some("FORBIDDEN"));
    assert_eq!(owner_demotes_self.user_error_codes("changeRole"), ["LAST_OWNER"]);
    assert_eq!(owner_deactivates_self.user_error_codes("deactivateMember"), ["LAST_OWNER"]);
    assert_eq!(admin_promotes_staff.data()["changeRole"]["member"]["role"], "ADMIN");
    assert_eq!(staff.gql(ME, json!({})).await.data()["me"]["member"]["role"], "ADMIN", "roles apply at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_owners_deactivating_each_other_at_once_leave_exactly_one() {
    for _ in 0..3 {
        let app = TestApp::spawn().await;
        let shop = app.shop("acme").await;
        let (second, second_id) = shop.member("OWNER", "second@acme.test").await;
        let deactivate = "mutation($id: ID!) { deactivateMember(input: { memberId: $id }) { member { status } userErrors { code } } }";

        let (a, b) = tokio::join!(
            shop.owner.gql(deactivate, json!({ "id": second_id })),
            second.gql(deactivate, json!({ "id": shop.owner_id })),
        );

        let succeeded =
            [&a, &b].iter().filter(|r| r.data()["deactivateMember"]["member"]["status"] == "DEACTIVATED").count();
        let members = app.anonymous().login("acme", "owner@acme.test", PASSWORD).await;
        let other = app.anonymous().login("acme", "second@acme.test", PASSWORD).await;
        let can_sign_in = [&members, &other].iter().filter(|r| r.data()["login"]["accessToken"].is_string()).count();
        assert_eq!(succeeded, 1, "{} / {}", a.text, b.text);
        assert_eq!(can_sign_in, 1, "exactly one owner remains active");
    }
}

#[tokio::test]
async fn an_api_key_has_exactly_its_permissions_until_revoked() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let keel_tests::ApiKey { client: key, id: key_id, .. } = shop.api_key(&["MEMBERS_READ", "PROFILE_READ"]).await;

    let me = key.gql(ME, json!({})).await;
    let members = key.gql("{ members { edges { node { email } } } }", json!({})).await;
    let create = key.gql("mutation { createMember(input: { email: \"x@acme.test\", password: \"correct horse battery\", role: STAFF }) { member { id } } }", json!({})).await;
    let listed = shop
        .owner
        .gql("{ apiKeys { edges { node { id name hint active lastUsedAt permissions } } } }", json!({}))
        .await;
    let revoked = shop
        .owner
        .gql(
            "mutation($id: ID!) { revokeApiKey(input: { apiKeyId: $id }) { apiKey { active revokedAt } } }",
            json!({ "id": key_id }),
        )
        .await;
    let after = key.gql(ME, json!({})).await;

    assert_eq!(me.data()["me"]["apiKey"]["name"], "fixture key");
    assert_eq!(me.data()["me"]["member"], Value::Null);
    assert_eq!(members.data()["members"]["edges"][0]["node"]["email"], "owner@acme.test");
    assert_eq!(create.error_code(), Some("FORBIDDEN"));
    let listed_key = &listed.data()["apiKeys"]["edges"][0]["node"];
    assert_eq!(listed_key["permissions"], json!(["PROFILE_READ", "MEMBERS_READ"]));
    assert!(listed_key["lastUsedAt"].is_string(), "use is recorded: {listed_key}");
    assert!(!listed.text.contains("keel_sk_"), "the secret is never listed");
    assert_eq!(revoked.data()["revokeApiKey"]["apiKey"]["active"], false);
    assert_eq!((after.status, after.error_code()), (401, Some("UNAUTHENTICATED")));
}

#[tokio::test]
async fn a_tampered_api_key_is_unauthenticated_not_anonymous() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    shop.api_key(&["PROFILE_READ"]).await;
    let secret = shop.api_key(&["PROFILE_READ"]).await.secret;
    let tampered = format!("{}{}", &secret[..secret.len() - 1], if secret.ends_with('A') { 'B' } else { 'A' });

    let response = app.with_bearer(&tampered).gql("{ apiVersion }", json!({})).await;

    assert_eq!((response.status, response.error_code()), (401, Some("UNAUTHENTICATED")));
}

#[tokio::test]
async fn an_api_key_cannot_carry_more_than_its_creator_holds() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let admin_key = shop.api_key(&["API_KEYS_MANAGE", "PROFILE_READ"]).await.client;

    let escalated = admin_key.gql("mutation { createApiKey(input: { name: \"k\", permissions: [PAYMENTS_REFUND] }) { secret userErrors { field code } } }", json!({})).await;
    let empty = shop
        .owner
        .gql(
            "mutation { createApiKey(input: { name: \"k\", permissions: [] }) { secret userErrors { field code } } }",
            json!({}),
        )
        .await;

    assert_eq!(
        escalated.data()["createApiKey"]["userErrors"],
        json!([{ "field": ["permissions"], "code": "PERMISSION_NOT_HELD" }])
    );
    assert_eq!(escalated.data()["createApiKey"]["secret"], Value::Null);
    assert_eq!(empty.data()["createApiKey"]["userErrors"][0]["field"], json!(["permissions"]));
}

#[tokio::test]
async fn the_audit_log_records_sign_ins_and_changes_with_actor_and_address() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    app.anonymous().login("acme", "owner@acme.test", "wrong password").await;
    app.anonymous().login("acme", "owner@acme.test", PASSWORD).await;
    let (staff, staff_id) = shop.member("STAFF", "staff@acme.test").await;
    shop.owner
        .gql(
            "mutation($id: ID!) { changeRole(input: { memberId: $id, role: ADMIN }) { member { id } } }",
            json!({ "id": staff_id }),
        )
        .await;
    let key_id = shop.api_key(&["PROFILE_READ"]).await.id;
    shop.owner
        .gql("mutation($id: ID!) { revokeApiKey(input: { apiKeyId: $id }) { apiKey { id } } }", json!({ "id": key_id }))
        .await;

    let log = shop
        .owner
        .gql(
            "{ auditLog(first: 100) { edges { node { action actorKind memberId subject clientAddress createdAt } } } }",
            json!({}),
        )
        .await;
    let forbidden = app
        .shop("other")
        .await
        .member("STAFF", "s@other.test")
        .await
        .0
        .gql("{ auditLog { edges { node { action } } } }", json!({}))
        .await;

    let entries = log.nodes("auditLog");
    let actions = log.node_strings("auditLog", "action");
    assert_eq!(
        actions,
        [
            "API_KEY_REVOKED",
            "API_KEY_CREATED",
            "ROLE_CHANGED",
            "LOGIN_SUCCEEDED",
            "MEMBER_CREATED",
            "LOGIN_SUCCEEDED",
            "LOGIN_FAILED",
            "TENANT_REGISTERED"
        ],
        "newest first: {}",
        log.text
    );
    assert!(entries.iter().all(|e| e["clientAddress"] == "127.0.0.1" && e["createdAt"].is_string()));
    assert_eq!(entries[2]["subject"], "staff@acme.test: STAFF → ADMIN");
    assert_eq!(
        (entries[2]["actorKind"].as_str(), entries[2]["memberId"].as_str()),
        (Some("MEMBER"), Some(shop.owner_id.as_str()))
    );
    assert_eq!(entries[6]["actorKind"], "MEMBER", "a failed login of a known member names them");
    assert_eq!(forbidden.error_code(), Some("FORBIDDEN"));
    drop(staff);
}

#[tokio::test]
async fn pages_of_members_follow_relay_rules_in_both_directions() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    for n in 0..4 {
        shop.member("STAFF", &format!("m{n}@acme.test")).await;
    }
    let page = "query($first: Int, $after: String, $last: Int, $before: String) { members(first: $first, after: $after, last: $last, before: $before) {
        edges { cursor node { email } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

    let first = shop.owner.gql(page, json!({ "first": 2 })).await;
    let end = first.expect_str("/data/members/pageInfo/endCursor");
    let second = shop.owner.gql(page, json!({ "first": 2, "after": end })).await;
    let last = shop.owner.gql(page, json!({ "last": 2 })).await;
    let too_many = shop.owner.gql(page, json!({ "first": 101 })).await;
    let bad_cursor = shop.owner.gql(page, json!({ "first": 1, "after": "not-a-cursor" })).await;

    let emails = |r: &keel_tests::GqlResponse| r.node_strings("members", "email");
    assert_eq!(emails(&first), ["owner@acme.test", "m0@acme.test"]);
    assert_eq!(first.data()["members"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(first.data()["members"]["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(emails(&second), ["m1@acme.test", "m2@acme.test"]);
    assert_eq!(second.data()["members"]["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(emails(&last), ["m2@acme.test", "m3@acme.test"]);
    assert_eq!(last.data()["members"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(last.data()["members"]["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(too_many.error_code(), Some("BAD_USER_INPUT"));
    assert_eq!(bad_cursor.error_code(), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn anonymous_callers_are_unauthenticated_for_everything_tenant_owned() {
    let app = TestApp::spawn().await;

    for query in [
        ME,
        "{ members { edges { cursor } } }",
        "{ apiKeys { edges { cursor } } }",
        "{ auditLog { edges { cursor } } }",
    ] {
        let response = app.anonymous().gql(query, json!({})).await;
        assert_eq!(response.error_code(), Some("UNAUTHENTICATED"), "{query}");
    }
}

#[tokio::test]
async fn operators_create_tenants_from_the_command_line_even_when_registration_is_closed() {
    let database = TestDatabase::create().await;
    database.keel(&["--env", "production", "migrate", "up"]).await;

    database
        .keel(&[
            "--env",
            "production",
            "tenant",
            "create",
            "--slug",
            "acme",
            "--name",
            "Acme",
            "--currency",
            "EUR",
            "--owner-email",
            "o@acme.test",
        ])
        .await;

    let app = TestApp::spawn_with(database, &["--env", "production", "--jwt-secret", PRODUCTION_JWT_SECRET]).await;
    let login = app.anonymous().login("acme", "o@acme.test", PASSWORD).await;
    assert!(login.data()["login"]["accessToken"].is_string(), "{}", login.text);
}

#[tokio::test]
async fn suspending_a_tenant_stops_its_tokens_keys_and_sign_ins_until_reactivated() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let other = app.shop("globex").await;
    let key = shop.api_key(&["PROFILE_READ"]).await.client;

    app.database().keel(&["tenant", "suspend", "--slug", "acme"]).await;
    let token = shop.owner.gql(ME, json!({})).await;
    let api_key = key.gql(ME, json!({})).await;
    let login = app.anonymous().login("acme", "owner@acme.test", PASSWORD).await;
    let unaffected = other.owner.gql(ME, json!({})).await;
    app.database().keel(&["tenant", "activate", "--slug", "acme"]).await;
    let restored = shop.owner.gql(ME, json!({})).await;

    assert_eq!((token.status, token.error_code()), (401, Some("UNAUTHENTICATED")));
    assert_eq!((api_key.status, api_key.error_code()), (401, Some("UNAUTHENTICATED")));
    assert_eq!(login.user_error_codes("login"), ["ACCOUNT_DISABLED"]);
    assert_eq!(unaffected.data()["me"]["tenant"]["slug"], "globex");
    assert_eq!(restored.data()["me"]["tenant"]["slug"], "acme");
}
