//! The document writer: a physical operator that runs where the plan runs (in process or on
//! a Ballista executor), turns the plan's final frame into documents and publishes them.
//!
//! Every document is built and checked in memory first (docs/deviations.md D1); only then does
//! [`crate::publication`] make them the output prefix's complete set, or leave the previous
//! set as it was (D2).

mod codec;
pub mod summary;

pub use codec::DocumentWriterCodec;
pub use summary::WriteSummary;

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::compute::concat_batches;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, ExecutionPlanProperties,
    Partitioning, PlanProperties, SendableRecordBatchStream,
};
use serde::{Deserialize, Serialize};

use crate::bucket::Bucket;
use crate::document::{DocumentSpec, build_documents};
use crate::publication::records::{PublishSettings, RunRecord};
use crate::publication::{Publication, publish};
use crate::reader::typed_record::{TypedRecord, write_records};

/// Where and what to write: travels with the operator to the executor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteJob {
    pub bucket: Bucket,
    /// Bucket key prefix ending in `/`, e.g. `intermediate/.../lambda_invoker/`.
    pub output_prefix: String,
    pub spec: DocumentSpec,
    /// The run that publishes, and what it read (for the manifest).
    pub run: RunRecord,
    pub publish: PublishSettings,
    /// How inputs this run probed were typed, written once its documents are published.
    #[serde(default)]
    pub typed_records: Vec<TypedRecord>,
    /// Build and count the documents, publish nothing (`run --dry-run`).
    #[serde(default)]
    pub dry_run: bool,
}

/// Writes the documents of one output dataset; yields one row: dataset, documents, bytes.
#[derive(Debug)]
pub struct DocumentWriterExec {
    input: Arc<dyn ExecutionPlan>,
    job: WriteJob,
    properties: Arc<PlanProperties>,
}

impl DocumentWriterExec {
    /// Wraps the plan of the final frame. Documents depend on row order, so several input
    /// partitions are merged in their sort order.
    pub fn new(input: Arc<dyn ExecutionPlan>, job: WriteJob) -> Self {
        let input = if input.output_partitioning().partition_count() > 1 {
            match input.output_ordering() {
                Some(ordering) => Arc::new(SortPreservingMergeExec::new(ordering.clone(), input))
                    as Arc<dyn ExecutionPlan>,
                None => Arc::new(CoalescePartitionsExec::new(input)),
            }
        } else {
            input
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(summary::schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            input,
            job,
            properties,
        }
    }

    pub fn job(&self) -> &WriteJob {
        &self.job
    }
}

impl DisplayAs for DocumentWriterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "DocumentWriterExec: dataset={}, prefix={}",
            self.job.spec.output_dataset, self.job.output_prefix
        )
    }
}

impl ExecutionPlan for DocumentWriterExec {
    fn name(&self) -> &str {
        "DocumentWriterExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(
                "DocumentWriterExec takes one input".into(),
            ));
        }
        Ok(Arc::new(Self::new(children.remove(0), self.job.clone())))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "DocumentWriterExec has one partition, asked for {partition}"
            )));
        }
        let input = Arc::clone(&self.input);
        let job = self.job.clone();
        let stream = futures::stream::once(async move {
            let started = std::time::Instant::now();
            let schema = input.schema();
            let batches =
                datafusion::physical_plan::common::collect(input.execute(0, Arc::clone(&context))?)
                    .await?;
            let frame = concat_batches(&schema, &batches)?;
            let documents = build_documents(frame, &job.spec)?;
            let computed = started.elapsed();
            if job.dry_run {
                return WriteSummary {
                    output_dataset: job.spec.output_dataset.clone(),
                    documents: documents.len(),
                    bytes: documents.iter().map(|d| d.body.len()).sum(),
                    compute_ms: computed.as_millis() as u64,
                    publish_ms: 0,
                }
                .to_batch();
            }
            let store = context.runtime_env().object_store(job.bucket.store_url())?;
            let publication = Publication {
                bucket: &job.bucket,
                prefix: &job.output_prefix,
                output_dataset: &job.spec.output_dataset,
                published_date: &job.spec.published_date,
                run: &job.run,
                settings: job.publish,
            };
            let published = publish(store.as_ref(), &publication, documents).await?;
            write_records(store.as_ref(), &job.bucket, &job.typed_records).await;
            WriteSummary {
                output_dataset: job.spec.output_dataset.clone(),
                documents: published.documents,
                bytes: published.bytes as usize,
                compute_ms: computed.as_millis() as u64,
                publish_ms: (started.elapsed() - computed).as_millis() as u64,
            }
            .to_batch()
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            summary::schema(),
            stream,
        )))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::document::Template;

    pub(crate) fn job() -> WriteJob {
        WriteJob {
            bucket: Bucket::parse("memory://test").unwrap(),
            output_prefix: "out/edition=1/lambda_invoker/".into(),
            spec: DocumentSpec {
                output_dataset: "test-output".into(),
                template: Template::Flat { series: vec![] },
                heading: String::new(),
                series: serde_json::json!([]),
                scale: false,
                published_date: "2026-11-28".into(),
            },
            run: RunRecord {
                run_id: "run-1".into(),
                function: "test".into(),
                dataset_type: "status".into(),
                engine: "embedded".into(),
                started_at: "2026-11-28T00:00:00.000Z".into(),
                inputs: vec![],
            },
            publish: PublishSettings::default(),
            typed_records: vec![],
            dry_run: false,
        }
    }
}
