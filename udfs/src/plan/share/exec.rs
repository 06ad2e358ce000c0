//! [`SharedFrameExec`]: a frame's physical plan that runs once wherever the operator runs,
//! however many places of the enclosing plan hold it.

use std::fmt;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use futures::StreamExt;
use futures::future::{BoxFuture, FutureExt, Shared};

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
    /// The frame's one computation, started by the first place that runs.
    computation: OnceLock<Computation>,
}

impl FrameRun {
    pub fn new(id: impl Into<String>, plan: Arc<dyn ExecutionPlan>, schema: SchemaRef) -> Self {
        let frame = Frame {
            id: id.into(),
            plan: one_partition(plan),
            schema,
            computation: OnceLock::new(),
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

/// A frame's batches, or why they could not be computed, as every place that holds the
/// frame awaits them.
///
/// The plan runs once, on a task of its own, and its outcome is kept either way. Run a
/// second time, the plan would not read again: DataFusion's file scan hands its files out
/// from a queue made once per operator, so a scan run again finds the queue empty and
/// yields no rows. A frame computed again after a failed read (or after the place that
/// computed it was dropped, its output given up) was such an empty frame, and a semi join
/// whose outer side was empty never polled the side that held the error: a standalone
/// run of `levekar_trangbodde status` whose input read failed published one document
/// instead of sixteen.
#[derive(Clone)]
struct Computation(
    Shared<BoxFuture<'static, std::result::Result<Vec<RecordBatch>, Arc<DataFusionError>>>>,
);

impl fmt::Debug for Computation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Computation")
    }
}

impl Frame {
    async fn batches(self: Arc<Self>, context: Arc<TaskContext>) -> Result<Vec<RecordBatch>> {
        let computation = self.computation.get_or_init(|| {
            let frame = Arc::clone(&self);
            let task = tokio::spawn(async move { frame.compute(context).await.map_err(Arc::new) });
            let outcome = async move {
                task.await
                    .unwrap_or_else(|e| Err(Arc::new(DataFusionError::ExecutionJoin(Box::new(e)))))
            };
            Computation(outcome.boxed().shared())
        });
        computation.0.clone().await.map_err(DataFusionError::Shared)
    }

    async fn compute(&self, context: Arc<TaskContext>) -> Result<Vec<RecordBatch>> {
        let stream = self.plan.execute(0, context)?;
        datafusion::physical_plan::common::collect(stream)
            .await?
            .into_iter()
            .map(|b| RecordBatch::try_new(Arc::clone(&self.schema), b.columns().to_vec()))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(DataFusionError::from)
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::common::collect;

    use super::*;
    use crate::plan::leaf::LeafExec;

    /// A scan that counts its runs and yields one row after `wait`; with `fails_first`,
    /// its first run fails instead (a read the store refused) and later runs succeed, as
    /// a retried read would.
    #[derive(Debug, Default)]
    struct Scan {
        runs: AtomicUsize,
        fails_first: bool,
        wait: std::time::Duration,
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]))
    }

    impl LeafWork for Scan {
        const NAME: &'static str = "ScanExec";

        fn schema(&self) -> SchemaRef {
            schema()
        }

        fn detail(&self) -> String {
            String::new()
        }

        fn run(&self, _context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
            let fails = self.runs.fetch_add(1, Ordering::SeqCst) == 0 && self.fails_first;
            let wait = self.wait;
            let stream = futures::stream::once(async move {
                tokio::time::sleep(wait).await;
                if fails {
                    return Err(DataFusionError::Execution("the read failed".into()));
                }
                let rows = Arc::new(Int64Array::from(vec![7]));
                Ok(RecordBatch::try_new(schema(), vec![rows])?)
            });
            Ok(Box::pin(RecordBatchStreamAdapter::new(schema(), stream)))
        }
    }

    #[tokio::test]
    async fn every_place_of_a_frame_that_failed_meets_its_failure() {
        let scan = Arc::new(LeafExec::new(Scan {
            fails_first: true,
            ..Scan::default()
        }));
        let frame = SharedFrameExec::new(FrameRun::new("f", scan.clone(), schema()));
        let context = Arc::new(TaskContext::default());
        for place in ["first", "second"] {
            let stream = frame.execute(0, Arc::clone(&context)).unwrap();
            let e = collect(stream).await.expect_err(place).to_string();
            assert!(e.contains("the read failed"), "{place}: {e}");
        }
        assert_eq!(scan.runs.load(Ordering::SeqCst), 1, "computed once");
    }

    #[tokio::test]
    async fn a_frame_whose_first_place_was_dropped_is_computed_once() {
        let scan = Arc::new(LeafExec::new(Scan {
            wait: std::time::Duration::from_millis(200),
            ..Scan::default()
        }));
        let frame = SharedFrameExec::new(FrameRun::new("f", scan.clone(), schema()));
        let context = Arc::new(TaskContext::default());
        // The first place gives up before the frame is computed (its output failed).
        let first = collect(frame.execute(0, Arc::clone(&context)).unwrap());
        let wait = std::time::Duration::from_millis(20);
        assert!(tokio::time::timeout(wait, first).await.is_err());
        let rows: usize = collect(frame.execute(0, context).unwrap())
            .await
            .unwrap()
            .iter()
            .map(RecordBatch::num_rows)
            .sum();
        assert_eq!(rows, 1);
        assert_eq!(scan.runs.load(Ordering::SeqCst), 1, "computed once");
    }
}
