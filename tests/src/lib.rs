//! The end-to-end harness: boots the real Keel server on an ephemeral port against a fresh
//! database and talks to it over HTTP, as a client would.
//!
//! The backend is SQLite (a temporary file) unless `KEEL_TEST_POSTGRES_URL` points at a
//! PostgreSQL server the harness may administer; then each [`TestApp`] gets a throwaway database
//! owned by a throwaway non-superuser role (superusers bypass row-level security), both dropped
//! when the app is dropped. Nothing here reaches into `domain` or `persistence`.
//!
//! # Layout
//!
//! - [`TestApp`]: one running server and its database.
//! - [`TestDatabase`]: the throwaway database behind it.
//! - [`GqlResponse`]: a parsed HTTP answer with GraphQL helpers.
//! - [`Client`], [`Shop`]: role fixtures (a tenant's owner, members, API keys).
//! - [`logs`]: capturing what servers log.

use std::net::SocketAddr;

use api::app::Server;
use api::config::Cli;
use clap::Parser;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The environment variable that switches the suite to PostgreSQL.
pub const POSTGRES_URL_VAR: &str = "KEEL_TEST_POSTGRES_URL";

/// The task serving HTTP; it ends with the server's exit result.
pub type ServerTask = JoinHandle<Result<(), String>>;

/// One running Keel server and its database.
pub struct TestApp {
    /// The address the server listens on.
    pub address: SocketAddr,
    /// The HTTP client tests use; no cookies, no redirects.
    pub client: reqwest::Client,
    database: TestDatabase,
    server: Option<(oneshot::Sender<()>, ServerTask)>,
}

impl TestApp {
    /// Boots a server on a fresh database of the configured backend.
    pub async fn spawn() -> TestApp {
        let database = TestDatabase::create().await;
        TestApp::spawn_with(database, &[]).await
    }

    /// Boots a server on `database` with extra command-line arguments (`--env production`, …).
    pub async fn spawn_with(database: TestDatabase, extra_args: &[&str]) -> TestApp {
        let server =
            TestApp::build(&database, extra_args).await.unwrap_or_else(|err| panic!("server failed to start: {err:#}"));
        let address = server.local_addr().expect("bound address");
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            server.run(async move { drop(stopped.await) }).await.map_err(|err| format!("{err:#}"))
        });
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        TestApp { address, client, database, server: Some((stop, handle)) }
    }

    /// Boots a second server on this server's database (as a second process of one deployment
    /// would run), with extra command-line arguments. The first server keeps the database.
    pub async fn spawn_beside(&self, extra_args: &[&str]) -> TestApp {
        TestApp::spawn_with(TestDatabase::Shared(self.database.url()), extra_args).await
    }

    /// Builds (but does not run) a server on `database`; startup errors come back as values.
    ///
    /// # Errors
    /// The one-line startup error the `keel` binary would print.
    pub async fn build(database: &TestDatabase, extra_args: &[&str]) -> anyhow::Result<Server> {
        let url = database.url();
        let mut args = vec!["keel", "--listen", "127.0.0.1:0", "--database-url", url.as_str()];
        args.extend_from_slice(extra_args);
        let cli = Cli::try_parse_from(&args)?;
        Server::build(&cli.global, &cli.serve).await
    }

    /// The database this server runs on.
    pub fn database(&self) -> &TestDatabase {
        &self.database
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// POSTs `{query, variables}` to `/graphql` as a typical client does (JSON in, JSON out).
    pub async fn gql(&self, query: &str, variables: Value) -> GqlResponse {
        let request = self.client.post(self.url("/graphql")).json(&json!({ "query": query, "variables": variables }));
        GqlResponse::read(request.send().await.expect("request sent")).await
    }

    /// A client with no credential.
    pub fn anonymous(&self) -> Client {
        Client { http: self.client.clone(), endpoint: self.url("/graphql"), bearer: None }
    }

    /// A client sending `Authorization: Bearer <credential>`.
    pub fn with_bearer(&self, credential: &str) -> Client {
        Client { http: self.client.clone(), endpoint: self.url("/graphql"), bearer: Some(credential.to_owned()) }
    }

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

    /// Sends any request and reads the answer.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> GqlResponse {
        GqlResponse::read(request.send().await.expect("request sent")).await
    }

    /// Stops the server the way SIGTERM does and waits until it has exited.
    pub async fn stop(mut self) -> Result<(), String> {
        self.stop_server().await
    }

    /// Asks the server to shut down gracefully, without waiting.
    pub fn begin_shutdown(&mut self) -> Option<ServerTask> {
        let (stop, handle) = self.server.take()?;
        let _ = stop.send(());
        Some(handle)
    }

    async fn stop_server(&mut self) -> Result<(), String> {
        match self.begin_shutdown() {
            Some(handle) => handle.await.map_err(|err| err.to_string())?,
            None => Ok(()),
        }
    }

    /// Stops the server and hands back its database, to start another server on it.
    pub async fn into_database(mut self) -> TestDatabase {
        self.stop_server().await.expect("server stopped cleanly");
        std::mem::replace(&mut self.database, TestDatabase::Detached)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((stop, _)) = self.server.take() {
            let _ = stop.send(());
        }
    }
}

/// The password every fixture member gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// A GraphQL client with an optional bearer credential.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    bearer: Option<String>,
}

impl Client {
    /// POSTs `{query, variables}` to `/graphql`.
    pub async fn gql(&self, query: &str, variables: Value) -> GqlResponse {
        let mut request = self.http.post(&self.endpoint).json(&json!({ "query": query, "variables": variables }));
        if let Some(bearer) = &self.bearer {
            request = request.bearer_auth(bearer);
        }
        GqlResponse::read(request.send().await.expect("request sent")).await
    }

    /// The same client with another credential.
    pub fn with_bearer(&self, credential: &str) -> Client {
        Client { bearer: Some(credential.to_owned()), ..self.clone() }
    }

    /// Signs in to `slug` and returns the login payload.
    pub async fn login(&self, slug: &str, email: &str, password: &str) -> GqlResponse {
        self.gql(
            "mutation($input: LoginInput!) { login(input: $input) {
                accessToken refreshToken expiresAt member { id role } userErrors { field code message } } }",
            json!({ "input": { "tenantSlug": slug, "email": email, "password": password } }),
        )
        .await
    }
}

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

/// A parsed HTTP answer.
#[derive(Debug)]
pub struct GqlResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub body: Value,
    /// The body as text.
    pub text: String,
}

impl GqlResponse {
    async fn read(response: reqwest::Response) -> GqlResponse {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body read");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        GqlResponse { status, headers, body, text }
    }

    /// The `Content-Type` header, or "".
    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// `data`, or `Value::Null`.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// The `errors` array (empty when there is none).
    pub fn errors(&self) -> Vec<Value> {
        self.body["errors"].as_array().cloned().unwrap_or_default()
    }

    /// The `extensions.code` of the first error.
    pub fn error_code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }
}

/// A database a test server runs on; dropped with the test.
pub enum TestDatabase {
    /// A SQLite file in a temporary directory.
    Sqlite(tempfile::TempDir),
    /// A PostgreSQL database and its owner role, dropped on drop.
    Postgres(postgres::Throwaway),
    /// Handed on to another [`TestApp`]; owns nothing.
    Detached,
    /// Another [`TestApp`]'s database, by URL; owned (and dropped) by that app.
    Shared(String),
}

impl TestDatabase {
    /// A fresh database of the configured backend.
    pub async fn create() -> TestDatabase {
        match std::env::var(POSTGRES_URL_VAR) {
            Ok(admin_url) if !admin_url.is_empty() => {
                TestDatabase::Postgres(postgres::Throwaway::create(&admin_url).await)
            }
            _ => TestDatabase::Sqlite(tempfile::tempdir().expect("temporary directory")),
        }
    }

    /// The URL the server connects with.
    pub fn url(&self) -> String {
        match self {
            TestDatabase::Sqlite(dir) => format!("sqlite://{}/keel.db", dir.path().display()),
            TestDatabase::Postgres(db) => db.url(),
            TestDatabase::Detached => String::from("sqlite://detached.db"),
            TestDatabase::Shared(url) => url.clone(),
        }
    }

    /// Whether this is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        match self {
            TestDatabase::Postgres(_) => true,
            TestDatabase::Shared(url) => url.starts_with("postgres"),
            TestDatabase::Sqlite(_) | TestDatabase::Detached => false,
        }
    }
}

pub mod logs;
pub mod postgres;
