//! What may be done inside a tenant ([`Permission`]) and what each member role grants
//! ([`Role`]).
//!
//! Names here are the wire and storage names; parsing an unknown one yields nothing, never a
//! default, so a stored or claimed name Keel does not know grants nothing.

use std::fmt;

/// A named capability inside one tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Sign in or refresh a session (visitors only).
    SessionCreate,
    /// Create a new tenant (anonymous visitors when registration is open, operators always).
    TenantRegister,
    /// Read one's own profile and tenant (`me`).
    ProfileRead,
    /// List members.
    MembersRead,
    /// Create members, change roles, deactivate members.
    MembersManage,
    /// Create, list and revoke API keys.
    ApiKeysManage,
    /// Read the audit log.
    AuditRead,
    /// Read the catalog.
    CatalogRead,
    /// Change the catalog.
    CatalogWrite,
    /// Read stock levels and movements.
    InventoryRead,
    /// Receive, adjust and transfer stock.
    InventoryWrite,
    /// Read orders (customers: their own).
    OrdersRead,
    /// Place orders and cancel unpaid ones (customers: their own).
    OrdersWrite,
    /// Run any order through its life: record payment taken outside Keel, fulfil, cancel paid
    /// orders.
    OrdersManage,
    /// Pay orders.
    PaymentsWrite,
    /// Refund payments (and cancel paid orders, which refunds them).
    PaymentsRefund,
    /// Configure the shop's payment processor account (its webhook signing secret).
    PaymentsManage,
    /// Manage webhook endpoints.
    WebhooksManage,
}

impl Permission {
    /// Every permission, in documentation order.
    pub const ALL: [Permission; 18] = [
        Permission::SessionCreate,
        Permission::TenantRegister,
        Permission::ProfileRead,
        Permission::MembersRead,
        Permission::MembersManage,
        Permission::ApiKeysManage,
        Permission::AuditRead,
        Permission::CatalogRead,
        Permission::CatalogWrite,
        Permission::InventoryRead,
        Permission::InventoryWrite,
        Permission::OrdersRead,
        Permission::OrdersWrite,
        Permission::OrdersManage,
        Permission::PaymentsWrite,
        Permission::PaymentsRefund,
        Permission::PaymentsManage,
        Permission::WebhooksManage,
    ];

    /// The wire and storage name, e.g. `inventory:write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::SessionCreate => "session:create",
            Permission::TenantRegister => "tenant:register",
            Permission::ProfileRead => "profile:read",
            Permission::MembersRead => "members:read",
            Permission::MembersManage => "members:manage",
            Permission::ApiKeysManage => "api_keys:manage",
            Permission::AuditRead => "audit:read",
            Permission::CatalogRead => "catalog:read",
            Permission::CatalogWrite => "catalog:write",
            Permission::InventoryRead => "inventory:read",
            Permission::InventoryWrite => "inventory:write",
            Permission::OrdersRead => "orders:read",
            Permission::OrdersWrite => "orders:write",
            Permission::OrdersManage => "orders:manage",
            Permission::PaymentsWrite => "payments:write",
            Permission::PaymentsRefund => "payments:refund",
            Permission::PaymentsManage => "payments:manage",
            Permission::WebhooksManage => "webhooks:manage",
        }
    }

    /// Parses a stored or requested name; an unknown name is `None`, never a default.
    pub fn parse(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// Whether an API key may carry this permission: only tenant capabilities, never the
    /// session or registration ones, which belong to people.
    pub fn grantable_to_api_keys(self) -> bool {
        !matches!(self, Permission::SessionCreate | Permission::TenantRegister)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member's role inside a tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Owns the tenant; can do everything, including managing other owners.
    Owner,
    /// Runs the tenant; everything except managing owners.
    Admin,
    /// Works the shop floor: catalog reads, stock and orders.
    Staff,
    /// Buys: reads the active catalog, places and pays their own orders.
    Customer,
}

use Permission as P;

const OWNER_PERMISSIONS: &[Permission] = &[
    P::ProfileRead,
    P::MembersRead,
    P::MembersManage,
    P::ApiKeysManage,
    P::AuditRead,
    P::CatalogRead,
    P::CatalogWrite,
    P::InventoryRead,
    P::InventoryWrite,
    P::OrdersRead,
    P::OrdersWrite,
    P::OrdersManage,
    P::PaymentsWrite,
    P::PaymentsRefund,
    P::PaymentsManage,
    P::WebhooksManage,
];
const STAFF_PERMISSIONS: &[Permission] = &[
    P::ProfileRead,
    P::CatalogRead,
    P::InventoryRead,
    P::InventoryWrite,
    P::OrdersRead,
    P::OrdersWrite,
    P::OrdersManage,
    P::PaymentsWrite,
];
const CUSTOMER_PERMISSIONS: &[Permission] =
    &[P::ProfileRead, P::CatalogRead, P::OrdersRead, P::OrdersWrite, P::PaymentsWrite];

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Staff, Role::Customer];

    /// The wire and storage name, e.g. `OWNER`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "OWNER",
            Role::Admin => "ADMIN",
            Role::Staff => "STAFF",
            Role::Customer => "CUSTOMER",
        }
    }

    /// Parses a stored or claimed name; an unknown role is `None`, which callers deny.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The permissions this role grants. Owners and admins differ only in who may manage
    /// owners, a rule of the member use-cases, not a permission.
    pub fn permissions(self) -> &'static [Permission] {
        match self {
            Role::Owner | Role::Admin => OWNER_PERMISSIONS,
            Role::Staff => STAFF_PERMISSIONS,
            Role::Customer => CUSTOMER_PERMISSIONS,
        }
    }

    /// Whether this role grants `permission`.
    pub fn grants(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_role_and_permission_names_parse_to_nothing() {
        assert_eq!(Role::parse("SUPERUSER"), None);
        assert_eq!(Role::parse("owner"), None);
        assert_eq!(Permission::parse("orders:*"), None);
        for permission in Permission::ALL {
            assert_eq!(Permission::parse(permission.as_str()), Some(permission));
        }
    }
}
