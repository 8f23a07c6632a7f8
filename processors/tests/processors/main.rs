//! The processor adapters from outside, as the domain uses them: through the
//! `PaymentProcessor` port only.

mod guarded;
mod http;
mod simulated;

use domain::ids::{OrderId, PaymentId, RefundId, TenantId};
use domain::money::{Currency, Money};
use domain::payments::{ChargeRequest, PaymentMethod, RefundRequest};

/// `minor` cents of US dollars.
pub fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::parse("currencyCode", "USD").expect("USD"))
}

/// A charge of $10.00 with `method` and idempotency key `key`.
pub fn charge(method: &str, key: &str) -> ChargeRequest {
    ChargeRequest {
        payment: PaymentId::new(),
        order: OrderId::new(),
        tenant: TenantId::new(),
        amount: usd(1_000),
        method: PaymentMethod::parse("paymentMethod", method).expect("a method id"),
        idempotency_key: key.to_owned(),
    }
}

/// A refund of `minor` cents of the charge `reference`, with idempotency key `key`.
pub fn refund(reference: &str, minor: i64, key: &str) -> RefundRequest {
    RefundRequest {
        refund: RefundId::new(),
        payment: PaymentId::new(),
        tenant: TenantId::new(),
        charge_reference: reference.to_owned(),
        amount: usd(minor),
        idempotency_key: key.to_owned(),
    }
}
