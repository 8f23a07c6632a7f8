//! One running Keel server ([`TestApp`]) and the GraphQL clients that talk to it ([`Client`]).
//!
//! A server runs in this process, on an ephemeral port of 127.0.0.1, exactly as `keel serve`
//! builds it from its command line; tests reach it over HTTP only.

use std::net::SocketAddr;

use api::app::Server;
use api::config::Cli;
use clap::Parser;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{GqlResponse, TestDatabase};

/// A JWT secret that production accepts: chosen by the operator, at least 32 bytes.
pub const PRODUCTION_JWT_SECRET: &str = "an-operator-chosen-secret-of-at-least-32-bytes";

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
    ///
    /// # Panics
    /// When the server refuses to start, with its startup error.
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
        self.send(request).await
    }

    /// A client with no credential.
    pub fn anonymous(&self) -> Client {
        Client { http: self.client.clone(), endpoint: self.url("/graphql"), bearer: None }
    }

    /// A client sending `Authorization: Bearer <credential>`.
    pub fn with_bearer(&self, credential: &str) -> Client {
        Client { http: self.client.clone(), endpoint: self.url("/graphql"), bearer: Some(credential.to_owned()) }
    }

    /// Sends any request and reads the answer.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> GqlResponse {
        GqlResponse::read(request.send().await.expect("request sent")).await
    }

    /// Asks the server to shut down gracefully, the way SIGTERM does, without waiting.
    pub fn begin_shutdown(&mut self) -> Option<ServerTask> {
        let (stop, handle) = self.server.take()?;
        let _ = stop.send(());
        Some(handle)
    }

    /// Stops the server and hands back its database, to start another server on it.
    ///
    /// # Panics
    /// When the server did not exit cleanly.
    pub async fn into_database(mut self) -> TestDatabase {
        if let Some(handle) = self.begin_shutdown() {
            let exit = handle.await.map_err(|err| err.to_string()).and_then(|exit| exit);
            exit.unwrap_or_else(|err| panic!("the server did not stop cleanly: {err}"));
        }
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

/// A GraphQL client of one server, with an optional bearer credential.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    bearer: Option<String>,
}

impl Client {
    /// A client of the server at `address` (one this process did not start: a
    /// [`crate::ChildServer`]) with no credential; no cookies, no redirects.
    pub fn of(address: SocketAddr) -> Client {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Client { http, endpoint: format!("http://{address}/graphql"), bearer: None }
    }

    /// POSTs `{query, variables}` to `/graphql`.
    pub async fn gql(&self, query: &str, variables: Value) -> GqlResponse {
        let mut request = self.http.post(&self.endpoint).json(&json!({ "query": query, "variables": variables }));
        if let Some(bearer) = &self.bearer {
            request = request.bearer_auth(bearer);
        }
        GqlResponse::read(request.send().await.expect("request sent")).await
    }

    /// The same client with no credential.
    pub fn without_credential(&self) -> Client {
        Client { bearer: None, ..self.clone() }
    }

    /// The same client with another credential.
    pub fn with_bearer(&self, credential: &str) -> Client {
        Client { bearer: Some(credential.to_owned()), ..self.clone() }
    }

    /// Signs in to `slug` and returns the login payload, whether or not it succeeded (see
    /// [`Client::sign_in`] for a login that must).
    pub async fn login(&self, slug: &str, email: &str, password: &str) -> GqlResponse {
        self.gql(
            "mutation($input: LoginInput!) { login(input: $input) {
                accessToken refreshToken expiresAt member { id role } userErrors { field code message } } }",
            json!({ "input": { "tenantSlug": slug, "email": email, "password": password } }),
        )
        .await
    }
}
