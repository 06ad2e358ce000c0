//! `explain`: the plans an event's output runs, and with `analyze`, what each operator did.
//!
//! The event is planned as a run plans it (a dry run: nothing is ever published). The
//! logical plan is shown as the optimizer leaves it, the physical plan as the writer runs
//! it. `analyze` runs that physical plan in this process, whatever the engine, so that its
//! operators' metrics can be read: rows out and compute time per operator. A shared frame
//! is one leaf (`SharedFrameExec`, or a scan of `__shared_<n>` embedded): its own plan runs
//! once for all the places that read it. Embedded, a frame runs on its first scan, which
//! physical planning makes: its time is planning time there, not the analyzed run's.

use std::sync::Arc;
use std::time::Instant;

use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::physical_plan::{ExecutionPlan, collect, displayable};
use serde::Serialize;

use crate::engine::Engine;
use crate::error::Result;
use crate::run::{RunOptions, plan_event};
use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_queries::writer::WriteSummary;

/// An event's plans, and what running them did when asked.
#[derive(Debug, Serialize)]
pub struct Explained {
    pub output_dataset: String,
    pub output_prefix: String,
    /// The optimized logical plan, one operator per line.
    pub logical: Vec<String>,
    /// The physical plan, one operator per line (with metrics after `analyze`).
    pub physical: Vec<String>,
    pub analyzed: Option<Analyzed>,
}

/// What running the plan did: the documents it built (and did not publish), and each
/// operator's rows and time.
#[derive(Debug, Serialize)]
pub struct Analyzed {
    pub documents: usize,
    pub bytes: usize,
    pub total_ms: u64,
    pub operators: Vec<OperatorMetrics>,
}

/// One operator of the physical plan after it ran, in the plan's order (depth first).
#[derive(Debug, Serialize)]
pub struct OperatorMetrics {
    /// 0 for the root (the writer).
    pub depth: usize,
    pub operator: String,
    pub output_rows: Option<usize>,
    /// Compute time, summed over the operator's partitions.
    pub compute_ms: Option<f64>,
}

/// Plans `event_text` as a dry run and describes its plans; with `analyze`, runs them here.
pub async fn explain(
    engine: &Engine,
    bucket: &Bucket,
    event_text: &str,
    options: &RunOptions,
    analyze: bool,
) -> Result<Explained> {
    let options = RunOptions {
        dry_run: true,
        ..options.clone()
    };
    let planned = plan_event(engine, bucket, event_text, &options).await?;
    let state = engine.context().state();
    let logical = state.optimize(planned.logical_plan())?;
    let plan = Arc::clone(planned.plan());
    let mut explained = Explained {
        output_dataset: planned.output_dataset().to_string(),
        output_prefix: planned.output_prefix().to_string(),
        logical: lines(&logical.display_indent().to_string()),
        physical: lines(&displayable(plan.as_ref()).indent(true).to_string()),
        analyzed: None,
    };
    if analyze {
        let started = Instant::now();
        let batches = collect(Arc::clone(&plan), engine.context().task_ctx()).await?;
        let summary = WriteSummary::from_batches(&batches)?;
        let with_metrics = DisplayableExecutionPlan::with_metrics(plan.as_ref());
        explained.physical = lines(&with_metrics.indent(true).to_string());
        let mut operators = vec![];
        operator_metrics(&plan, 0, &mut operators);
        explained.analyzed = Some(Analyzed {
            documents: summary.documents,
            bytes: summary.bytes,
            total_ms: started.elapsed().as_millis() as u64,
            operators,
        });
    }
    Ok(explained)
}

impl Explained {
    /// For people: the plans under headings, then what the run did.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{} under {}\n\nlogical plan\n{}\n\nphysical plan\n{}\n",
            self.output_dataset,
            self.output_prefix,
            self.logical.join("\n"),
            self.physical.join("\n")
        );
        if let Some(analyzed) = &self.analyzed {
            text.push_str(&format!(
                "\nran in {} ms: {} documents ({} bytes) built, nothing published\n",
                analyzed.total_ms, analyzed.documents, analyzed.bytes
            ));
        }
        text
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.trim_end().to_string())
        .collect()
}

fn operator_metrics(plan: &Arc<dyn ExecutionPlan>, depth: usize, out: &mut Vec<OperatorMetrics>) {
    let metrics = plan.metrics().map(|m| m.aggregate_by_name());
    out.push(OperatorMetrics {
        depth,
        operator: displayable(plan.as_ref())
            .one_line()
            .to_string()
            .trim_end()
            .to_string(),
        output_rows: metrics.as_ref().and_then(|m| m.output_rows()),
        compute_ms: metrics
            .as_ref()
            .and_then(|m| m.elapsed_compute())
            .map(|ns| ns as f64 / 1e6),
    });
    for child in plan.children() {
        operator_metrics(child, depth + 1, out);
    }
}
