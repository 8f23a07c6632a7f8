//! The query root: entry points for reading.

use async_graphql::Object;

/// Entry points for reading.
pub struct QueryRoot;

#[Object(name = "Query")]
impl QueryRoot {
    /// Version of the Keel server answering, e.g. `0.1.0`.
    async fn api_version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}
