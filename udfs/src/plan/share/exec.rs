//! [`SharedFrameExec`]: a frame's physical plan that runs once wherever the operator runs,
//! however many places of the enclosing plan hold it.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties, SendableRecordBatchStream,
};
use futures::StreamExt;
use tokio::sync::OnceCell;

/// A shared frame's plan as one leaf: the first partition asked for runs the plan and
/// keeps its batches, every later one (the same `Arc` at another place of the plan, or a
/// decoded copy that shares this one's result) serves them from memory.
///
/// A leaf, so that an enclosing plan's optimizer and Ballista's stage planner leave the
/// plan inside as it was planned; [`SharedFrameExec::plan`] gives it to the code that
/// encodes the operator or inlines it.
#[derive(Debug)]
pub struct SharedFrameExec {
    frame: Arc<Frame>,
    properties: Arc<PlanProperties>,
}

/// What the operator shares with the streams it runs.
#[derive(Debug)]
struct Frame {
    /// Unique among the frames of one session: equal ids are the same frame.
    id: String,
    /// The frame's plan, merged into one partition.
    plan: Arc<dyn ExecutionPlan>,
    /// The frame's logical schema, which its batches are given (the plan's batches carry
    /// the same columns, possibly with other field metadata).
    schema: SchemaRef,
    result: OnceCell<Vec<RecordBatch>>,
}

impl SharedFrameExec {
    pub fn new(id: impl Into<String>, plan: Arc<dyn ExecutionPlan>, schema: SchemaRef) -> Self {
        let plan: Arc<dyn ExecutionPlan> = if plan.output_partitioning().partition_count() > 1 {
            Arc::new(CoalescePartitionsExec::new(plan))
        } else {
            plan
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        let frame = Frame {
            id: id.into(),
            plan,
            schema,
            result: OnceCell::new(),
        };
        Self {
            frame: Arc::new(frame),
            properties,
        }
    }

    pub fn id(&self) -> &str {
        &self.frame.id
    }

    /// The frame's plan, one partition.
    pub fn plan(&self) -> &Arc<dyn ExecutionPlan> {
        &self.frame.plan
    }

    /// The frame's logical schema (the operator's).
    pub fn frame_schema(&self) -> &SchemaRef {
        &self.frame.schema
    }
}

impl Frame {
    async fn batches(&self, context: Arc<TaskContext>) -> Result<Vec<RecordBatch>> {
        let batches = self
            .result
            .get_or_try_init(|| async {
                let stream = self.plan.execute(0, context)?;
                datafusion::physical_plan::common::collect(stream)
                    .await?
                    .into_iter()
                    .map(|b| RecordBatch::try_new(Arc::clone(&self.schema), b.columns().to_vec()))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(DataFusionError::from)
            })
            .await?;
        Ok(batches.clone())
    }
}

impl DisplayAs for SharedFrameExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SharedFrameExec: {}", self.frame.id)
    }
}

impl ExecutionPlan for SharedFrameExec {
    fn name(&self) -> &str {
        "SharedFrameExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    /// None: the plan inside is planned and optimized already (see the type's docs).
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "SharedFrameExec takes no children".into(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "SharedFrameExec has one partition, asked for {partition}"
            )));
        }
        let frame = Arc::clone(&self.frame);
        let batches = futures::stream::once(async move { frame.batches(context).await })
            .map(|result| match result {
                Ok(batches) => futures::stream::iter(batches.into_iter().map(Ok)).boxed(),
                Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
            })
            .flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.frame.schema),
            batches,
        )))
    }
}
