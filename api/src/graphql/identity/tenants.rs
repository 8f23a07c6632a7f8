//! Tenants as the schema shows them: the shop a caller belongs to.
//!
//! A tenant is registered with its owner by `registerTenant` (in [`super::sessions`], which
//! signs the owner in) and suspended or activated by operators at the command line.

use async_graphql::{Enum, ID, Object};
use domain::identity::{Tenant, members};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::graphql::context::RequestContext;
use crate::graphql::global_id::{self, Kind};

/// Whether a tenant may be used.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "TenantStatus", remote = "domain::identity::TenantStatus")]
pub enum TenantStatusEnum {
    /// In business.
    Active,
    /// Switched off by an operator.
    Suspended,
}

/// A shop: the unit of isolation. Everything else belongs to exactly one tenant.
#[derive(Clone)]
pub struct TenantObject(pub Tenant);

#[Object(name = "Tenant")]
impl TenantObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id::encode(Kind::Tenant, self.0.id.uuid())
    }
    /// Unique handle, used to sign in.
    async fn slug(&self) -> &str {
        self.0.slug.as_str()
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// ISO 4217 code of the currency every price is in.
    async fn currency_code(&self) -> &str {
        self.0.currency.code()
    }
    /// Whether the tenant may be used.
    async fn status(&self) -> TenantStatusEnum {
        self.0.status.into()
    }
    /// When it was registered.
    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }
}

/// Resolves `node(id:)` for a tenant: only the caller's own; `None` for any other.
///
/// # Errors
/// When the caller's profile cannot be read (no credential, a storage failure).
pub async fn tenant_node(req: &RequestContext<'_>, id: uuid::Uuid) -> Result<Option<TenantObject>, ApiError> {
    let profile = members::me(&req.services.ports, req.caller).await?;
    Ok((profile.tenant.id.uuid() == id).then_some(TenantObject(profile.tenant)))
}
