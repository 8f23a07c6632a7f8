//! The webhook sender and the delivery worker's policy, as configured.

use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use domain::ports::WebhookSender;
use domain::webhooks::{DeliveryPolicy, TargetPolicy};
use webhooks::HttpSender;

use crate::config::WebhookArgs;

/// How much longer than one attempt's timeout a claim holds a delivery: the margin that keeps
/// a live worker's attempt from being claimed again by another.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// Builds the configured sender: Standard Webhooks signing, the SSRF guard unless private
/// targets are allowed, and the attempt's timeouts.
///
/// # Errors
/// When the HTTP client cannot be built.
pub fn sender(args: &WebhookArgs) -> anyhow::Result<Arc<dyn WebhookSender>> {
    let policy = if args.webhook_allow_private { TargetPolicy::AllowPrivate } else { TargetPolicy::PublicOnly };
    let sender = HttpSender::new(policy, args.webhook_connect_timeout.min(args.webhook_timeout), args.webhook_timeout)
        .map_err(|err| anyhow!("building the webhook sender's HTTP client: {err}"))?;
    Ok(Arc::new(sender))
}

/// The worker's retry policy.
pub fn policy(args: &WebhookArgs) -> DeliveryPolicy {
    DeliveryPolicy {
        max_attempts: args.webhook_max_attempts.get(),
        backoff_base: args.webhook_backoff_base,
        backoff_max: args.webhook_backoff_max.max(args.webhook_backoff_base),
        lease: args.webhook_timeout + LEASE_MARGIN,
        per_endpoint: args.webhook_endpoint_concurrency.get(),
    }
}

/// The sender of command-line tools, which send no webhooks: the default settings, public
/// targets only.
///
/// # Errors
/// When the HTTP client cannot be built.
pub fn idle_sender() -> anyhow::Result<Arc<dyn WebhookSender>> {
    let sender = HttpSender::new(TargetPolicy::PublicOnly, Duration::from_secs(2), Duration::from_secs(10))
        .map_err(|err| anyhow!("building the webhook sender's HTTP client: {err}"))?;
    Ok(Arc::new(sender))
}
