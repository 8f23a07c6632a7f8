//! A shop's processor settings: the secret its processor signs webhooks with. Only
//! `payments:manage` may read or change them, and the secret is never shown back.

use time::OffsetDateTime;

use super::model::{PaymentSettings, ProcessorKind};
use crate::auth::{Caller, Permission, authorize};
use crate::error::{DomainError, Invalid};
use crate::identity::Slug;
use crate::ports::{Crypto, IdentityRepo, PaymentRepo, Ports, Store, Tx};
use crate::retry::retrying;

/// A webhook signing secret as the processor issued it (Stripe's look like `whsec_…`): 16 to
/// 255 visible ASCII characters.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// Parses a secret.
    ///
    /// # Errors
    /// `Invalid` on `field` for one too short, too long or with invisible characters.
    pub fn parse(field: &str, raw: &str) -> Result<WebhookSecret, Invalid> {
        if (16..=255).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(WebhookSecret(raw.to_owned()))
        } else {
            Err(Invalid::new(field, "must be the processor's signing secret: 16 to 255 visible ASCII characters"))
        }
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

/// What a shop's processor settings show: never the secret, only whether one is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentSettingsView {
    /// The processor this server uses.
    pub processor: ProcessorKind,
    /// Whether a webhook signing secret is set (webhooks are refused without one).
    pub webhook_secret_set: bool,
    /// When the settings last changed; `None` when never saved.
    pub updated_at: Option<OffsetDateTime>,
    /// The shop's webhook path on this server: `/webhooks/payments/{processor}/{slug}`.
    pub webhook_path: String,
}

/// The shop's processor settings.
///
/// # Errors
/// `Forbidden` without `payments:manage`.
pub async fn payment_settings<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
) -> Result<PaymentSettingsView, DomainError> {
    let scope = authorize(&caller.actor, Permission::PaymentsManage)?;
    let tx = ports.store.begin_read(&scope).await?;
    let settings = tx.payment_settings(&scope).await?;
    let tenant = tx.tenant(&scope).await?;
    tx.commit().await?;
    Ok(view(ports.processor.kind(), settings.as_ref(), &tenant.slug))
}

/// Sets (or, with `None`, removes) the shop's webhook signing secret.
///
/// # Errors
/// `Forbidden` without `payments:manage`.
pub async fn update_payment_settings<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    webhook_secret: Option<WebhookSecret>,
) -> Result<PaymentSettingsView, DomainError> {
    let scope = authorize(&caller.actor, Permission::PaymentsManage)?;
    let settings = PaymentSettings {
        webhook_secret: webhook_secret.map(|WebhookSecret(secret)| secret),
        updated_at: ports.clock.now(),
    };
    let tenant = retrying(|| async {
        let tx = ports.store.begin(&scope).await?;
        tx.save_payment_settings(&scope, &settings).await?;
        let tenant = tx.tenant(&scope).await?;
        tx.commit().await?;
        Ok(tenant)
    })
    .await?;
    Ok(view(ports.processor.kind(), Some(&settings), &tenant.slug))
}

fn view(processor: ProcessorKind, settings: Option<&PaymentSettings>, slug: &Slug) -> PaymentSettingsView {
    PaymentSettingsView {
        processor,
        webhook_path: format!("/webhooks/payments/{}/{}", processor.as_str(), slug.as_str()),
        webhook_secret_set: settings.is_some_and(|s| s.webhook_secret.is_some()),
        updated_at: settings.map(|s| s.updated_at),
    }
}
