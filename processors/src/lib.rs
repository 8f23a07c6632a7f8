//! The adapters of the domain's payment processor port ([`domain::ports::PaymentProcessor`]):
//! the processors Keel can be configured with, and the guard every one of them runs behind.
//!
//! The domain decides what a charge or a refund means for an order; this crate only speaks to
//! processors and sorts their answers into the port's outcomes and errors. Both processors
//! speak Stripe's shapes: the simulated one answers to Stripe's test payment method names, the
//! HTTP one to Stripe's API, and both read Stripe-shaped webhook events.
//!
//! # Layout
//!
//! - [`simulated`]: [`Simulated`], in-process and deterministic, the default.
//! - [`http`]: [`HttpProcessor`], the client of a Stripe-shaped API.
//! - [`guard`]: [`Guarded`], a per-call timeout and a circuit breaker around either.
//! - [`events`]: [`parse_event`], webhook bodies to [`domain::payments::ProcessorEvent`]s.
//! - `stripe`: the Stripe-shaped objects (payment intent, refund, error) and what they mean.

pub mod events;
pub mod guard;
pub mod http;
pub mod metrics;
pub mod simulated;
mod stripe;

pub use events::parse_event;
pub use guard::{BreakerState, GuardSettings, Guarded};
pub use http::{HttpProcessor, HttpSettings};
pub use simulated::{Simulated, SimulatedSettings};
