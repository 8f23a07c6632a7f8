//! What resolvers reach: the shared services (schema data) and the caller of this request
//! (request data). Built per request by the HTTP handler, so nothing tenant-specific is
//! shared between requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_graphql::Context;
use domain::auth::Caller;
use domain::orders::PaymentTimeout;

use crate::app::AppPorts;
use crate::auth::tokens::AccessTokens;
use crate::error::{ApiError, ErrorCode};

/// Services shared by every request; stored on the schema.
pub struct Services {
    /// Storage, crypto, clock, throttle.
    pub ports: AppPorts,
    /// Access-token signing and verification.
    pub tokens: Arc<AccessTokens>,
    /// Whether `registerTenant` is open to anyone.
    pub open_registration: bool,
    /// How long an order may wait for payment before the expiry job cancels it.
    pub order_payment_timeout: PaymentTimeout,
}

/// The services and the caller, for one resolver.
pub struct RequestContext<'a> {
    /// Shared services.
    pub services: &'a Services,
    /// Who is asking, from where.
    pub caller: &'a Caller,
    /// What this request may still spend.
    pub budget: &'a RequestBudget,
}

/// Password hashes (argon2id, about 30 ms of a core each) one request may cause.
pub const PASSWORD_CHECKS_PER_REQUEST: u32 = 5;

/// Work one request may cause beyond what its complexity measures, counted as it runs. One
/// per request: a document of many aliased `login`s would otherwise buy seconds of CPU for one
/// small body.
#[derive(Default)]
pub struct RequestBudget {
    password_checks: AtomicU32,
}

impl RequestBudget {
    /// Takes one password check (`login`, `registerTenant`, `createMember`) from the budget.
    ///
    /// # Errors
    /// `QUERY_TOO_COMPLEX` once the request has used all [`PASSWORD_CHECKS_PER_REQUEST`].
    pub fn spend_password_check(&self) -> Result<(), ApiError> {
        let spent = self.password_checks.fetch_add(1, Ordering::Relaxed);
        if spent < PASSWORD_CHECKS_PER_REQUEST {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorCode::QueryTooComplex,
            format!(
                "one request may check at most {PASSWORD_CHECKS_PER_REQUEST} passwords (login, registerTenant, \
                 createMember); send the others in further requests"
            ),
        ))
    }
}

impl<'a> RequestContext<'a> {
    /// Reads both from the resolver's context.
    ///
    /// # Errors
    /// `INTERNAL` if the server was wired without them (a bug, never a client's doing).
    pub fn of(ctx: &'a Context<'_>) -> Result<RequestContext<'a>, ApiError> {
        let services = ctx.data_opt::<Arc<Services>>().ok_or_else(|| missing("services"))?;
        let caller = ctx.data_opt::<Caller>().ok_or_else(|| missing("caller"))?;
        let budget = ctx.data_opt::<RequestBudget>().ok_or_else(|| missing("budget"))?;
        Ok(RequestContext { services, caller, budget })
    }
}

/// Runs a mutation's resolver and answers its payload as nullable. Every mutation field is
/// nullable (as Shopify's and GitHub's are): a top-level error (`FORBIDDEN`, `NOT_FOUND`, …)
/// nulls that field only, never the results of mutations that ran before it in the same
/// document and are already committed.
pub async fn nullable<P>(resolver: impl Future<Output = Result<P, ApiError>>) -> Result<Option<P>, ApiError> {
    resolver.await.map(Some)
}

fn missing(what: &str) -> ApiError {
    tracing::error!(missing = what, "a resolver ran without its request context");
    ApiError::new(ErrorCode::Internal, "internal error")
}
