//! Several outputs as one job: their writer plans side by side in one task.
//!
//! A cluster job costs its submission, scheduling and status round trips whatever it
//! computes (docs/ballista.md §11), so `run-all` on a cluster sends the outputs of one
//! function (which read the same inputs and share frames) as one [`OutputGroupExec`]. It
//! is a leaf to Ballista's planner, like [`crate::single_task::SingleTaskExec`]; its task
//! runs every writer plan, decoded with one frame table so that a frame the outputs share
//! runs once, and reports one row per output: what the writer wrote, or why it failed. One
//! output failing does not fail the others, or the job.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use futures::{FutureExt, StreamExt};

use crate::shared_frames::{decode_plans, encode_plans};
use bydelsfakta_queries::Error as QueryError;
use bydelsfakta_queries::writer::WriteSummary;

/// The writer plans of several outputs, run in one task; one row per plan, in order.
#[derive(Debug)]
pub struct OutputGroupExec {
    writers: Vec<Arc<dyn ExecutionPlan>>,
    properties: Arc<PlanProperties>,
}

impl OutputGroupExec {
    /// `writers`: plans from [`bydelsfakta_queries::writer_plan`].
    pub fn new(writers: Vec<Arc<dyn ExecutionPlan>>) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            writers,
            properties,
        }
    }

    pub fn writers(&self) -> &[Arc<dyn ExecutionPlan>] {
        &self.writers
    }
}

const OUTPUT_DATASET: &str = "output_dataset";
const DOCUMENTS: &str = "documents";
const BYTES: &str = "bytes";
/// Why the output failed, as `Kind: message` ([`QueryError::from_reported`]); null when
/// it was written.
const ERROR: &str = "error";

/// One row per output.
fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(OUTPUT_DATASET, DataType::Utf8, true),
        Field::new(DOCUMENTS, DataType::Int64, true),
        Field::new(BYTES, DataType::Int64, true),
        Field::new(ERROR, DataType::Utf8, true),
    ]))
}

/// Runs one writer plan; its failure becomes its outcome.
async fn run_writer(
    writer: Arc<dyn ExecutionPlan>,
    context: Arc<TaskContext>,
) -> Result<WriteSummary, String> {
    let written = async {
        let batches =
            datafusion::physical_plan::common::collect(writer.execute(0, context)?).await?;
        WriteSummary::from_batches(&batches)
    };
    written
        .await
        .map_err(|e| format!("{:?}", QueryError::from(e)))
}

fn to_batch(outcomes: &[Result<WriteSummary, String>]) -> DfResult<RecordBatch> {
    let written = |f: fn(&WriteSummary) -> i64| {
        Arc::new(Int64Array::from_iter(
            outcomes.iter().map(|o| o.as_ref().ok().map(f)),
        ))
    };
    Ok(RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from_iter(
                outcomes
                    .iter()
                    .map(|o| o.as_ref().ok().map(|s| s.output_dataset.clone())),
            )),
            written(|s| s.documents as i64),
            written(|s| s.bytes as i64),
            Arc::new(StringArray::from_iter(
                outcomes.iter().map(|o| o.as_ref().err().cloned()),
            )),
        ],
    )?)
}

/// Each output's outcome from the group's rows, in the order of its writers.
pub fn outcomes(
    batches: &[RecordBatch],
    writers: usize,
) -> DfResult<Vec<Result<WriteSummary, QueryError>>> {
    let mut outcomes = Vec::with_capacity(writers);
    for batch in batches {
        let column = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| {
                DataFusionError::Internal(format!("the output group's rows have no {name}"))
            })
        };
        let datasets = column(OUTPUT_DATASET)?.as_string::<i32>();
        let documents = column(DOCUMENTS)?.as_primitive::<Int64Type>();
        let bytes = column(BYTES)?.as_primitive::<Int64Type>();
        let errors = column(ERROR)?.as_string::<i32>();
        for row in 0..batch.num_rows() {
            outcomes.push(if errors.is_valid(row) {
                Err(QueryError::from_reported(errors.value(row)))
            } else {
                Ok(WriteSummary {
                    output_dataset: datasets.value(row).to_string(),
                    documents: usize::try_from(documents.value(row)).unwrap_or_default(),
                    bytes: usize::try_from(bytes.value(row)).unwrap_or_default(),
                })
            });
        }
    }
    if outcomes.len() != writers {
        return Err(DataFusionError::Internal(format!(
            "the output group reported {} outputs of {writers}",
            outcomes.len()
        )));
    }
    Ok(outcomes)
}

impl DisplayAs for OutputGroupExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "OutputGroupExec: {} writers", self.writers.len())
    }
}

impl ExecutionPlan for OutputGroupExec {
    fn name(&self) -> &str {
        "OutputGroupExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    /// None: Ballista's planner must not see (and cut) the plans inside.
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "OutputGroupExec takes no children".into(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "OutputGroupExec has one partition, asked for {partition}"
            )));
        }
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
            to_batch(&outcomes)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema(), rows)))
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
        Ok(Arc::new(OutputGroupExec::new(writers)))
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
        buf.extend_from_slice(&encode_plans(&group.writers, proto_converter)?);
        Ok(())
    }
}
