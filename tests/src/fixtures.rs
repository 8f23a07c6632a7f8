//! What tests set up before the behaviour they check: a registered shop ([`Shop`]) with its
//! owner, members and API keys ([`ApiKey`]), and its products, locations, stock and orders
//! (methods of [`Client`], made as that client).
//!
//! Every fixture goes through the public GraphQL API and must succeed: on an error or a
//! non-empty `userErrors` it panics with the response body, so a broken fixture fails where it
//! broke instead of handing the test an empty id.

use serde_json::{Value, json};

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

/// An API key made by [`Shop::api_key`].
#[derive(Clone, Debug)]
pub struct ApiKey {
    /// A client sending the key.
    pub client: Client,
    /// Its global id.
    pub id: String,
    /// The secret, `keel_sk_<tenant>_<key>_<random>`, as shown once at creation.
    pub secret: String,
}

impl TestApp {
    /// Registers tenant `slug` (currency USD, owner `owner@<slug>.test` with [`PASSWORD`]) and
    /// signs its owner in.
    pub async fn shop(&self, slug: &str) -> Shop {
        self.anonymous().register_shop(slug).await
    }
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
        let id = created.assert_accepted("createMember").expect_str("/data/createMember/member/id");
        let token = self.app.sign_in(&self.slug, email, PASSWORD).await;
        (self.app.with_bearer(&token), id)
    }

    /// Creates an API key named "fixture key" with `permissions` (as the owner).
    pub async fn api_key(&self, permissions: &[&str]) -> ApiKey {
        let created = self
            .owner
            .gql(
                "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { apiKey { id } secret userErrors { code message } } }",
                json!({ "input": { "name": "fixture key", "permissions": permissions } }),
            )
            .await;
        let secret = created.assert_accepted("createApiKey").expect_str("/data/createApiKey/secret");
        ApiKey { client: self.app.with_bearer(&secret), id: created.expect_str("/data/createApiKey/apiKey/id"), secret }
    }
}

impl Client {
    /// Registers tenant `slug` as [`TestApp::shop`] does, through this client's server, with
    /// the owner signed in.
    pub async fn register_shop(&self, slug: &str) -> Shop {
        let registered = self
            .gql(
                "mutation($input: RegisterTenantInput!) { registerTenant(input: $input) {
                    accessToken refreshToken tenant { id } member { id } userErrors { field code message } } }",
                json!({ "input": {
                    "name": format!("Shop {slug}"), "slug": slug, "currencyCode": "USD",
                    "ownerEmail": format!("owner@{slug}.test"), "ownerPassword": PASSWORD,
                }}),
            )
            .await;
        registered.assert_accepted("registerTenant");
        Shop {
            slug: slug.to_owned(),
            tenant_id: registered.expect_str("/data/registerTenant/tenant/id"),
            owner_id: registered.expect_str("/data/registerTenant/member/id"),
            refresh_token: registered.expect_str("/data/registerTenant/refreshToken"),
            owner: self.with_bearer(&registered.expect_str("/data/registerTenant/accessToken")),
            app: self.without_credential(),
        }
    }

    /// Signs in to `slug` and returns the access token.
    ///
    /// # Panics
    /// When the login is refused, showing the answer.
    pub async fn sign_in(&self, slug: &str, email: &str, password: &str) -> String {
        let login = self.login(slug, email, password).await;
        login.assert_accepted("login").expect_str("/data/login/accessToken")
    }

    /// Creates a product priced at `amount` USD (the currency of every [`Shop`]); returns its id.
    pub async fn create_product(&self, sku: &str, name: &str, amount: &str) -> String {
        let created = self
            .gql(
                "mutation($input: CreateProductInput!) { createProduct(input: $input) { product { id } userErrors { field code message } } }",
                json!({ "input": { "sku": sku, "name": name, "price": { "amount": amount, "currencyCode": "USD" } } }),
            )
            .await;
        created.assert_accepted("createProduct").expect_str("/data/createProduct/product/id")
    }

    /// Creates a stock location; returns its id.
    pub async fn create_location(&self, code: &str, name: &str) -> String {
        let created = self
            .gql(
                "mutation($input: CreateLocationInput!) { createLocation(input: $input) { location { id } userErrors { field code message } } }",
                json!({ "input": { "code": code, "name": name } }),
            )
            .await;
        created.assert_accepted("createLocation").expect_str("/data/createLocation/location/id")
    }

    /// Receives `quantity` units of `product` at `location`.
    pub async fn receive_stock(&self, product: &str, location: &str, quantity: i64) {
        let received = self
            .gql(
                "mutation($input: ReceiveStockInput!) { receiveStock(input: $input) { userErrors { field code message } } }",
                json!({ "input": { "productId": product, "locationId": location, "quantity": quantity } }),
            )
            .await;
        received.assert_accepted("receiveStock");
    }

    /// The stock level of `product` at `location`: `{ onHand, reserved, available }`.
    ///
    /// # Panics
    /// When it cannot be read, showing the answer.
    pub async fn stock_level(&self, product: &str, location: &str) -> Value {
        let level = self
            .gql(
                "query($p: ID!, $l: ID!) { stockLevel(productId: $p, locationId: $l) { onHand reserved available } }",
                json!({ "p": product, "l": location }),
            )
            .await;
        let found = level.data()["stockLevel"].clone();
        assert!(found.is_object(), "no stock level: {}", level.text);
        found
    }

    /// Places an order of `lines` (`[{ "sku": "TEE", "quantity": 1 }]`) for
    /// `buyer@example.test`; returns its id.
    pub async fn place_order(&self, lines: Value) -> String {
        let placed = self
            .gql(
                "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id } userErrors { field code message } } }",
                json!({ "input": { "lines": lines, "customerEmail": "buyer@example.test" } }),
            )
            .await;
        placed.assert_accepted("placeOrder").expect_str("/data/placeOrder/order/id")
    }
}
