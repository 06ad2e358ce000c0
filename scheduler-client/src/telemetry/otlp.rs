//! OTLP trace export as the standard variables set it up: `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), `..._HEADERS`, `..._TIMEOUT`,
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SDK_DISABLED` and
//! `OTEL_TRACES_EXPORTER`. The protocol is `http/protobuf`, the specification's default:
//! `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` (or `OTEL_EXPORTER_OTLP_PROTOCOL`) may name only that
//! one. The spans go out in batches from the SDK's own thread.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::global;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

use super::{flag, variable};

/// Whether spans are exported: [`crate::telemetry::spans`] builds none otherwise.
static EXPORTING: AtomicBool = AtomicBool::new(false);

pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// The process's tracer provider, installed as the global one.
pub struct TraceExport {
    provider: SdkTracerProvider,
}

impl TraceExport {
    /// The export the environment asks for, `None` when it asks for none, or why the
    /// settings cannot be followed.
    pub fn from_env(service: &str) -> Result<Option<Self>, String> {
        let disabled = flag("OTEL_SDK_DISABLED");
        let other_exporter =
            variable("OTEL_TRACES_EXPORTER").is_some_and(|v| !v.eq_ignore_ascii_case("otlp"));
        let endpoint = variable("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| variable("OTEL_EXPORTER_OTLP_ENDPOINT"));
        if disabled || other_exporter || endpoint.is_none() {
            return Ok(None);
        }
        let protocol = variable("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| variable("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .unwrap_or_else(|| "http/protobuf".into());
        if protocol != "http/protobuf" {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: traces are exported by http/protobuf only; no spans are exported"
            ));
        }
        let exporter = SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build()
            .map_err(|e| format!("OTLP trace exporter: {e}; no spans are exported"))?;
        let resource = match variable("OTEL_SERVICE_NAME") {
            Some(_) => Resource::builder().build(),
            None => Resource::builder()
                .with_service_name(service.to_string())
                .build(),
        };
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        global::set_tracer_provider(provider.clone());
        EXPORTING.store(true, Ordering::Relaxed);
        Ok(Some(Self { provider }))
    }

    /// Exports the spans ended so far; a failure is logged, never raised.
    pub fn flush(&self) {
        if let Err(e) = self.provider.force_flush() {
            tracing::warn!("OTLP: spans not exported: {e}");
        }
    }

    /// Exports what is left and stops the exporter's thread.
    pub fn shutdown(self) {
        EXPORTING.store(false, Ordering::Relaxed);
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!("OTLP: spans not exported: {e}");
        }
    }
}
