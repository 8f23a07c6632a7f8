//! Idempotency keys, Stripe's semantics, in one place for every idempotent mutation (stock
//! changes, orders, and the payments to come).
//!
//! Rules: a key belongs to one tenant, one [`Operation`] and one caller namespace (a customer's
//! keys are their own; the shop's members and API keys share the shop's). The same key with
//! the same request replays the stored result; with a different request it is
//! [`crate::DomainError::IdempotencyKeyReused`]. Requests are compared by their fingerprint:
//! SHA-256 of the canonical encoding of the operation and every field ([`Fingerprint`],
//! [`Canonical`]), never of a `Debug` string. A concurrent duplicate waits for the first
//! request and then replays it, or is told it is still in progress (`InProgress`, with a retry
//! delay) when the first one holds the key longer than storage lets a statement wait; it is
//! never answered as if the first had not happened. Only successful results are stored, so a
//! request that failed (say, for lack of stock) can be retried with its key. Keys are kept for
//! a [`Retention`] (24 hours by default) and then purged by [`purge_expired_keys`], which the
//! server runs as a job; a purged key may be used afresh.
//!
//! # Layout
//!
//! - `model`: the values: [`IdempotencyKey`], [`Operation`], [`Claim`], [`Recorded`],
//!   [`Retention`].
//! - `fingerprint`: [`Fingerprint`], implemented by each idempotent command, and
//!   [`Canonical`], its encoding.
//! - `run`: [`idempotent`], the one way to run a mutation once per key, with [`Outcome`] for
//!   its stored result; [`purge_expired_keys`].
//!
//! This module only declares them and names their public items.

mod fingerprint;
mod model;
mod run;

pub use fingerprint::{Canonical, Fingerprint};
pub use model::{
    Claim, IdempotencyKey, MAX_KEY_LEN, MAX_OPERATION_LEN, Operation, RETRY_AFTER_SECS, Recorded, Retention,
    still_in_progress,
};
pub use run::{Outcome, claim_for, idempotent, purge_expired_keys};
