//! The payment processor this server uses, as configured: the built-in simulator or the HTTP
//! adapter for a Stripe-shaped API, always behind the per-call timeout and circuit breaker.

use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use domain::ports::PaymentProcessor;
use processors::{GuardSettings, Guarded, HttpProcessor, HttpSettings, Simulated, SimulatedSettings};

use crate::config::{PaymentArgs, ProcessorChoice};

/// How long the HTTP adapter waits for a connection before the call counts as never sent.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Builds the configured processor.
///
/// # Errors
/// A one-line reason naming the setting: `http` without a URL or secret, or an HTTP client
/// that cannot be built.
pub fn processor(args: &PaymentArgs) -> anyhow::Result<Arc<dyn PaymentProcessor>> {
    let guard = GuardSettings {
        timeout: args.payment_processor_timeout,
        failure_threshold: args.payment_breaker_threshold.get(),
        open_for: args.payment_breaker_open_for,
    };
    Ok(match args.payment_processor {
        ProcessorChoice::Simulated => {
            let settings = SimulatedSettings {
                latency: args.simulated_latency,
                failure_rate: args.simulated_failure_rate,
                answer_delay: args.simulated_answer_delay,
                ..SimulatedSettings::default()
            };
            Arc::new(Guarded::new(Simulated::new(settings), guard))
        }
        ProcessorChoice::Http => {
            let base_url = args.payment_processor_url.clone().ok_or_else(|| {
                anyhow!("KEEL_PAYMENT_PROCESSOR=http needs KEEL_PAYMENT_PROCESSOR_URL (--payment-processor-url)")
            })?;
            let secret = args.payment_processor_secret.as_ref().ok_or_else(|| {
                anyhow!("KEEL_PAYMENT_PROCESSOR=http needs KEEL_PAYMENT_PROCESSOR_SECRET (--payment-processor-secret)")
            })?;
            let settings = HttpSettings {
                base_url,
                secret: secret.expose().to_owned(),
                timeout: args.payment_processor_timeout,
                connect_timeout: CONNECT_TIMEOUT.min(args.payment_processor_timeout),
            };
            let http = HttpProcessor::new(settings)
                .map_err(|err| anyhow!("building the payment processor's HTTP client: {err}"))?;
            Arc::new(Guarded::new(http, guard))
        }
    })
}
