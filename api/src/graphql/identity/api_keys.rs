//! API keys: credentials for programs, each with an explicit permission list, and the
//! permissions themselves as the schema names them.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use domain::DomainError;
use domain::auth::Permission;
use domain::identity::{ApiKey, api_keys};
use domain::ids::ApiKeyId;
use time::OffsetDateTime;

use crate::error::{ApiError, UserError, payload, user_errors};
use crate::graphql::connection::{connection, list_complexity, page_request};
use crate::graphql::context::{RequestContext, nullable};
use crate::graphql::global_id::{self, Kind};

/// A named capability inside a tenant. Roles grant fixed sets; API keys list theirs.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "Permission")]
pub enum PermissionEnum {
    /// `profile:read`: `me`.
    ProfileRead,
    /// `members:read`: list members.
    MembersRead,
    /// `members:manage`: create members, change roles, deactivate.
    MembersManage,
    /// `api_keys:manage`: create, list and revoke API keys.
    ApiKeysManage,
    /// `audit:read`: read the audit log.
    AuditRead,
    /// `catalog:read`: read products.
    CatalogRead,
    /// `catalog:write`: change products.
    CatalogWrite,
    /// `inventory:read`: read stock.
    InventoryRead,
    /// `inventory:write`: receive, adjust and transfer stock.
    InventoryWrite,
    /// `orders:read`: read orders.
    OrdersRead,
    /// `orders:write`: place orders and cancel unpaid ones (customers: their own).
    OrdersWrite,
    /// `orders:manage`: record payment taken outside Keel, fulfil, cancel paid orders.
    OrdersManage,
    /// `payments:write`: pay orders.
    PaymentsWrite,
    /// `payments:refund`: refund payments, and cancel paid orders (which refunds them).
    PaymentsRefund,
    /// `payments:manage`: configure the shop's payment processor account (its webhook signing
    /// secret).
    PaymentsManage,
    /// `webhooks:manage`: manage webhook endpoints.
    WebhooksManage,
}

impl From<PermissionEnum> for Permission {
    fn from(permission: PermissionEnum) -> Self {
        match permission {
            PermissionEnum::ProfileRead => Permission::ProfileRead,
            PermissionEnum::MembersRead => Permission::MembersRead,
            PermissionEnum::MembersManage => Permission::MembersManage,
            PermissionEnum::ApiKeysManage => Permission::ApiKeysManage,
            PermissionEnum::AuditRead => Permission::AuditRead,
            PermissionEnum::CatalogRead => Permission::CatalogRead,
            PermissionEnum::CatalogWrite => Permission::CatalogWrite,
            PermissionEnum::InventoryRead => Permission::InventoryRead,
            PermissionEnum::InventoryWrite => Permission::InventoryWrite,
            PermissionEnum::OrdersRead => Permission::OrdersRead,
            PermissionEnum::OrdersWrite => Permission::OrdersWrite,
            PermissionEnum::OrdersManage => Permission::OrdersManage,
            PermissionEnum::PaymentsWrite => Permission::PaymentsWrite,
            PermissionEnum::PaymentsRefund => Permission::PaymentsRefund,
            PermissionEnum::PaymentsManage => Permission::PaymentsManage,
            PermissionEnum::WebhooksManage => Permission::WebhooksManage,
        }
    }
}

impl PermissionEnum {
    /// The schema's name for a permission a member or key can hold; `None` for the two only
    /// visitors and operators have (signing in, registering a tenant), which the schema does
    /// not list.
    fn of(permission: Permission) -> Option<PermissionEnum> {
        let listed = match permission {
            Permission::SessionCreate | Permission::TenantRegister => return None,
            Permission::ProfileRead => PermissionEnum::ProfileRead,
            Permission::MembersRead => PermissionEnum::MembersRead,
            Permission::MembersManage => PermissionEnum::MembersManage,
            Permission::ApiKeysManage => PermissionEnum::ApiKeysManage,
            Permission::AuditRead => PermissionEnum::AuditRead,
            Permission::CatalogRead => PermissionEnum::CatalogRead,
            Permission::CatalogWrite => PermissionEnum::CatalogWrite,
            Permission::InventoryRead => PermissionEnum::InventoryRead,
            Permission::InventoryWrite => PermissionEnum::InventoryWrite,
            Permission::OrdersRead => PermissionEnum::OrdersRead,
            Permission::OrdersWrite => PermissionEnum::OrdersWrite,
            Permission::OrdersManage => PermissionEnum::OrdersManage,
            Permission::PaymentsWrite => PermissionEnum::PaymentsWrite,
            Permission::PaymentsRefund => PermissionEnum::PaymentsRefund,
            Permission::PaymentsManage => PermissionEnum::PaymentsManage,
            Permission::WebhooksManage => PermissionEnum::WebhooksManage,
        };
        Some(listed)
    }
}

/// The permissions of `permissions` that the schema lists, in the order given.
pub fn from_permissions(permissions: &[Permission]) -> Vec<PermissionEnum> {
    permissions.iter().filter_map(|permission| PermissionEnum::of(*permission)).collect()
}

/// A credential for programs, with an explicit permission list. Its secret is shown once,
/// when created.
#[derive(Clone)]
pub struct ApiKeyObject(pub ApiKey);

#[Object(name = "ApiKey")]
impl ApiKeyObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id::encode(Kind::ApiKey, self.0.id.uuid())
    }
    /// Label.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The last characters of the secret, to recognise the key (`…abcd`).
    async fn hint(&self) -> String {
        format!("…{}", self.0.hint)
    }
    /// Exactly what the key may do.
    async fn permissions(&self) -> Vec<PermissionEnum> {
        from_permissions(&self.0.permissions)
    }
    /// Whether the key still authenticates.
    async fn active(&self) -> bool {
        self.0.revoked_at.is_none()
    }
    /// When it was created.
    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }
    /// When it last authenticated a request (updated at most once a minute).
    async fn last_used_at(&self) -> Option<OffsetDateTime> {
        self.0.last_used_at
    }
    /// When it was revoked.
    async fn revoked_at(&self) -> Option<OffsetDateTime> {
        self.0.revoked_at
    }
}

/// API key queries.
#[derive(Default)]
pub struct ApiKeyQuery;

#[Object]
impl ApiKeyQuery {
    /// The tenant's API keys, oldest first, revoked ones included. Needs `api_keys:manage`.
    #[graphql(complexity = "list_complexity(first, last, child_complexity)")]
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, ApiKeyObject>, ApiError> {
        let req = RequestContext::of(ctx)?;
        let page = page_request(first, after, last, before)?;
        let keys = api_keys::api_keys(&req.services.ports, req.caller, &page).await?;
        Ok(connection(keys, |k| k.id.uuid(), ApiKeyObject))
    }
}

/// Resolves `node(id:)` for an API key; `node` decides which failures mean "not there".
pub async fn api_key_node(req: &RequestContext<'_>, id: uuid::Uuid) -> Result<ApiKeyObject, DomainError> {
    api_keys::api_key(&req.services.ports, req.caller, ApiKeyId::from_uuid(id)).await.map(ApiKeyObject)
}

/// A new API key.
#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// A label, 1-100 characters.
    pub name: String,
    /// What it may do; each must be a permission you hold yourself (`PERMISSION_NOT_HELD`
    /// otherwise).
    pub permissions: Vec<PermissionEnum>,
}

/// A key to revoke.
#[derive(InputObject)]
pub struct RevokeApiKeyInput {
    /// The key.
    pub api_key_id: ID,
}

/// A new API key and its secret.
#[derive(SimpleObject, Default)]
pub struct CreateApiKeyPayload {
    /// The key.
    pub api_key: Option<ApiKeyObject>,
    /// The secret (`keel_sk_…`), shown only now: store it, it cannot be retrieved again.
    pub secret: Option<String>,
    /// Why nothing happened, if nothing did.
    pub user_errors: Vec<UserError>,
}

/// An API key after a change.
#[derive(SimpleObject, Default)]
pub struct ApiKeyPayload {
    /// The key.
    pub api_key: Option<ApiKeyObject>,
    /// Why nothing happened, if nothing did.
    pub user_errors: Vec<UserError>,
}

/// API key mutations.
#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// Creates an API key with the listed permissions (each one you hold yourself). The secret
    /// is in the payload, once. Needs `api_keys:manage`.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> Result<Option<CreateApiKeyPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let permissions = input.permissions.into_iter().map(Permission::from).collect();
            let command = match api_keys::CreateApiKey::parse(&input.name, permissions) {
                Ok(command) => command,
                Err(invalid) => {
                    return Ok(CreateApiKeyPayload { user_errors: user_errors(invalid), ..Default::default() });
                }
            };
            let result = api_keys::create_api_key(&req.services.ports, req.caller, command).await;
            payload(
                result,
                |(key, secret)| CreateApiKeyPayload {
                    api_key: Some(ApiKeyObject(key)),
                    secret: Some(secret.expose().to_owned()),
                    user_errors: Vec::new(),
                },
                |e| CreateApiKeyPayload { user_errors: e, ..Default::default() },
            )
        })
        .await
    }

    /// Revokes an API key; it stops working at once. Needs `api_keys:manage`, and every
    /// permission the key holds (`PERMISSION_NOT_HELD` on `apiKeyId` otherwise).
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        input: RevokeApiKeyInput,
    ) -> Result<Option<ApiKeyPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let id = ApiKeyId::from_uuid(global_id::decode(Kind::ApiKey, &input.api_key_id)?);
            let result = api_keys::revoke_api_key(&req.services.ports, req.caller, id).await;
            payload(
                result,
                |k| ApiKeyPayload { api_key: Some(ApiKeyObject(k)), user_errors: Vec::new() },
                |e| ApiKeyPayload { api_key: None, user_errors: e },
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_but_the_visitors_and_operators_is_listed_and_round_trips() {
        let listed: Vec<_> = Permission::ALL.into_iter().filter_map(PermissionEnum::of).collect();

        assert_eq!(listed.len(), Permission::ALL.len() - 2);
        for permission in Permission::ALL {
            if let Some(name) = PermissionEnum::of(permission) {
                assert_eq!(Permission::from(name), permission);
            }
        }
    }
}
