//! One request's data: put on the request by [`prepare_request`] (the caller, a fresh
//! budget, DataLoaders built for this caller) and read back by resolvers through
//! [`RequestContext`]. Built per request, so nothing tenant-specific is shared between
//! requests; whoever executes a request needs only the schema, the services and the caller.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_graphql::Context;
use async_graphql::dataloader::DataLoader;
use domain::auth::Caller;

use super::loaders::{
    AvailableQuantityLoader, LineProductsLoader, OrderHistoryLoader, OrderPaymentsLoader, StockLevelsLoader,
};
use super::services::Services;
use crate::error::{ApiError, ErrorCode};

/// Puts one request's data on `request`: its caller, a fresh [`RequestBudget`], and the
/// DataLoaders, built for this caller so their batches never mix tenants.
pub fn prepare_request(
    request: async_graphql::Request,
    services: &Arc<Services>,
    caller: Caller,
) -> async_graphql::Request {
    let stock_levels = StockLevelsLoader { services: services.clone(), caller: caller.clone() };
    let available = AvailableQuantityLoader { services: services.clone(), caller: caller.clone() };
    let histories = OrderHistoryLoader { services: services.clone(), caller: caller.clone() };
    let payments = OrderPaymentsLoader { services: services.clone(), caller: caller.clone() };
    let products = LineProductsLoader { services: services.clone(), caller: caller.clone() };
    // Batches run as tasks of their own; they stay inside this request's span, so their logs
    // (and statements) carry the request id.
    let spawn = |batch| tokio::spawn(tracing::Instrument::in_current_span(batch));
    request
        .data(DataLoader::new(stock_levels, spawn))
        .data(DataLoader::new(available, spawn))
        .data(DataLoader::new(histories, spawn))
        .data(DataLoader::new(products, spawn))
        .data(DataLoader::new(payments, spawn))
        .data(RequestBudget::default())
        .data(caller)
}

/// The data of one WebSocket connection, which every subscription on it runs with: its caller,
/// authenticated once when the connection was initialised (the connection checks it again while
/// open). Subscription fields read only the caller and the services.
pub fn connection_data(caller: Caller) -> async_graphql::Data {
    let mut data = async_graphql::Data::default();
    data.insert(caller);
    data
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

/// Runs a use-case that calls the payment processor on a task of its own and waits for it, so
/// that a client who goes away (or the request deadline) never stops it between the processor's
/// answer and the transaction that records it: the payment or refund is settled at once instead
/// of staying `PENDING` until reconciliation.
///
/// # Errors
/// The use-case's; `Internal` if its task panicked.
pub async fn to_completion<T: Send + 'static>(
    work: impl Future<Output = Result<T, domain::DomainError>> + Send + 'static,
) -> Result<T, domain::DomainError> {
    tokio::spawn(tracing::Instrument::in_current_span(work)).await.map_err(domain::DomainError::internal)?
}

fn missing(what: &str) -> ApiError {
    tracing::error!(missing = what, "a resolver ran without its request context");
    ApiError::new(ErrorCode::Internal, "internal error")
}
