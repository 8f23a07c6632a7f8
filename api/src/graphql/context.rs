//! What resolvers reach: the shared services (schema data) and the caller of this request
//! (request data). Built per request by the HTTP handler, so nothing tenant-specific is
//! shared between requests.

use std::sync::Arc;

use async_graphql::Context;
use domain::auth::Caller;

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
    pub order_payment_timeout: time::Duration,
}

/// The services and the caller, for one resolver.
pub struct RequestContext<'a> {
    /// Shared services.
    pub services: &'a Services,
    /// Who is asking, from where.
    pub caller: &'a Caller,
}

impl<'a> RequestContext<'a> {
    /// Reads both from the resolver's context.
    ///
    /// # Errors
    /// `INTERNAL` if the server was wired without them (a bug, never a client's doing).
    pub fn of(ctx: &'a Context<'_>) -> Result<RequestContext<'a>, ApiError> {
        let services = ctx.data_opt::<Arc<Services>>().ok_or_else(|| missing("services"))?;
        let caller = ctx.data_opt::<Caller>().ok_or_else(|| missing("caller"))?;
        Ok(RequestContext { services, caller })
    }
}

fn missing(what: &str) -> ApiError {
    tracing::error!(missing = what, "a resolver ran without its request context");
    ApiError::new(ErrorCode::Internal, "internal error")
}
