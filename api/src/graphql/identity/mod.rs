//! The identity part of the schema: tenants, members, sessions, API keys, the audit log.
//!
//! Resolvers parse input, call one domain use-case and map its result; authorization happens
//! inside the use-case.
//!
//! # Layout
//!
//! - here: [`Me`], the caller, and the identity roots merged from the parts below.
//! - [`tenants`]: the caller's tenant.
//! - [`sessions`]: registering a tenant, signing in, refreshing, signing out.
//! - [`members`]: members and their roles.
//! - [`api_keys`]: API keys and the permissions they list.
//! - [`audit`]: the audit log.

pub mod api_keys;
pub mod audit;
pub mod members;
pub mod sessions;
pub mod tenants;

use async_graphql::{Context, MergedObject, Object};
use domain::identity::{Profile, members as member_cases};

use crate::error::ApiError;
use crate::graphql::context::RequestContext;
use api_keys::{ApiKeyObject, PermissionEnum, from_permissions};
use members::MemberObject;
use tenants::TenantObject;

/// The caller: their tenant, who they are, and what they may do.
pub struct Me(Profile);

#[Object]
impl Me {
    /// The caller's tenant.
    async fn tenant(&self) -> TenantObject {
        TenantObject(self.0.tenant.clone())
    }
    /// The member, when a person is calling.
    async fn member(&self) -> Option<MemberObject> {
        self.0.user.clone().map(MemberObject)
    }
    /// The API key, when a program is calling.
    async fn api_key(&self) -> Option<ApiKeyObject> {
        self.0.api_key.clone().map(ApiKeyObject)
    }
    /// What the caller may do.
    async fn permissions(&self) -> Vec<PermissionEnum> {
        from_permissions(&self.0.permissions)
    }
}

/// The `me` query.
#[derive(Default)]
pub struct MeQuery;

#[Object]
impl MeQuery {
    /// The caller. `UNAUTHENTICATED` without a credential.
    async fn me(&self, ctx: &Context<'_>) -> Result<Me, ApiError> {
        let req = RequestContext::of(ctx)?;
        Ok(Me(member_cases::me(&req.services.ports, req.caller).await?))
    }
}

/// Identity queries, in the order the schema lists them.
#[derive(MergedObject, Default)]
pub struct IdentityQuery(MeQuery, members::MemberQuery, api_keys::ApiKeyQuery, audit::AuditQuery);

/// Identity mutations, in the order the schema lists them.
#[derive(MergedObject, Default)]
pub struct IdentityMutation(sessions::SessionMutation, members::MemberMutation, api_keys::ApiKeyMutation);
