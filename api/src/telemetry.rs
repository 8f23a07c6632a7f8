//! Logging: readable lines in development, one JSON object per line in production, filtered by
//! `KEEL_LOG`. Field names are dotted and lower-case (`request.id`, `duration_ms`) everywhere.
//!
//! Optional trace export: with `KEEL_OTLP_ENDPOINT` set, every request span (and the spans
//! inside it) goes to an OpenTelemetry collector over OTLP/HTTP, batched on a background thread,
//! and each request's log lines carry its `trace_id`. A request that arrives with a W3C
//! `traceparent` header continues that trace. Off by default: then nothing of OpenTelemetry
//! runs at all.
//!
//! Nothing here logs secrets: configuration types redact themselves, and request bodies,
//! tokens and passwords are never recorded as fields.

use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_http::{HeaderExtractor, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, OtlpProtocol};

/// How long one export to the collector may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether this process exports traces (set once, by [`init`]).
static EXPORTING: OnceLock<bool> = OnceLock::new();

/// Where traces go.
#[derive(Clone, Debug)]
pub struct OtlpSettings {
    /// The collector's OTLP/HTTP base URL (`http://collector:4318`); traces go to `/v1/traces`.
    pub endpoint: url::Url,
    /// Protobuf or JSON bodies.
    pub protocol: OtlpProtocol,
    /// The share of new traces recorded (a request continuing a trace follows its sampling).
    pub sample_ratio: f64,
}

/// The running telemetry; [`Telemetry::shutdown`] sends the traces still buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Flushes and stops trace export (a no-op without it). Call before the runtime stops: the
    /// last batch is sent on it.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(err) = provider.shutdown()
        {
            tracing::warn!(error = %err, "flushing traces to the OTLP collector failed");
        }
    }
}

/// Installs the global subscriber; call once, at startup, with the runtime the trace exporter
/// sends on.
///
/// # Errors
/// A one-line reason when `filter` is not valid `tracing` filter syntax, or the exporter
/// cannot be built.
pub fn init(
    format: LogFormat,
    filter: &str,
    otlp: Option<&OtlpSettings>,
    runtime: tokio::runtime::Handle,
) -> Result<Telemetry, String> {
    let filter = EnvFilter::try_new(filter).map_err(|err| format!("KEEL_LOG (--log) is not a valid filter: {err}"))?;
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format {
        LogFormat::Text => logs.with_filter(filter).boxed(),
        LogFormat::Json => {
            logs.json().flatten_event(true).with_current_span(true).with_span_list(false).with_filter(filter).boxed()
        }
    };
    let provider = otlp.map(|settings| provider(settings, runtime)).transpose()?;
    // Its own filter: `KEEL_LOG=warn` quiets the logs, not the traces of requests.
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer("keel")).with_filter(LevelFilter::INFO)
    });
    let installed = tracing_subscriber::registry().with(logs).with(traces).try_init();
    // Tests boot many servers in one process; the first subscriber wins and that is fine.
    if installed.is_ok() {
        if provider.is_some() {
            opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        }
        let _ = EXPORTING.set(provider.is_some());
    }
    Ok(Telemetry { provider })
}

/// Whether traces are exported.
pub fn exporting() -> bool {
    EXPORTING.get().copied().unwrap_or(false)
}

/// Makes `span` (a request's) continue the trace of an incoming `traceparent` header, if any,
/// and records its trace id on it, so every log line of the request carries it. Call only when
/// [`exporting`].
pub fn adopt(span: &tracing::Span, headers: &http::HeaderMap) {
    let parent =
        opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    let trace_id = span.context().span().span_context().trace_id();
    span.record("trace_id", tracing::field::display(trace_id));
}

fn provider(settings: &OtlpSettings, runtime: tokio::runtime::Handle) -> Result<SdkTracerProvider, String> {
    let client = reqwest::Client::builder()
        .timeout(EXPORT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|err| format!("building the OTLP exporter's HTTP client: {err}"))?;
    let endpoint = settings
        .endpoint
        .join("v1/traces")
        .map_err(|err| format!("KEEL_OTLP_ENDPOINT (--otlp-endpoint) cannot take /v1/traces: {err}"))?;
    let protocol = match settings.protocol {
        OtlpProtocol::HttpProtobuf => Protocol::HttpBinary,
        OtlpProtocol::HttpJson => Protocol::HttpJson,
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(OnRuntime { client, runtime })
        .with_protocol(protocol)
        .with_endpoint(endpoint.as_str())
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|err| format!("building the OTLP trace exporter (KEEL_OTLP_ENDPOINT): {err}"))?;
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(settings.sample_ratio)));
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler)
        .with_resource(Resource::builder().with_service_name("keel").build())
        .build())
}

/// The exporter's HTTP client: Keel's `reqwest`, run on the server's runtime. The batch
/// processor exports from a thread of its own, outside any runtime, so each call is spawned onto
/// the runtime and awaited from there.
#[derive(Debug)]
struct OnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait]
impl opentelemetry_http::HttpClient for OnRuntime {
    async fn send_bytes(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let call = async move {
            let request = reqwest::Request::try_from(request)?;
            let response = client.execute(request).await?;
            let (status, headers) = (response.status(), response.headers().clone());
            let body = response.bytes().await?;
            let mut answer = http::Response::new(body);
            *answer.status_mut() = status;
            *answer.headers_mut() = headers;
            Ok::<_, HttpError>(answer)
        };
        self.runtime.spawn(call).await?
    }
}
