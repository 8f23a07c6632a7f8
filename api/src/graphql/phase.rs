//! Tells the HTTP layer whether an operation reached execution.
//!
//! GraphQL over HTTP answers `application/graphql-response+json` requests with 4xx when the
//! document fails to parse or validate, and 200 once execution has begun, even if fields fail.
//! async-graphql runs the `execute` hook only after parsing and validation succeed, so a flag
//! set there is exactly that boundary.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{Response, async_trait};

/// Per-request flag, put in the request's data by the HTTP handler.
#[derive(Clone, Debug, Default)]
pub struct ExecutionStarted(Arc<AtomicBool>);

impl ExecutionStarted {
    /// Whether parsing and validation passed and execution began.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Factory registered on the schema; it sets [`ExecutionStarted`] when execution begins.
pub struct ExecutionPhase;

impl ExtensionFactory for ExecutionPhase {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ExecutionPhase)
    }
}

#[async_trait::async_trait]
impl Extension for ExecutionPhase {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Some(flag) = ctx.data_opt::<ExecutionStarted>() {
            flag.0.store(true, Ordering::Release);
        }
        next.run(ctx, operation_name).await
    }
}
