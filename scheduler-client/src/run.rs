//! One pipeline event from text to documents and step output.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;

use tracing::debug;

use crate::engine::{Engine, WriterRun};
use crate::error::Result;
use crate::event::{PipelineEvent, ResolvedEvent};
use crate::run_report::RunReport;
use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_queries::json::Json;
use bydelsfakta_queries::publication::records::{PublishSettings, now_rfc3339};
use bydelsfakta_queries::writer::WriteSummary;
use bydelsfakta_queries::writer_plan::{RunRequest, writer_plan};

/// Options of a run besides the event.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `meta.publishedDate` (`YYYY-MM-DD`).
    pub published_date: String,
    /// The function to run, instead of routing by the event.
    pub function: Option<String>,
    /// How publishers of one output prefix wait for each other.
    pub publish: PublishSettings,
    /// Everything but publishing: the documents are built and counted, nothing is written.
    pub dry_run: bool,
}

/// Today's date in UTC, `YYYY-MM-DD`: the default `meta.publishedDate` (docs/deviations.md D4).
pub fn today_utc() -> String {
    chrono::Utc::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

/// A `meta.publishedDate` as given: strictly `YYYY-MM-DD`, a four-digit year and a day
/// that exists (`26-11-28` is not read as the year 26).
pub fn parse_published_date(text: &str) -> std::result::Result<String, String> {
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(_) if shaped => Ok(text.to_string()),
        _ => Err(format!("'{text}' is not a date in the form YYYY-MM-DD")),
    }
}

/// What a successful run returns.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// This run's id, as its manifest records it.
    pub run_id: String,
    pub step_output: Json<'static>,
    pub summary: WriteSummary,
    pub output_prefix: String,
    pub elapsed: Duration,
    /// The cluster job that ran the writer, when there was one.
    pub job_id: Option<String>,
}

/// Validates the event, plans, and writes the documents.
pub async fn run_event(
    engine: &Engine,
    bucket: &Bucket,
    event_text: &str,
    options: &RunOptions,
) -> Result<RunOutcome> {
    let planned = plan_event(engine, bucket, event_text, options).await?;
    let mut runs = engine
        .run_writer_plans(vec![Arc::clone(&planned.plan)])
        .await;
    planned.ended(runs.pop().expect("one run per plan"))
}

/// Runs several planned events and returns each one's outcome, in order; one failing
/// does not stop the others. On a cluster they run as one job where their inputs allow
/// ([`Engine::run_writer_plans`]).
pub async fn run_planned(engine: &Engine, planned: Vec<PlannedEvent>) -> Vec<Result<RunOutcome>> {
    let plans = planned.iter().map(|p| Arc::clone(&p.plan)).collect();
    let runs = engine.run_writer_plans(plans).await;
    planned
        .into_iter()
        .zip(runs)
        .map(|(planned, run)| planned.ended(run))
        .collect()
}

/// An event validated and planned: the plan that writes its documents, not yet run.
pub struct PlannedEvent {
    run_id: String,
    started: Instant,
    step_output: Json<'static>,
    output_prefix: String,
    plan: Arc<dyn ExecutionPlan>,
    logical: LogicalPlan,
    /// The run's record so far.
    report: RunReport,
}

impl PlannedEvent {
    /// Where the documents go.
    pub fn output_prefix(&self) -> &str {
        &self.output_prefix
    }

    pub fn output_dataset(&self) -> &str {
        self.report.output_dataset.as_deref().unwrap_or_default()
    }

    /// The physical plan whose run writes the documents.
    pub fn plan(&self) -> &Arc<dyn ExecutionPlan> {
        &self.plan
    }

    /// The logical plan of the frame the writer receives, as built.
    pub fn logical_plan(&self) -> &LogicalPlan {
        &self.logical
    }

    /// The outcome of the run of this plan, logged as the run's record.
    fn ended(self, run: WriterRun) -> Result<RunOutcome> {
        let elapsed = self.started.elapsed();
        let report = RunReport {
            job_id: run.job_id.clone(),
            ..self.report
        };
        // A cluster job scans the inputs: a store's failure there names the object only.
        let summary = run.summary.map_err(|e| match e {
            crate::Error::Query(e) => {
                let inputs = report.inputs.iter();
                crate::Error::from((*e).reading_one_of(inputs.map(|i| (&*i.dataset, &*i.key))))
            }
            other => other,
        });
        report.ended(summary.as_ref(), elapsed).emit();
        Ok(RunOutcome {
            run_id: self.run_id,
            step_output: self.step_output,
            summary: summary?,
            output_prefix: self.output_prefix,
            elapsed,
            job_id: run.job_id,
        })
    }
}

/// Validates the event and plans its documents (reading the inputs' headers, and on a
/// cluster probing the types of inputs not typed before). A failure is logged as the
/// run's record.
pub async fn plan_event(
    engine: &Engine,
    bucket: &Bucket,
    event_text: &str,
    options: &RunOptions,
) -> Result<PlannedEvent> {
    let started = Instant::now();
    let mut report = RunReport {
        run_id: new_run_id(),
        bucket: bucket.url().to_string(),
        engine: engine.name(),
        dry_run: options.dry_run,
        started: Some(std::time::SystemTime::now()),
        ..RunReport::default()
    };
    match plan_reported(engine, bucket, event_text, options, started, &mut report).await {
        Ok(planned) => Ok(planned),
        Err(e) => {
            report.ended(Err(&e), started.elapsed()).emit();
            Err(e)
        }
    }
}

/// [`plan_event`], filling `report` in as it learns.
async fn plan_reported(
    engine: &Engine,
    bucket: &Bucket,
    event_text: &str,
    options: &RunOptions,
    started: Instant,
    report: &mut RunReport,
) -> Result<PlannedEvent> {
    let started_at = now_rfc3339();
    let run_id = report.run_id.clone();
    let event = PipelineEvent::parse(event_text)?;
    let resolved = ResolvedEvent::resolve(event, options.function.as_deref())?;
    let (function, dataset_type) = (resolved.target.function(), resolved.target.dataset_type());
    report.function = Some(function.name.to_string());
    report.dataset_type = Some(dataset_type.name.to_string());
    report.output_dataset = Some(dataset_type.output_dataset.to_string());
    report.output_prefix = Some(resolved.output_prefix.clone());
    // The run names its job from here on: every later failure ends a started run.
    crate::telemetry::run_started(report);
    bucket.check_output_prefix(&resolved.output_prefix).await?;
    report.ms.contract = Some(started.elapsed().as_millis() as u64);
    debug!(
        function = function.name,
        dataset_type = dataset_type.name,
        output = dataset_type.output_dataset,
        run_id = %run_id,
        "running pipeline event"
    );
    let request = RunRequest {
        target: &resolved.target,
        bucket,
        output_prefix: &resolved.output_prefix,
        published_date: &options.published_date,
        run_id: &run_id,
        started_at: &started_at,
        publish: options.publish,
        input_cache: engine.input_cache(),
        dry_run: options.dry_run,
        engine: engine.name(),
    };
    let planned = writer_plan(engine.context(), engine, &request).await?;
    report.inputs = planned.inputs;
    report.ms.read = Some(planned.read.as_millis() as u64);
    report.ms.plan = Some(planned.planned.as_millis() as u64);
    Ok(PlannedEvent {
        run_id,
        started,
        step_output: resolved.event.step_output(),
        output_prefix: resolved.output_prefix,
        plan: planned.plan,
        logical: planned.logical,
        report: report.clone(),
    })
}

/// The environment variables of the publish settings, for the processes that take no
/// flags (the Lambda shim); the CLI's `--publish-wait` and `--lease-ttl` read them too.
pub const PUBLISH_WAIT_VARIABLE: &str = "BYDELSFAKTA_PUBLISH_WAIT";
pub const LEASE_TTL_VARIABLE: &str = "BYDELSFAKTA_LEASE_TTL";

/// A duration in seconds (`30`, `0.5`).
pub fn parse_seconds(text: &str) -> std::result::Result<Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("'{text}' is not a number of seconds"))
}

/// A new run id: a UUIDv7, so that ids sort by when their runs started.
pub fn new_run_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_dates_are_strictly_four_digit_years() {
        assert_eq!(parse_published_date("2026-11-28").unwrap(), "2026-11-28");
        for bad in [
            "26-11-28",
            "2026-2-28",
            "28.11.2026",
            "2026-02-30",
            " 2026-11-28",
            "20261128",
        ] {
            let e = parse_published_date(bad).unwrap_err();
            assert!(e.contains(bad) && e.contains("YYYY-MM-DD"), "{e}");
        }
    }
}
