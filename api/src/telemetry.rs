//! Logging: readable lines in development, one JSON object per line in production, filtered by
//! `KEEL_LOG`. Field names are dotted and lower-case (`request.id`, `duration_ms`) everywhere.
//!
//! Nothing here logs secrets: configuration types redact themselves, and request bodies,
//! tokens and passwords are never recorded as fields.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber; call once, at startup.
///
/// # Errors
/// A one-line reason when `filter` is not valid `tracing` filter syntax.
pub fn init(format: LogFormat, filter: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(filter).map_err(|err| format!("KEEL_LOG (--log) is not a valid filter: {err}"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
    };
    // Tests boot many servers in one process; the first subscriber wins and that is fine.
    drop(installed);
    Ok(())
}
