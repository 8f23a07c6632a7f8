//! The ports `domain` needs implemented, and [`Ports`], the bundle of their implementations
//! that every use-case takes.
//!
//! Storage is [`Store`], which opens [`Tx`] transactions; a transaction carries one repository
//! trait per area. Every repository method takes a [`TenantScope`] first and must confine itself
//! to `scope.tenant()` (and `scope.customer()` where rows belong to customers). Transactions are
//! opened only by use-cases, one per command, through [`Store::begin`]; dropping one without
//! [`Tx::commit`] rolls it back. Cryptography is [`Crypto`], time is [`Clock`].
//!
//! # Layout
//!
//! - this module: [`Store`], [`Tx`], [`Crypto`] and the [`Ports`] bundle.
//! - `identity`: [`IdentityRepo`], with [`RefreshUse`] and [`SessionHolder`].
//! - `catalog`: [`CatalogRepo`].
//! - `inventory`: [`InventoryRepo`].
//! - `orders`: [`OrderRepo`].
//! - `outbox`: [`OutboxRepo`].
//! - `feed`: [`EventFeedRepo`], the outbox read back for live subscriptions.
//! - `idempotency`: [`IdempotencyRepo`].
//! - `payments`: [`PaymentRepo`] and [`PaymentProcessor`].
//! - `webhooks`: [`WebhookRepo`], [`DeliveryQueue`] and [`WebhookSender`].

mod catalog;
mod feed;
mod idempotency;
mod identity;
mod inventory;
mod orders;
mod outbox;
mod payments;
mod webhooks;

use std::future::Future;
use std::sync::Arc;

use crate::auth::{OperatorConsole, TenantScope};
use crate::clock::Clock;
use crate::error::DomainError;
use crate::identity::{LoginThrottle, Password, PasswordHash, SecretHash, Slug, Tenant, TenantStatus};
use crate::ids::{SessionId, TenantId, UserId};

pub use catalog::CatalogRepo;
pub use feed::EventFeedRepo;
pub use idempotency::IdempotencyRepo;
pub use identity::{IdentityRepo, RefreshUse, SessionHolder};
pub use inventory::InventoryRepo;
pub use orders::OrderRepo;
pub use outbox::OutboxRepo;
pub use payments::{PaymentProcessor, PaymentRepo};
pub use webhooks::{DeliveryQueue, WebhookRepo, WebhookSender};

/// What use-cases need from the outside world, as one value the server builds once at start.
#[derive(Clone)]
pub struct Ports<S, C> {
    /// Storage.
    pub store: S,
    /// Password hashing and token secrets.
    pub crypto: C,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Login throttling.
    pub throttle: Arc<LoginThrottle>,
    /// The payment processor (with its timeout and circuit breaker).
    pub processor: Arc<dyn PaymentProcessor>,
    /// The webhook sender (Standard Webhooks signing, the SSRF guard).
    pub webhooks: Arc<dyn WebhookSender>,
}

/// Storage: opens tenant-scoped transactions and reads the tenant registry.
pub trait Store: DeliveryQueue + Clone + Send + Sync + 'static {
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

    /// Every tenant, suspended ones included, for background jobs that visit each tenant in
    /// turn (a suspended shop's unpaid orders still expire and release their stock).
    fn all_tenants(&self) -> impl Future<Output = Result<Vec<TenantId>, DomainError>> + Send;

    /// Sets a tenant's status in the registry; `false` when no tenant has the slug. Only an
    /// operator at the command line may, which `operator` proves.
    fn set_tenant_status(
        &self,
        operator: &OperatorConsole,
        slug: &Slug,
        status: TenantStatus,
    ) -> impl Future<Output = Result<bool, DomainError>> + Send;
}

/// One transaction; every repository of the domain is available on it.
pub trait Tx:
    IdentityRepo
    + CatalogRepo
    + InventoryRepo
    + OrderRepo
    + OutboxRepo
    + EventFeedRepo
    + IdempotencyRepo
    + PaymentRepo
    + WebhookRepo
    + Send
    + Sync
{
    /// Makes every change of the transaction durable, or none.
    fn commit(self) -> impl Future<Output = Result<(), DomainError>> + Send;
}

/// Password hashing and secret generation.
pub trait Crypto: Clone + Send + Sync + 'static {
    /// Hashes a new password (slow on purpose; runs off the async threads).
    ///
    /// # Errors
    /// `RateLimited` when the hashing capacity stays taken too long (see
    /// [`Crypto::verify_password`]); `Internal` when the system has no randomness for a salt.
    fn hash_password(&self, password: &Password) -> impl Future<Output = Result<PasswordHash, DomainError>> + Send;
    /// Checks a password against a hash. With no hash (unknown email) it does the same work
    /// against a dummy hash and answers `false`, so timing does not reveal which emails exist.
    ///
    /// # Errors
    /// `RateLimited` when the machine's hashing capacity stays taken for longer than the
    /// implementation lets a check queue (then nothing was checked).
    fn verify_password(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> impl Future<Output = Result<bool, DomainError>> + Send;
    /// A new random 256-bit secret, base64url-encoded (43 characters).
    ///
    /// # Errors
    /// `Internal` when the system has no randomness to give.
    fn new_secret(&self) -> Result<String, DomainError>;
    /// The stored form of a secret.
    fn hash_secret(&self, secret: &str) -> SecretHash;
    /// Whether `secret` hashes to `hash`, in constant time.
    fn secret_matches(&self, secret: &str, hash: &SecretHash) -> bool;
    /// Whether `signature` (lowercase hex) is HMAC-SHA256 of `message` under `key`, compared in
    /// constant time.
    fn hmac_sha256_matches(&self, key: &[u8], message: &[u8], signature: &str) -> bool;
}
