//! From a function, its type and its input prefixes to the physical plan that writes the
//! documents: read inputs, plan, attach the scale, sort, wrap in the writer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::*;

use crate::bucket::Bucket;
use crate::document::DocumentSpec;
use crate::error::Result;
use crate::function::{CommonFrames, Inputs, Target};
use crate::publication::records::{InputObject, PublishSettings, RunRecord};
use crate::reader::{InputCache, PlanExecutor, read_input};
use crate::writer::{DocumentWriterExec, WriteJob};
use bydelsfakta_udfs::plan::cross_join;

/// One run of one function type: everything the plan needs besides the engine.
#[derive(Debug, Clone)]
pub struct RunRequest<'a> {
    /// The function, its type and its inputs' prefixes.
    pub target: &'a Target,
    pub bucket: &'a Bucket,
    pub output_prefix: &'a str,
    pub published_date: &'a str,
    /// Unique per run: the publication's lease and manifest name it.
    pub run_id: &'a str,
    /// When the run started (RFC 3339, UTC).
    pub started_at: &'a str,
    pub publish: PublishSettings,
    /// Typed inputs in memory shared by the runs of a batch; `None` scans the objects
    /// where the plan runs (the distributed engines, which must not pull data here).
    pub input_cache: Option<&'a InputCache>,
    /// Build and count the documents, publish nothing.
    pub dry_run: bool,
    /// Where the plan runs (`embedded`, `standalone`, `cluster`), for the manifest.
    pub engine: &'a str,
}

/// A run's plan, and what planning it found and took.
#[derive(Debug, Clone)]
pub struct WriterPlan {
    /// Its execution writes the documents and yields one row ([`crate::writer::WriteSummary`]).
    pub plan: Arc<dyn ExecutionPlan>,
    /// The logical plan of the frame the writer receives, as built (not optimized).
    pub logical: LogicalPlan,
    /// Every input object the run reads, in the function's order.
    pub inputs: Vec<InputObject>,
    /// Listing the input prefixes and reading (and typing) the inputs.
    pub read: Duration,
    /// Planning the documents from the inputs, logical and physical.
    pub planned: Duration,
}

/// Reads the inputs and plans the documents.
pub async fn writer_plan(
    ctx: &SessionContext,
    executor: &dyn PlanExecutor,
    req: &RunRequest<'_>,
) -> Result<WriterPlan> {
    let started = Instant::now();
    let (function, dataset_type) = (req.target.function(), req.target.dataset_type());
    // Each input dataset is read once, even when several arguments name it.
    let mut by_dataset: HashMap<&str, DataFrame> = HashMap::new();
    let (mut inputs, mut typed_records) = (vec![], vec![]);
    for (id, prefix) in req.target.input_prefixes() {
        let read = read_input(ctx, executor, req.bucket, id, prefix, req.input_cache).await?;
        by_dataset.insert(id, read.frame);
        inputs.push(read.object);
        typed_records.extend(read.new_record);
    }
    let read = started.elapsed();
    // A target has a prefix, so now a frame, for every input dataset the arguments name.
    let tables = function
        .inputs
        .iter()
        .map(|(arg, id)| (*arg, by_dataset[id].clone()))
        .collect();
    let objects = inputs.iter().map(|object| object.key.clone()).collect();
    let common = ctx
        .state_ref()
        .read()
        .config()
        .get_extension::<CommonFrames>();
    let inputs_of_run = Inputs::new(tables, function.name, objects, common);
    let output = (function.plan)(&inputs_of_run, dataset_type)?;
    let frame = match &output.scale {
        Some(scale) => cross_join(output.frame, scale.clone())?,
        None => output.frame,
    };
    let frame = frame.sort(output.order)?;
    let job = WriteJob {
        bucket: req.bucket.clone(),
        output_prefix: req.output_prefix.to_string(),
        spec: DocumentSpec {
            output_dataset: dataset_type.output_dataset.to_string(),
            template: output.template,
            heading: output.heading,
            series: output.series,
            scale: output.scale.is_some(),
            published_date: req.published_date.to_string(),
        },
        run: RunRecord {
            run_id: req.run_id.to_string(),
            function: function.name.to_string(),
            dataset_type: dataset_type.name.to_string(),
            engine: req.engine.to_string(),
            started_at: req.started_at.to_string(),
            inputs: inputs.clone(),
        },
        publish: req.publish,
        typed_records,
        dry_run: req.dry_run,
    };
    let logical = frame.logical_plan().clone();
    let plan = frame.create_physical_plan().await?;
    Ok(WriterPlan {
        plan: Arc::new(DocumentWriterExec::new(plan, job)),
        logical,
        inputs,
        read,
        planned: started.elapsed() - read,
    })
}
