//! The payments part of the schema: payments with their refunds, paying an order through the
//! processor, refunds, and the shop's processor settings.
//!
//! # Layout
//!
//! - [`objects`]: `Payment`, `Refund` and their enums (a leaf, which orders show).
//! - here: queries, mutations, inputs and payloads.

pub mod objects;

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use domain::DomainError;
use domain::idempotency::IdempotencyKey;
use domain::ids::{OrderId, PaymentId};
use domain::payments::{
    self, PayOrder, PaymentAttempt, PaymentFilter, PaymentMethod, PaymentSettingsView, RefundAttempt, RefundPayment,
    WebhookSecret,
};
use time::OffsetDateTime;

use super::catalog::Decimal;
use super::connection::{connection, list_complexity, page_request};
use super::context::{RequestContext, nullable, to_completion};
use super::global_id::{self, Kind};
use super::orders::OrderObject;
use crate::error::{ApiError, UserError, payload};
pub use objects::{PaymentObject, PaymentStatusEnum, ProcessorEnum, RefundObject};

/// The shop's processor settings. The webhook secret is never shown back.
#[derive(SimpleObject)]
#[graphql(name = "PaymentSettings")]
pub struct PaymentSettingsObject {
    /// The processor this server pays through.
    pub processor: ProcessorEnum,
    /// Whether a webhook signing secret is set; the processor's webhooks are refused without one.
    pub webhook_secret_set: bool,
    /// The path the processor should send this shop's webhooks to, on this server's address.
    pub webhook_path: String,
    /// When the settings last changed; `null` when never saved.
    pub updated_at: Option<OffsetDateTime>,
}

fn settings_object(view: PaymentSettingsView) -> PaymentSettingsObject {
    PaymentSettingsObject {
        processor: view.processor.into(),
        webhook_secret_set: view.webhook_secret_set,
        webhook_path: view.webhook_path,
        updated_at: view.updated_at,
    }
}

/// Resolves `node(id:)` for a payment; `node` decides which failures mean "not there".
pub async fn payment_node(req: &RequestContext<'_>, id: uuid::Uuid) -> Result<PaymentObject, DomainError> {
    Ok(PaymentObject(payments::payment(&req.services.ports, req.caller, PaymentId::from_uuid(id)).await?))
}

/// How `payments` is filtered.
#[derive(InputObject, Default)]
pub struct PaymentFilterInput {
    /// Only payments in one of these statuses.
    pub status: Option<Vec<PaymentStatusEnum>>,
    /// Only payments created at or after this time.
    pub created_after: Option<OffsetDateTime>,
    /// Only payments created before this time.
    pub created_before: Option<OffsetDateTime>,
}

/// Payment queries.
#[derive(Default)]
pub struct PaymentQuery;

#[Object]
impl PaymentQuery {
    /// One payment with its refunds. Needs `orders:read`; customers see their own orders'
    /// payments only. An unknown id is `null` with a `NOT_FOUND` error.
    async fn payment(&self, ctx: &Context<'_>, id: ID) -> Result<Option<PaymentObject>, ApiError> {
        let req = RequestContext::of(ctx)?;
        let id = PaymentId::from_uuid(global_id::decode(Kind::Payment, &id)?);
        Ok(Some(PaymentObject(payments::payment(&req.services.ports, req.caller, id).await?)))
    }

    /// Payments, newest first, with their refunds. Needs `orders:read`; customers see their own
    /// orders' payments only.
    #[graphql(complexity = "list_complexity(first, last, child_complexity)")]
    async fn payments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<PaymentFilterInput>,
    ) -> Result<Connection<String, PaymentObject>, ApiError> {
        let req = RequestContext::of(ctx)?;
        let page = page_request(first, after, last, before)?;
        let filter = filter.unwrap_or_default();
        let filter = PaymentFilter {
            statuses: filter.status.unwrap_or_default().into_iter().map(Into::into).collect(),
            created_from: filter.created_after,
            created_before: filter.created_before,
        };
        let found = payments::payments(&req.services.ports, req.caller, &filter, &page).await?;
        Ok(connection(found, |p| p.id.uuid(), PaymentObject))
    }

    /// The shop's processor settings. Needs `payments:manage`.
    async fn payment_settings(&self, ctx: &Context<'_>) -> Result<Option<PaymentSettingsObject>, ApiError> {
        let req = RequestContext::of(ctx)?;
        let view = payments::payment_settings(&req.services.ports, req.caller).await?;
        Ok(Some(settings_object(view)))
    }
}

/// Pays an order.
#[derive(InputObject)]
pub struct PayOrderInput {
    /// The order; its total is charged.
    pub order_id: ID,
    /// The processor's payment method id, passed through unchanged. With the simulated
    /// processor: `pm_card_visa` (succeeds), `pm_card_visa_chargeDeclined`,
    /// `pm_card_visa_chargeDeclinedInsufficientFunds`, `pm_card_simulated_timeout`,
    /// `pm_card_simulated_async`.
    pub payment_method: String,
    /// Required: the same key with the same input answers the first request's payment without
    /// charging again; with another input it is `IDEMPOTENCY_KEY_REUSED`. Keys are per shop (per
    /// customer for customers) and kept 24 hours by default.
    pub idempotency_key: String,
}

/// The result of `payOrder`.
#[derive(SimpleObject, Default)]
pub struct PayOrderPayload {
    /// The payment, when one was made: `SUCCEEDED` (the order is `PAID`), `FAILED` (with a
    /// `userErrors` entry; the order stays payable) or `PENDING` (the outcome is not known yet).
    pub payment: Option<PaymentObject>,
    /// The order as it is now, for a caller who may read orders.
    pub order: Option<OrderObject>,
    /// `PAYMENT_DECLINED` or `INSUFFICIENT_FUNDS` (with the processor's message) for a declined
    /// payment; `ORDER_NOT_PAYABLE`, `PAYMENT_IN_PROGRESS` or a bad input when nothing was
    /// charged.
    pub user_errors: Vec<UserError>,
}

/// Refunds a payment.
#[derive(InputObject)]
pub struct RefundPaymentInput {
    /// The payment.
    pub payment_id: ID,
    /// How much, in the payment's currency; omitted, everything still refundable.
    pub amount: Option<RefundAmountInput>,
    /// Why, up to 500 characters.
    pub reason: Option<String>,
    /// Required; same semantics as `payOrder`'s.
    pub idempotency_key: String,
}

/// An amount to refund.
#[derive(InputObject)]
pub struct RefundAmountInput {
    /// The amount, at most the currency's decimals.
    pub amount: Decimal,
    /// ISO 4217 code; must be the payment's currency.
    pub currency_code: String,
}

/// The result of `refundPayment`.
#[derive(SimpleObject, Default)]
pub struct RefundPaymentPayload {
    /// The refund, when one was made: `SUCCEEDED`, `FAILED` (with a `userErrors` entry) or
    /// `PENDING`.
    pub refund: Option<RefundObject>,
    /// The payment as it is now, with every refund.
    pub payment: Option<PaymentObject>,
    /// The order as it is now (`PARTIALLY_REFUNDED`, `REFUNDED`), for a caller who may read it.
    pub order: Option<OrderObject>,
    /// `REFUND_FAILED` for a refund the processor refused; `REFUND_EXCEEDS_AVAILABLE`,
    /// `ALREADY_REFUNDED`, `PAYMENT_NOT_REFUNDABLE`, `CURRENCY_MISMATCH` or a bad input when
    /// nothing was refunded.
    pub user_errors: Vec<UserError>,
}

/// Changes the shop's processor settings.
#[derive(InputObject)]
pub struct UpdatePaymentSettingsInput {
    /// The secret the processor signs this shop's webhooks with (Stripe's `whsec_…`); `null`
    /// removes it, and webhooks are refused until one is set again.
    pub webhook_secret: Option<String>,
}

/// The result of `updatePaymentSettings`.
#[derive(SimpleObject, Default)]
pub struct PaymentSettingsPayload {
    /// The settings after the change.
    pub payment_settings: Option<PaymentSettingsObject>,
    /// Why nothing changed, if nothing did.
    pub user_errors: Vec<UserError>,
}

fn parse_key(raw: &str) -> Result<IdempotencyKey, Vec<UserError>> {
    IdempotencyKey::parse("idempotencyKey", raw).map_err(|invalid| vec![invalid.into()])
}

/// Payment mutations.
#[derive(Default)]
pub struct PaymentMutation;

#[Object]
impl PaymentMutation {
    /// Pays a `PENDING_PAYMENT` order's total through the processor, exactly once per
    /// idempotency key: success makes the order `PAID` in the same transaction as the payment.
    /// Needs `payments:write` (customers: their own orders). While the processor is failing,
    /// answers `SERVICE_UNAVAILABLE` with `retryAfter` at once, having charged nothing.
    async fn pay_order(&self, ctx: &Context<'_>, input: PayOrderInput) -> Result<Option<PayOrderPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let rejected =
                |errors: Vec<UserError>| PayOrderPayload { user_errors: errors, ..PayOrderPayload::default() };
            let order = OrderId::from_uuid(global_id::decode_or_unknown(Kind::Order, &input.order_id)?);
            let mut problems = Vec::new();
            let key = parse_key(&input.idempotency_key).map_err(|e| problems.extend(e)).ok();
            let method = PaymentMethod::parse("paymentMethod", &input.payment_method)
                .map_err(|invalid| problems.push(invalid.into()))
                .ok();
            let (Some(key), Some(method)) = (key, method) else { return Ok(rejected(problems)) };
            let (ports, caller) = (req.services.ports.clone(), req.caller.clone());
            let paid =
                to_completion(
                    async move { payments::pay_order(&ports, &caller, PayOrder { order, method }, key).await },
                );
            payload(
                paid.await,
                |PaymentAttempt { payment, order }| PayOrderPayload {
                    user_errors: payments::decline(&payment).into_iter().map(UserError::from).collect(),
                    payment: Some(PaymentObject(payment)),
                    order: order.map(OrderObject::new),
                },
                rejected,
            )
        })
        .await
    }

    /// Refunds a `SUCCEEDED` payment in full (`amount` omitted) or in part; the sum of refunds
    /// never exceeds what was captured. The order becomes `PARTIALLY_REFUNDED` or `REFUNDED`.
    /// Needs `payments:refund`. Idempotent per key like `payOrder`.
    async fn refund_payment(
        &self,
        ctx: &Context<'_>,
        input: RefundPaymentInput,
    ) -> Result<Option<RefundPaymentPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let rejected = |errors: Vec<UserError>| RefundPaymentPayload {
                user_errors: errors,
                ..RefundPaymentPayload::default()
            };
            let payment = PaymentId::from_uuid(global_id::decode(Kind::Payment, &input.payment_id)?);
            let key = match parse_key(&input.idempotency_key) {
                Ok(key) => key,
                Err(errors) => return Ok(rejected(errors)),
            };
            let amount = input.amount.map(|a| (a.amount.0, a.currency_code));
            let command = match RefundPayment::parse(payment, amount, input.reason.as_deref()) {
                Ok(command) => command,
                Err(invalid) => return Ok(rejected(vec![invalid.into()])),
            };
            let (ports, caller) = (req.services.ports.clone(), req.caller.clone());
            let refunded = to_completion(async move { payments::refund_payment(&ports, &caller, command, key).await });
            payload(
                refunded.await,
                |RefundAttempt { refund, payment, order }| RefundPaymentPayload {
                    user_errors: payments::refund_failure(&refund).into_iter().map(UserError::from).collect(),
                    refund: Some(RefundObject(refund)),
                    payment: Some(PaymentObject(payment)),
                    order: order.map(OrderObject::new),
                },
                rejected,
            )
        })
        .await
    }

    /// Sets the shop's processor settings (its webhook signing secret). Needs `payments:manage`.
    async fn update_payment_settings(
        &self,
        ctx: &Context<'_>,
        input: UpdatePaymentSettingsInput,
    ) -> Result<Option<PaymentSettingsPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let secret = match input.webhook_secret.as_deref().map(|raw| WebhookSecret::parse("webhookSecret", raw)) {
                Some(Err(invalid)) => {
                    return Ok(PaymentSettingsPayload { payment_settings: None, user_errors: vec![invalid.into()] });
                }
                Some(Ok(secret)) => Some(secret),
                None => None,
            };
            let view = payments::update_payment_settings(&req.services.ports, req.caller, secret).await?;
            Ok(PaymentSettingsPayload { payment_settings: Some(settings_object(view)), user_errors: Vec::new() })
        })
        .await
    }
}
