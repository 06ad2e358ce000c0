//! [`SharedFrameExec`]: a frame's physical plan that runs once wherever the operator runs,
//! however many places of the enclosing plan hold it.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use futures::StreamExt;
use tokio::sync::OnceCell;

use crate::plan::leaf::{LeafExec, LeafWork, one_partition};

/// A shared frame's plan as one leaf: the first run computes the plan and keeps its
/// batches, every later one (the same `Arc` at another place of the plan) serves them from
/// memory.
///
/// A leaf, so that an enclosing plan's optimizer and Ballista's stage planner leave the
/// plan inside as it was planned; [`FrameRun::plan`] gives it to the code that encodes the
/// operator or inlines it.
pub type SharedFrameExec = LeafExec<FrameRun>;

/// What [`SharedFrameExec`] runs: one frame, computed once.
#[derive(Debug)]
pub struct FrameRun {
    frame: Arc<Frame>,
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

impl FrameRun {
    pub fn new(id: impl Into<String>, plan: Arc<dyn ExecutionPlan>, schema: SchemaRef) -> Self {
        let frame = Frame {
            id: id.into(),
            plan: one_partition(plan),
            schema,
            result: OnceCell::new(),
        };
        Self {
            frame: Arc::new(frame),
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

impl LeafWork for FrameRun {
    const NAME: &'static str = "SharedFrameExec";

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.frame.schema)
    }

    fn detail(&self) -> String {
        self.frame.id.clone()
    }

    fn run(&self, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
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
