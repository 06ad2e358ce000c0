//! Several outputs as one job: their writer plans side by side in one task.
//!
//! A cluster job costs its submission, scheduling and status round trips whatever it
//! computes (docs/ballista.md §11), so `run-all` on a cluster sends the outputs of one
//! function (which read the same inputs and share frames) as one [`OutputGroupExec`]. It
//! is a leaf to Ballista's planner, like [`crate::single_task::SingleTaskExec`]; its task
//! runs every writer plan, decoded with one frame table so that a frame the outputs share
//! runs once, and reports one row per output: what the writer wrote, or why it failed. One
//! output failing does not fail the others, or the job.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use futures::{FutureExt, StreamExt};

use crate::shared_frames::{decode_plans, encode_plans};
use bydelsfakta_queries::Error as QueryError;
use bydelsfakta_queries::writer::WriteSummary;
use bydelsfakta_queries::writer::summary::{
    outcomes_from_batches, outcomes_schema, outcomes_to_batch,
};
use bydelsfakta_udfs::plan::leaf::{LeafExec, LeafWork};

/// The writer plans of several outputs, run in one task; one row per plan, in order
/// ([`outcomes_schema`]).
pub type OutputGroupExec = LeafExec<OutputGroup>;

/// What [`OutputGroupExec`] runs: writer plans from [`bydelsfakta_queries::writer_plan`].
#[derive(Debug)]
pub struct OutputGroup {
    writers: Vec<Arc<dyn ExecutionPlan>>,
}

impl OutputGroup {
    pub fn new(writers: Vec<Arc<dyn ExecutionPlan>>) -> Self {
        Self { writers }
    }

    pub fn writers(&self) -> &[Arc<dyn ExecutionPlan>] {
        &self.writers
    }
}

/// Runs one writer plan; its failure becomes its outcome.
async fn run_writer(
    writer: Arc<dyn ExecutionPlan>,
    context: Arc<TaskContext>,
) -> bydelsfakta_queries::Result<WriteSummary> {
    let batches = datafusion::physical_plan::common::collect(writer.execute(0, context)?).await?;
    Ok(WriteSummary::from_batches(&batches)?)
}

/// Each output's outcome from the group's rows, in the order of its `writers`.
pub fn outcomes(
    batches: &[RecordBatch],
    writers: usize,
) -> DfResult<Vec<Result<WriteSummary, QueryError>>> {
    let outcomes = outcomes_from_batches(batches)?;
    if outcomes.len() != writers {
        return Err(DataFusionError::Internal(format!(
            "the output group reported {} outputs of {writers}",
            outcomes.len()
        )));
    }
    Ok(outcomes)
}

impl LeafWork for OutputGroup {
    const NAME: &'static str = "OutputGroupExec";

    fn schema(&self) -> SchemaRef {
        outcomes_schema()
    }

    fn detail(&self) -> String {
        format!("{} writers", self.writers.len())
    }

    fn run(&self, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        // Side by side on the executor's cores, as an embedded batch runs them; the rows
        // keep the writers' order.
        let side_by_side = std::thread::available_parallelism().map_or(2, |n| n.get());
        let writers = self.writers.clone();
        let rows = futures::stream::once(async move {
            let runs: Vec<_> = writers
                .into_iter()
                .map(|writer| run_writer(writer, Arc::clone(&context)).boxed())
                .collect();
            let outcomes: Vec<_> = futures::stream::iter(runs)
                .buffered(side_by_side)
                .collect()
                .await;
            outcomes_to_batch(&outcomes)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            outcomes_schema(),
            rows,
        )))
    }
}

const MAGIC: &[u8] = b"bydelsfakta-output-group:";

/// Encodes [`OutputGroupExec`]: its writer plans, with one table of the shared frames of
/// all of them (each frame encoded once, decoded as one operator).
#[derive(Debug, Default, Clone)]
pub struct OutputGroupCodec;

impl PhysicalExtensionCodec for OutputGroupCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        _inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let bytes = buf
            .strip_prefix(MAGIC)
            .ok_or_else(|| DataFusionError::Internal("not an OutputGroupExec node".into()))?;
        let writers = decode_plans(bytes, ctx, proto_converter)?;
        Ok(Arc::new(OutputGroupExec::new(OutputGroup::new(writers))))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        let Some(group) = node.downcast_ref::<OutputGroupExec>() else {
            return Err(DataFusionError::NotImplemented(format!(
                "OutputGroupCodec cannot encode {}",
                node.name()
            )));
        };
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&encode_plans(group.writers(), proto_converter)?);
        Ok(())
    }
}
