//! The payment ports: [`PaymentRepo`], where payments, refunds and a shop's processor settings
//! are stored, and [`PaymentProcessor`], the processor that moves the money.

use std::future::Future;

use time::OffsetDateTime;

use crate::auth::TenantScope;
use crate::error::DomainError;
use crate::ids::{OrderId, PaymentId, RefundId};
use crate::page::{Page, PageRequest};
use crate::payments::{
    BoxFuture, ChargeRequest, Charged, Failure, Payment, PaymentFilter, PaymentSettings, PaymentStatus, ProcessorError,
    ProcessorEvent, ProcessorKind, Refund, RefundRequest, Refunded,
};

/// Payments and refunds. Under a customer's scope every read sees only payments of that
/// customer's orders. Payments and refunds are read with their refunds, oldest first.
pub trait PaymentRepo {
    /// Stores a new payment (its refunds are ignored). Storage refuses a second payment of an
    /// order while one is `PENDING` or `SUCCEEDED`: `Contention`, never two live payments.
    fn insert_payment(
        &self,
        scope: &TenantScope,
        payment: &Payment,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;

    /// Deletes a payment that never reached the processor (and so has no refund).
    fn delete_payment(
        &self,
        scope: &TenantScope,
        id: PaymentId,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;

    /// A payment with its refunds.
    fn payment(
        &self,
        scope: &TenantScope,
        id: PaymentId,
    ) -> impl Future<Output = Result<Option<Payment>, DomainError>> + Send;

    /// Locks a payment's row until the transaction ends (refunds of one payment queue here), and
    /// reads it with its refunds.
    fn lock_payment(
        &self,
        scope: &TenantScope,
        id: PaymentId,
    ) -> impl Future<Output = Result<Option<Payment>, DomainError>> + Send;

    /// The payment the processor knows as `reference`.
    fn payment_by_reference(
        &self,
        scope: &TenantScope,
        processor: ProcessorKind,
        reference: &str,
    ) -> impl Future<Output = Result<Option<Payment>, DomainError>> + Send;

    /// The payment of an order that is `PENDING` or `SUCCEEDED`, if any (at most one exists).
    fn live_payment_of(
        &self,
        scope: &TenantScope,
        order: OrderId,
    ) -> impl Future<Output = Result<Option<Payment>, DomainError>> + Send;

    /// Every payment of the given orders, oldest first, with their refunds: two statements
    /// whatever the number of orders.
    fn payments_of_orders(
        &self,
        scope: &TenantScope,
        orders: &[OrderId],
    ) -> impl Future<Output = Result<Vec<Payment>, DomainError>> + Send;

    /// A page of payments matching `filter`, newest first (by id), with their refunds.
    fn payments(
        &self,
        scope: &TenantScope,
        filter: &PaymentFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Payment>, DomainError>> + Send;

    /// Sets a `PENDING` payment's outcome (status, reference when given, failure): `false`, with
    /// nothing written, when it is no longer `PENDING`. Settling as `PENDING` with a reference
    /// records the processor's id of a payment still in flight (an asynchronous method).
    fn settle_payment(
        &self,
        scope: &TenantScope,
        id: PaymentId,
        status: PaymentStatus,
        reference: Option<&str>,
        failure: Option<&Failure>,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, DomainError>> + Send;

    /// Up to `limit` payments still `PENDING` that were created before `before`, oldest first.
    fn pending_payments(
        &self,
        scope: &TenantScope,
        before: OffsetDateTime,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<PaymentId>, DomainError>> + Send;

    /// Stores a new refund. Storage refuses a second refund with the same processor reference.
    fn insert_refund(
        &self,
        scope: &TenantScope,
        refund: &Refund,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;

    /// Deletes a refund that never reached the processor.
    fn delete_refund(&self, scope: &TenantScope, id: RefundId) -> impl Future<Output = Result<(), DomainError>> + Send;

    /// A refund.
    fn refund(
        &self,
        scope: &TenantScope,
        id: RefundId,
    ) -> impl Future<Output = Result<Option<Refund>, DomainError>> + Send;

    /// The refund the processor knows as `reference`.
    fn refund_by_reference(
        &self,
        scope: &TenantScope,
        reference: &str,
    ) -> impl Future<Output = Result<Option<Refund>, DomainError>> + Send;

    /// Sets a `PENDING` refund's outcome: `false`, with nothing written, when it is no longer
    /// `PENDING`.
    fn settle_refund(
        &self,
        scope: &TenantScope,
        id: RefundId,
        status: PaymentStatus,
        reference: Option<&str>,
        failure: Option<&Failure>,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, DomainError>> + Send;

    /// Up to `limit` refunds still `PENDING` that were created before `before`, oldest first.
    fn pending_refunds(
        &self,
        scope: &TenantScope,
        before: OffsetDateTime,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<RefundId>, DomainError>> + Send;

    /// The shop's processor settings, if it saved any.
    fn payment_settings(
        &self,
        scope: &TenantScope,
    ) -> impl Future<Output = Result<Option<PaymentSettings>, DomainError>> + Send;

    /// Saves the shop's processor settings (insert or replace).
    fn save_payment_settings(
        &self,
        scope: &TenantScope,
        settings: &PaymentSettings,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
}

/// A payment processor. One is configured per server (`simulated` by default); each call has a
/// timeout, and a circuit breaker answers `NotSent` at once while the processor is failing.
pub trait PaymentProcessor: Send + Sync + 'static {
    /// Which processor this is; also the `{processor}` segment of its webhook URL.
    fn kind(&self) -> ProcessorKind;

    /// Whether a call would be tried now: `Err(retry_after_secs)` while the circuit breaker is
    /// open, so a use-case can refuse before writing anything.
    fn ready(&self) -> Result<(), u64>;

    /// Authorizes and captures a charge.
    fn charge<'a>(&'a self, request: &'a ChargeRequest) -> BoxFuture<'a, Result<Charged, ProcessorError>>;

    /// Refunds (part of) a captured charge.
    fn refund<'a>(&'a self, request: &'a RefundRequest) -> BoxFuture<'a, Result<Refunded, ProcessorError>>;

    /// What the processor says now about the charge it knows as `reference`.
    fn lookup<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<Charged, ProcessorError>>;

    /// Parses the body of one of its webhooks (its signature already checked).
    ///
    /// # Errors
    /// A sentence saying what is wrong with the body.
    fn parse_event(&self, body: &[u8]) -> Result<ProcessorEvent, String>;
}
