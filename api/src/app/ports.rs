//! The ports use-cases run on, as this server wires them: storage, password hashing, the clock,
//! the login throttle, the payment processor and the webhook sender.
//!
//! A leaf: `auth` and `graphql` name [`AppPorts`] from here without reaching into the rest of
//! the wiring, and this module imports nothing of `api` but the crypto it plugs in.

use std::sync::Arc;

use anyhow::anyhow;
use domain::clock::SystemClock;
use domain::identity::LoginThrottle;
use domain::ports::{PaymentProcessor, Ports, WebhookSender};
use persistence::{Database, SeaStore};

use crate::auth::crypto::{Argon2Crypto, HashingLimits};

/// The storage the API runs on; the one place `api` names the persistence crate's type.
pub type AppStore = SeaStore;
/// Everything use-cases need, as wired for this server.
pub type AppPorts = Ports<AppStore, Argon2Crypto>;

/// Wires the ports on an open database, hashing passwords within `hashing`, paying through
/// `processor` and sending webhooks through `webhooks`.
///
/// # Errors
/// When password hashing cannot be prepared.
pub fn wire(
    database: &Database,
    hashing: HashingLimits,
    processor: Arc<dyn PaymentProcessor>,
    webhooks: Arc<dyn WebhookSender>,
) -> anyhow::Result<AppPorts> {
    Ok(Ports {
        store: SeaStore::new(database.clone()),
        crypto: Argon2Crypto::new(hashing).map_err(|err| anyhow!("preparing password hashing: {err}"))?,
        clock: Arc::new(SystemClock),
        throttle: Arc::new(LoginThrottle::default()),
        processor,
        webhooks,
    })
}
