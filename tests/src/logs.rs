//! Captures everything the in-process servers log, for tests that check what must never be
//! logged. The subscriber is process-wide (servers log from many threads), installed once, and
//! records the `api`, `domain` and `persistence` crates and every SQL statement (`sqlx::query`)
//! at DEBUG, and everything else at INFO.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The log lines written so far by every server in this test process.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Everything captured so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Installs the capturing subscriber (once per process) and returns its buffer.
///
/// # Panics
/// If another global subscriber was installed first in this process.
pub fn capture() -> LogCapture {
    static CAPTURE: OnceLock<LogCapture> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = LogCapture::default();
            let subscriber = tracing_subscriber::fmt()
                .json()
                .with_env_filter(EnvFilter::new("info,api=debug,domain=debug,persistence=debug,sqlx::query=debug"))
                .with_writer(capture.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
            capture
        })
        .clone()
}
