//! What a run tells the world beyond its log record: OpenTelemetry spans, exported by OTLP
//! when the standard `OTEL_EXPORTER_OTLP_*` variables ask for it ([`otlp`], [`spans`]), and
//! OpenLineage run events, sent to `OPENLINEAGE_URL` ([`openlineage`]). Both are set up
//! by [`Telemetry::from_env`] in the processes that run events (the CLI and the Lambda
//! shim, through the `telemetry` feature); with no variables set, or without the feature,
//! [`run_started`] and [`run_ended`] do nothing.

#[cfg(feature = "telemetry")]
pub mod openlineage;
#[cfg(feature = "telemetry")]
pub mod otlp;
#[cfg(feature = "telemetry")]
pub mod spans;

use crate::run_report::RunReport;

/// The environment variable `name`, unless it is unset or blank (as the OpenTelemetry and
/// OpenLineage clients read their settings).
#[cfg(feature = "telemetry")]
fn variable(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// Whether the environment variable `name` says `true` (`OTEL_SDK_DISABLED`,
/// `OPENLINEAGE_DISABLED`).
#[cfg(feature = "telemetry")]
fn flag(name: &str) -> bool {
    variable(name).is_some_and(|value| value.eq_ignore_ascii_case("true"))
}

/// A run knows its function and type and begins: the lineage `START` event.
pub fn run_started(report: &RunReport) {
    #[cfg(feature = "telemetry")]
    openlineage::run_started(report);
    #[cfg(not(feature = "telemetry"))]
    let _ = report;
}

/// A run ended, as `report` tells: its spans, and the lineage `COMPLETE` or `FAIL` event.
pub fn run_ended(report: &RunReport) {
    #[cfg(feature = "telemetry")]
    {
        spans::export(report);
        openlineage::run_ended(report);
    }
    #[cfg(not(feature = "telemetry"))]
    let _ = report;
}

/// The process's exporters, as the environment sets them up. Dropping it sends what is
/// still queued (bounded by the exporters' timeouts).
#[cfg(feature = "telemetry")]
pub struct Telemetry {
    traces: Option<otlp::TraceExport>,
}

#[cfg(feature = "telemetry")]
impl Telemetry {
    /// Sets up OTLP traces when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`)
    /// is set; OpenLineage starts itself on the first event when `OPENLINEAGE_URL` is.
    /// Returns the reason when the variables are set but unusable; nothing is exported then.
    pub fn from_env(service: &str) -> (Self, Option<String>) {
        match otlp::TraceExport::from_env(service) {
            Ok(traces) => (Self { traces }, None),
            Err(e) => (Self { traces: None }, Some(e)),
        }
    }

    /// Sends what is queued now: spans and lineage events of the runs that ended. The Lambda
    /// shim calls it after each invocation, before Lambda may freeze the process.
    pub fn flush(&self) {
        if let Some(traces) = &self.traces {
            traces.flush();
        }
        openlineage::flush();
    }
}

#[cfg(feature = "telemetry")]
impl Drop for Telemetry {
    fn drop(&mut self) {
        openlineage::flush();
        if let Some(traces) = self.traces.take() {
            // A flush reports a failed export (the SDK's shutdown does not), then the
            // exporter stops; each waits at most 5 s.
            traces.flush();
            traces.shutdown();
        }
    }
}
