//! The adapter of the domain's webhook sender port ([`domain::ports::WebhookSender`]): signs
//! deliveries per the Standard Webhooks specification and POSTs them, guarded against
//! server-side request forgery.
//!
//! The domain decides what is delivered, to which endpoint and when; this crate only signs one
//! message, sends it once and sorts what happened into a [`domain::webhooks::SendOutcome`]. The
//! address rules themselves are the domain's ([`domain::webhooks::forbidden_address`]); this
//! crate applies them where only the network can: to every address a host resolves to, at
//! registration and again at every connect, so a name cannot be rebound to a private address
//! after it was checked.
//!
//! # Layout
//!
//! - [`sender`]: [`HttpSender`], the port's implementation over reqwest.
//! - `guard`: the resolver that drops forbidden addresses at connect time, and the stricter
//!   registration check.
//! - `signature`: the `webhook-signature` header.

mod guard;
pub mod sender;
mod signature;

pub use sender::{HttpSender, MAX_RETRY_AFTER, USER_AGENT};
