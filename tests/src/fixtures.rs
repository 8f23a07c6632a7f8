//! What tests set up before the behaviour they check: a registered shop ([`Shop`]) with its
//! owner, members and API keys.

use serde_json::json;

use crate::{Client, TestApp};

/// The password every fixture member gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// A registered tenant with its signed-in owner.
#[derive(Clone, Debug)]
pub struct Shop {
    /// Its slug.
    pub slug: String,
    /// Its global id.
    pub tenant_id: String,
    /// The owner's member id.
    pub owner_id: String,
    /// The owner's refresh token from registration.
    pub refresh_token: String,
    /// The owner, signed in.
    pub owner: Client,
    /// A client with no credential.
    pub app: Client,
}

impl Shop {
    /// Creates a member with `role` (as the owner) and signs them in: (client, member id).
    pub async fn member(&self, role: &str, email: &str) -> (Client, String) {
        let created = self
            .owner
            .gql(
                "mutation($input: CreateMemberInput!) { createMember(input: $input) { member { id } userErrors { code message } } }",
                json!({ "input": { "email": email, "password": PASSWORD, "role": role } }),
            )
            .await;
        let id = created.data()["createMember"]["member"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("createMember: {}", created.text))
            .to_owned();
        let login = self.app.login(&self.slug, email, PASSWORD).await;
        let token =
            login.data()["login"]["accessToken"].as_str().unwrap_or_else(|| panic!("login: {}", login.text)).to_owned();
        (self.app.with_bearer(&token), id)
    }

    /// Creates an API key with `permissions` (as the owner): (client using it, key id).
    pub async fn api_key(&self, permissions: &[&str]) -> (Client, String) {
        let created = self
            .owner
            .gql(
                "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { apiKey { id } secret userErrors { code message } } }",
                json!({ "input": { "name": "fixture key", "permissions": permissions } }),
            )
            .await;
        let key = &created.data()["createApiKey"];
        let secret = key["secret"].as_str().unwrap_or_else(|| panic!("createApiKey: {}", created.text));
        (self.app.with_bearer(secret), key["apiKey"]["id"].as_str().unwrap_or_default().to_owned())
    }
}

impl TestApp {
    /// Registers tenant `slug` (currency USD) and signs its owner in.
    pub async fn shop(&self, slug: &str) -> Shop {
        let response = self
            .anonymous()
            .gql(
                "mutation($input: RegisterTenantInput!) { registerTenant(input: $input) {
                    accessToken refreshToken tenant { id } member { id } userErrors { field code message } } }",
                json!({ "input": {
                    "name": format!("Shop {slug}"), "slug": slug, "currencyCode": "USD",
                    "ownerEmail": format!("owner@{slug}.test"), "ownerPassword": PASSWORD,
                }}),
            )
            .await;
        let registered = &response.data()["registerTenant"];
        let token =
            registered["accessToken"].as_str().unwrap_or_else(|| panic!("registration failed: {}", response.text));
        Shop {
            slug: slug.to_owned(),
            tenant_id: registered["tenant"]["id"].as_str().unwrap_or_default().to_owned(),
            owner_id: registered["member"]["id"].as_str().unwrap_or_default().to_owned(),
            refresh_token: registered["refreshToken"].as_str().unwrap_or_default().to_owned(),
            owner: self.with_bearer(token),
            app: self.anonymous(),
        }
    }
}
