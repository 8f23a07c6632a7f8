//! The ports `domain` needs implemented: storage ([`Store`], [`IdentityRepo`]) and
//! cryptography ([`Crypto`]).
//!
//! Every repository method takes a [`TenantScope`] first and must confine itself to
//! `scope.tenant()` (and `scope.customer()` where rows belong to customers). Transactions are
//! opened only by use-cases, one per command, through [`Store::begin`]; dropping one without
//! [`Tx::commit`] rolls it back.

use std::future::Future;

use time::OffsetDateTime;

use crate::auth::{Role, TenantScope};
use crate::catalog::{Location, Product, ProductFilter, ProductSort, Sku};
use crate::error::DomainError;
use crate::idempotency::{IdempotencyKey, Recorded};
use crate::identity::{
    ApiKey, AuditEntry, Email, MemberStatus, Password, PasswordHash, SecretHash, Session, Slug, Tenant, TenantStatus,
    User,
};
use crate::ids::{ApiKeyId, LocationId, OrderId, ProductId, SessionId, TenantId, UserId};
use crate::inventory::{Change, StockLevel, StockMovement};
use crate::orders::{Order, OrderEvent, OrderFilter, OrderNumber, OrderStatus, Transition};
use crate::page::{Page, PageRequest};

/// Storage: opens tenant-scoped transactions and reads the tenant registry.
pub trait Store: Clone + Send + Sync + 'static {
    /// A transaction confined to one tenant.
    type Tx: Tx;

    /// Opens a read-write transaction for `scope`'s tenant (writers queue, they never fail
    /// for concurrency on SQLite; on PostgreSQL, row-level security is set to the tenant).
    fn begin(&self, scope: &TenantScope) -> impl Future<Output = Result<Self::Tx, DomainError>> + Send;

    /// Opens a read-only transaction for `scope`'s tenant.
    fn begin_read(&self, scope: &TenantScope) -> impl Future<Output = Result<Self::Tx, DomainError>> + Send;

    /// The member and session state behind an access token, read in one statement outside any
    /// transaction: the check every authenticated request makes before its operation.
    fn session_holder(
        &self,
        scope: &TenantScope,
        user: UserId,
        session: SessionId,
    ) -> impl Future<Output = Result<Option<SessionHolder>, DomainError>> + Send;

    /// Finds a tenant by slug in the registry (tenants are not tenant-owned data).
    fn tenant_by_slug(&self, slug: &Slug) -> impl Future<Output = Result<Option<Tenant>, DomainError>> + Send;

    /// Every active tenant, for background jobs that visit each tenant in turn.
    fn active_tenants(&self) -> impl Future<Output = Result<Vec<TenantId>, DomainError>> + Send;

    /// Sets a tenant's status in the registry; `false` when no tenant has the slug.
    fn set_tenant_status(
        &self,
        slug: &Slug,
        status: TenantStatus,
    ) -> impl Future<Output = Result<bool, DomainError>> + Send;
}

/// One transaction; every repository of the domain is available on it.
pub trait Tx: IdentityRepo + CatalogRepo + InventoryRepo + OrderRepo + IdempotencyRepo + Send + Sync {
    /// Makes every change of the transaction durable, or none.
    fn commit(self) -> impl Future<Output = Result<(), DomainError>> + Send;
}

/// What a refresh token presented for rotation turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshUse {
    /// Unused until now; it is now marked used.
    Fresh {
        /// Its session.
        session: SessionId,
        /// Whose.
        user: UserId,
    },
    /// Already used once: someone replayed it.
    Reused {
        /// Its session, to revoke.
        session: SessionId,
    },
    /// Not a token of this tenant.
    Unknown,
}

/// The state behind an access token, read on every authenticated request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionHolder {
    /// The member's current role.
    pub role: Role,
    /// Whether the member may sign in.
    pub status: MemberStatus,
    /// Whether the tenant is in business.
    pub tenant_status: TenantStatus,
    /// Whether the session was revoked (logout, deactivation, token reuse).
    pub revoked: bool,
    /// When the session ends.
    pub expires_at: OffsetDateTime,
}

/// Tenants, members, sessions, API keys and the audit log.
pub trait IdentityRepo {
    /// Takes the tenant's row lock for the rest of the transaction, serialising changes that
    /// check a tenant-wide rule (such as "one owner remains") across processes.
    fn lock_tenant(&self, scope: &TenantScope) -> impl Future<Output = Result<Tenant, DomainError>> + Send;
    /// The scope's tenant.
    fn tenant(&self, scope: &TenantScope) -> impl Future<Output = Result<Tenant, DomainError>> + Send;
    /// Registers a tenant; its id must be the scope's. A taken slug is `Invalid` (`TAKEN`).
    fn insert_tenant(
        &self,
        scope: &TenantScope,
        tenant: &Tenant,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;

    /// Adds a member. A taken email is `Invalid` (`TAKEN`).
    fn insert_user(
        &self,
        scope: &TenantScope,
        user: &User,
        password: &PasswordHash,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// A member by email, with their password hash.
    fn user_by_email(
        &self,
        scope: &TenantScope,
        email: &Email,
    ) -> impl Future<Output = Result<Option<(User, PasswordHash)>, DomainError>> + Send;
    /// A member by id.
    fn user(&self, scope: &TenantScope, id: UserId) -> impl Future<Output = Result<Option<User>, DomainError>> + Send;
    /// A page of members, oldest first.
    fn users(
        &self,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<User>, DomainError>> + Send;
    /// Stores a member's role, status and update time.
    fn update_user(&self, scope: &TenantScope, user: &User) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// How many active owners the tenant has.
    fn count_active_owners(&self, scope: &TenantScope) -> impl Future<Output = Result<u64, DomainError>> + Send;

    /// Starts a session.
    fn insert_session(
        &self,
        scope: &TenantScope,
        session: &Session,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// Adds a refresh token (by hash) to a session.
    fn insert_refresh_token(
        &self,
        scope: &TenantScope,
        session: SessionId,
        hash: &SecretHash,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// Marks a refresh token used, atomically: of two concurrent uses exactly one is `Fresh`.
    fn use_refresh_token(
        &self,
        scope: &TenantScope,
        hash: &SecretHash,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<RefreshUse, DomainError>> + Send;
    /// The session a refresh token (used or not) belongs to.
    fn session_of_refresh_token(
        &self,
        scope: &TenantScope,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<Option<SessionId>, DomainError>> + Send;
    /// The member and session state behind an access token, in one read.
    fn session_holder(
        &self,
        scope: &TenantScope,
        user: UserId,
        session: SessionId,
    ) -> impl Future<Output = Result<Option<SessionHolder>, DomainError>> + Send;
    /// A session by id.
    fn session(
        &self,
        scope: &TenantScope,
        id: SessionId,
    ) -> impl Future<Output = Result<Option<Session>, DomainError>> + Send;
    /// Revokes one session (idempotent).
    fn revoke_session(
        &self,
        scope: &TenantScope,
        session: SessionId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// Revokes every session of a member.
    fn revoke_sessions_of(
        &self,
        scope: &TenantScope,
        user: UserId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;

    /// Stores a new API key with the hash of its secret.
    fn insert_api_key(
        &self,
        scope: &TenantScope,
        key: &ApiKey,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// An API key with the hash of its secret.
    fn api_key(
        &self,
        scope: &TenantScope,
        id: ApiKeyId,
    ) -> impl Future<Output = Result<Option<(ApiKey, SecretHash)>, DomainError>> + Send;
    /// A page of API keys, oldest first.
    fn api_keys(
        &self,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<ApiKey>, DomainError>> + Send;
    /// Stores a key's revocation and last use.
    fn update_api_key(&self, scope: &TenantScope, key: &ApiKey)
    -> impl Future<Output = Result<(), DomainError>> + Send;

    /// Appends to the audit log.
    fn append_audit(
        &self,
        scope: &TenantScope,
        entry: &AuditEntry,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// A page of the audit log, newest first.
    fn audit_entries(
        &self,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<AuditEntry>, DomainError>> + Send;
}

/// Products and locations.
pub trait CatalogRepo {
    /// Adds a product. A taken SKU is `Invalid` (`TAKEN`).
    fn insert_product(
        &self,
        scope: &TenantScope,
        product: &Product,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// A product by id.
    fn product(
        &self,
        scope: &TenantScope,
        id: ProductId,
    ) -> impl Future<Output = Result<Option<Product>, DomainError>> + Send;
    /// The products with these ids (unknown ids are left out), in one statement.
    fn products_by_ids(
        &self,
        scope: &TenantScope,
        ids: &[ProductId],
    ) -> impl Future<Output = Result<Vec<Product>, DomainError>> + Send;
    /// The products with these SKUs (unknown SKUs are left out), in one statement.
    fn products_by_skus(
        &self,
        scope: &TenantScope,
        skus: &[Sku],
    ) -> impl Future<Output = Result<Vec<Product>, DomainError>> + Send;
    /// A product by SKU.
    fn product_by_sku(
        &self,
        scope: &TenantScope,
        sku: &Sku,
    ) -> impl Future<Output = Result<Option<Product>, DomainError>> + Send;
    /// Stores `product` only if the stored version is still `expected_version` (one conditional
    /// UPDATE); `false` when it is not.
    fn update_product(
        &self,
        scope: &TenantScope,
        product: &Product,
        expected_version: i32,
    ) -> impl Future<Output = Result<bool, DomainError>> + Send;
    /// A page of products matching `filter` (its search already lower-cased), in `sort` with
    /// the id breaking ties, by keyset from `page.cursor` (which fits `sort`'s order).
    fn products(
        &self,
        scope: &TenantScope,
        filter: &ProductFilter,
        sort: ProductSort,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Product>, DomainError>> + Send;
    /// Adds a location. A taken code is `Invalid` (`TAKEN`).
    fn insert_location(
        &self,
        scope: &TenantScope,
        location: &Location,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// A location by id.
    fn location(
        &self,
        scope: &TenantScope,
        id: LocationId,
    ) -> impl Future<Output = Result<Option<Location>, DomainError>> + Send;
    /// Stores a location's name.
    fn update_location(
        &self,
        scope: &TenantScope,
        location: &Location,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// A page of locations, oldest first.
    fn locations(
        &self,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Location>, DomainError>> + Send;
}

/// Stock levels and the movement ledger.
pub trait InventoryRepo {
    /// Applies `movement` to its level with one conditional statement (creating the level at
    /// zero first if needed) and appends it to the ledger. `None`, with nothing written, when
    /// the level would break a rule (negative, or reserved above on hand).
    fn apply_movement(
        &self,
        scope: &TenantScope,
        movement: &StockMovement,
    ) -> impl Future<Output = Result<Option<StockLevel>, DomainError>> + Send;
    /// Changes an existing level by `change` with one conditional statement, only if the result
    /// keeps every rule; `false`, with nothing written, when it would not (or there is no level).
    /// The caller appends the matching movements with [`InventoryRepo::append_movements`].
    fn change_level(
        &self,
        scope: &TenantScope,
        product: ProductId,
        location: LocationId,
        change: Change,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, DomainError>> + Send;
    /// Appends movements to the ledger in one statement (their levels were already changed).
    fn append_movements(
        &self,
        scope: &TenantScope,
        movements: &[StockMovement],
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// A level, if stock was ever recorded there.
    fn stock_level(
        &self,
        scope: &TenantScope,
        product: ProductId,
        location: LocationId,
    ) -> impl Future<Output = Result<Option<StockLevel>, DomainError>> + Send;
    /// Every recorded level of the given products, in one statement.
    fn stock_levels_of(
        &self,
        scope: &TenantScope,
        products: &[ProductId],
    ) -> impl Future<Output = Result<Vec<StockLevel>, DomainError>> + Send;
    /// The available units (`on_hand - reserved`) of each given product summed over all its
    /// locations, in one statement; products with no stock recorded anywhere are left out.
    fn available_quantities(
        &self,
        scope: &TenantScope,
        products: &[ProductId],
    ) -> impl Future<Output = Result<Vec<(ProductId, i64)>, DomainError>> + Send;
    /// The ledger of one level, newest first.
    fn stock_movements(
        &self,
        scope: &TenantScope,
        product: ProductId,
        location: LocationId,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<StockMovement>, DomainError>> + Send;
}

/// Orders, their lines and history, and the outbox of order events. Under a customer's scope,
/// every read sees only that customer's orders.
pub trait OrderRepo {
    /// The tenant's next order number (from [`OrderNumber::FIRST`]); the counter stays locked
    /// until the transaction ends, so numbers are unique and, among committed orders, gapless
    /// except for placements that failed after numbering.
    fn next_order_number(&self, scope: &TenantScope) -> impl Future<Output = Result<OrderNumber, DomainError>> + Send;
    /// Stores a new order with its lines.
    fn insert_order(&self, scope: &TenantScope, order: &Order) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// An order with its lines.
    fn order(
        &self,
        scope: &TenantScope,
        id: OrderId,
    ) -> impl Future<Output = Result<Option<Order>, DomainError>> + Send;
    /// An order by number, with its lines.
    fn order_by_number(
        &self,
        scope: &TenantScope,
        number: OrderNumber,
    ) -> impl Future<Output = Result<Option<Order>, DomainError>> + Send;
    /// A page of orders matching `filter`, newest first, with their lines (a fixed number of
    /// statements whatever the page size).
    fn orders(
        &self,
        scope: &TenantScope,
        filter: &OrderFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Order>, DomainError>> + Send;
    /// Sets the status (and bumps the version) only if it is still `from`: `false` when it is
    /// not, with nothing written.
    fn set_order_status(
        &self,
        scope: &TenantScope,
        id: OrderId,
        from: OrderStatus,
        to: OrderStatus,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, DomainError>> + Send;
    /// Appends to an order's history.
    fn append_transition(
        &self,
        scope: &TenantScope,
        transition: &Transition,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// The history of the given orders, oldest first, in one statement.
    fn transitions_of(
        &self,
        scope: &TenantScope,
        orders: &[OrderId],
    ) -> impl Future<Output = Result<Vec<Transition>, DomainError>> + Send;
    /// Writes an event to the outbox.
    fn append_event(
        &self,
        scope: &TenantScope,
        event: &OrderEvent,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
    /// Up to `limit` orders still waiting for payment that were placed before `before`, oldest
    /// first.
    fn unpaid_orders_placed_before(
        &self,
        scope: &TenantScope,
        before: OffsetDateTime,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<OrderId>, DomainError>> + Send;
}

/// Stored results of idempotent requests, per tenant and operation.
pub trait IdempotencyRepo {
    /// What was stored under `key` for `operation`, if anything.
    fn idempotency_record(
        &self,
        scope: &TenantScope,
        operation: &str,
        key: &IdempotencyKey,
    ) -> impl Future<Output = Result<Option<Recorded>, DomainError>> + Send;
    /// Stores a result under `key`. When a concurrent request stored one first, this is
    /// `Conflict` (the transaction is then unusable; the caller retries to replay it).
    fn save_idempotency(
        &self,
        scope: &TenantScope,
        operation: &str,
        key: &IdempotencyKey,
        recorded: &Recorded,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
}

/// Password hashing and secret generation.
pub trait Crypto: Clone + Send + Sync + 'static {
    /// Hashes a new password (slow on purpose; runs off the async threads).
    fn hash_password(&self, password: &Password) -> impl Future<Output = Result<PasswordHash, DomainError>> + Send;
    /// Checks a password against a hash. With no hash (unknown email) it does the same work
    /// against a dummy hash and answers `false`, so timing does not reveal which emails exist.
    fn verify_password(&self, password: &Password, hash: Option<&PasswordHash>) -> impl Future<Output = bool> + Send;
    /// A new random 256-bit secret, base64url-encoded (43 characters).
    ///
    /// # Errors
    /// `Internal` when the system has no randomness to give.
    fn new_secret(&self) -> Result<String, DomainError>;
    /// The stored form of a secret.
    fn hash_secret(&self, secret: &str) -> SecretHash;
    /// Whether `secret` hashes to `hash`, in constant time.
    fn secret_matches(&self, secret: &str, hash: &SecretHash) -> bool;
}
