//! The services every request shares: stored on the schema once, at startup.
//!
//! Nothing here belongs to one tenant or one caller; those travel as request data (see
//! [`super::context`]).

use std::sync::Arc;

use domain::orders::PaymentTimeout;

use crate::app::ports::AppPorts;
use crate::auth::tokens::AccessTokens;

use super::feed::EventFeed;

/// Services shared by every request; stored on the schema.
pub struct Services {
    /// Storage, crypto, clock, throttle.
    pub ports: AppPorts,
    /// Access-token signing and verification.
    pub tokens: Arc<AccessTokens>,
    /// Whether `registerTenant` is open to anyone.
    pub open_registration: bool,
    /// How long an order may wait for payment before the expiry job cancels it.
    pub order_payment_timeout: PaymentTimeout,
    /// This process's fan-out of outbox events to subscriptions.
    pub feed: Arc<EventFeed>,
    /// How long a rotated-out webhook secret keeps signing when the rotation names no grace.
    pub webhook_rotation_grace: time::Duration,
}
