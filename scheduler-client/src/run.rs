//! One pipeline event from text to documents and step output.

use std::time::{Duration, Instant};

use tracing::{debug, info};

use crate::engine::{Engine, WriteSummary};
use crate::error::Result;
use crate::event::{PipelineEvent, ResolvedEvent};
use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_queries::json::Json;
use bydelsfakta_queries::prepare::{RunRequest, writer_plan};

/// Options of a run besides the event.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `meta.publishedDate` (`YYYY-MM-DD`).
    pub published_date: String,
    /// The function to run, instead of routing by the event.
    pub function: Option<String>,
}

/// Today's date in UTC, `YYYY-MM-DD`: the default `meta.publishedDate` (DEVIATIONS D4).
pub fn today_utc() -> String {
    chrono::Utc::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

/// What a successful run returns.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub step_output: Json<'static>,
    pub summary: WriteSummary,
    pub output_prefix: String,
    pub elapsed: Duration,
}

/// Validates the event, plans, and writes the documents.
pub async fn run_event(
    engine: &Engine,
    bucket: &Bucket,
    event_text: &str,
    options: &RunOptions,
) -> Result<RunOutcome> {
    let started = Instant::now();
    let event = PipelineEvent::parse(event_text)?;
    let resolved = ResolvedEvent::resolve(event, options.function.as_deref())?;
    info!(
        function = resolved.function.name,
        dataset_type = %resolved.dataset_type,
        output = %resolved.output_dataset,
        "running pipeline event"
    );
    let request = RunRequest {
        function: resolved.function,
        dataset_type: &resolved.dataset_type,
        bucket,
        input_prefixes: &resolved.input_prefixes,
        output_prefix: &resolved.output_prefix,
        published_date: &options.published_date,
        input_cache: engine.input_cache(),
    };
    let plan = writer_plan(engine.context(), engine, &request).await?;
    let planned = started.elapsed();
    let summary = engine.execute(plan).await?;
    debug!(
        output = %resolved.output_dataset,
        plan_ms = planned.as_secs_f64() * 1000.0,
        execute_ms = (started.elapsed() - planned).as_secs_f64() * 1000.0,
        "documents written"
    );
    Ok(RunOutcome {
        step_output: resolved.event.step_output(),
        summary,
        output_prefix: resolved.output_prefix,
        elapsed: started.elapsed(),
    })
}
