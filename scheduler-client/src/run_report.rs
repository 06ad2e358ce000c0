//! The record each run leaves in the logs: what ran, on what inputs, where, how long each
//! phase took, and how it ended. One event at `info` on the target [`RUN_TARGET`], its
//! record in the field [`crate::logging::RUN_FIELD`] (nested as an object in JSON lines).

use std::time::{Duration, SystemTime};

use serde::Serialize;

use bydelsfakta_queries::publication::records::InputObject;
use bydelsfakta_queries::writer::WriteSummary;

/// The target of run records: `RUST_LOG=bydelsfakta::run=info` keeps them.
pub const RUN_TARGET: &str = "bydelsfakta::run";

/// One run's record.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    pub run_id: String,
    /// Unknown when the event did not say (an event that does not parse).
    pub function: Option<String>,
    #[serde(rename = "type")]
    pub dataset_type: Option<String>,
    pub output_dataset: Option<String>,
    pub output_prefix: Option<String>,
    /// The bucket's URL (`s3://name`, `file:///folder`).
    pub bucket: String,
    /// `embedded`, `standalone` or `cluster`.
    pub engine: &'static str,
    /// The cluster job that ran the writer, when there was one.
    pub job_id: Option<String>,
    /// Every input object the run read, with its version and edition.
    pub inputs: Vec<InputObject>,
    pub documents: Option<usize>,
    pub bytes: Option<usize>,
    pub ms: Phases,
    /// `written`, `dry_run` (built and counted, nothing written) or `failed`.
    pub outcome: &'static str,
    /// A dry run (`run --dry-run`): nothing is published.
    pub dry_run: bool,
    pub error: Option<ReportedError>,
    /// When the run began; its spans are placed from here ([`crate::telemetry`]).
    #[serde(skip)]
    pub started: Option<SystemTime>,
}

/// Milliseconds per phase. `contract`: parsing and resolving the event; `read`: listing the input prefixes and reading (and typing) the
/// inputs; `plan`: planning the documents (embedded, this includes computing the shared
/// frames, which run on their first scan while the plan is made); `execute`: running the
/// plan up to the built documents; `publish`: publishing them; `total`: the whole run,
/// waits for a cluster's job included.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phases {
    pub contract: Option<u64>,
    pub read: Option<u64>,
    pub plan: Option<u64>,
    pub execute: Option<u64>,
    pub publish: Option<u64>,
    pub total: u64,
}

/// Why a run failed: the kind the Lambda shim reports, and the message.
#[derive(Debug, Clone, Serialize)]
pub struct ReportedError {
    pub kind: &'static str,
    pub message: String,
}

impl RunReport {
    /// The record of a run that ended with `result` after `total`.
    pub fn ended(
        mut self,
        result: Result<&WriteSummary, &crate::Error>,
        total: Duration,
    ) -> RunReport {
        self.ms.total = total.as_millis() as u64;
        match result {
            Ok(summary) => {
                self.outcome = match self.dry_run {
                    true => "dry_run",
                    false => "written",
                };
                self.documents = Some(summary.documents);
                self.bytes = Some(summary.bytes);
                self.ms.execute = Some(summary.compute_ms);
                self.ms.publish = Some(summary.publish_ms);
            }
            Err(e) => {
                self.outcome = "failed";
                self.error = Some(ReportedError {
                    kind: e.kind(),
                    message: e.to_string(),
                });
            }
        }
        self
    }

    /// Logs the record (`info` when the run wrote its documents, `error` when it failed),
    /// and hands it to the run's spans and lineage events.
    pub fn emit(&self) {
        crate::telemetry::run_ended(self);
        let record = serde_json::to_string(self).unwrap_or_default();
        match self.error {
            None => tracing::info!(target: RUN_TARGET, run = %record, "run written"),
            Some(_) => tracing::error!(target: RUN_TARGET, run = %record, "run failed"),
        }
    }
}
