//! A plan that runs as one task: one job, one stage, on one executor.
//!
//! Ballista cuts a plan into stages at every exchange, union branch and broadcast join, and
//! each stage is scheduled, written to the executors' work dirs and fetched back. Our plans
//! over a few thousand rows made up to 482 stages a job that way (`job_shape`), and the
//! stages, not the rows, were the cost. [`SingleTaskExec`] shows Ballista's planner a leaf:
//! the plan inside travels encoded, and the one task that runs it runs the whole plan on
//! its executor, as the embedded engine runs it in process. The engine chooses it by input
//! size ([`crate::engine::SINGLE_TASK_MAX_INPUT_BYTES`]), so large inputs still spread.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use crate::shared_frames::{decode_plans, encode_plans};
use bydelsfakta_udfs::plan::leaf::{LeafExec, LeafWork, one_partition};

/// Runs a plan whole, as one partition, wherever this operator runs.
pub type SingleTaskExec = LeafExec<SingleTask>;

/// What [`SingleTaskExec`] runs: one plan.
#[derive(Debug)]
pub struct SingleTask {
    plan: Arc<dyn ExecutionPlan>,
}

impl SingleTask {
    /// Several partitions of `plan` are merged in their order, as the writer would.
    pub fn new(plan: Arc<dyn ExecutionPlan>) -> Self {
        Self {
            plan: one_partition(plan),
        }
    }

    /// The plan this operator runs.
    pub fn plan(&self) -> &Arc<dyn ExecutionPlan> {
        &self.plan
    }
}

impl LeafWork for SingleTask {
    const NAME: &'static str = "SingleTaskExec";

    fn schema(&self) -> SchemaRef {
        self.plan.schema()
    }

    fn detail(&self) -> String {
        self.plan.name().to_string()
    }

    fn run(&self, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        self.plan.execute(0, context)
    }
}

const MAGIC: &[u8] = b"bydelsfakta-single-task:";

/// Encodes [`SingleTaskExec`] with the plan inside, itself encoded by the engine's whole
/// codec ([`crate::engine::physical_codec`]: Ballista's operators and ours), with each
/// shared frame encoded once and decoded as one operator ([`encode_plans`]): the task
/// runs it once.
#[derive(Debug, Default, Clone)]
pub struct SingleTaskCodec;

impl PhysicalExtensionCodec for SingleTaskCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        _inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let Some(bytes) = buf.strip_prefix(MAGIC) else {
            return Err(DataFusionError::Internal(
                "not a SingleTaskExec node".into(),
            ));
        };
        let mut plans = decode_plans(bytes, ctx, proto_converter)?;
        match (plans.pop(), plans.is_empty()) {
            (Some(plan), true) => Ok(Arc::new(SingleTaskExec::new(SingleTask::new(plan)))),
            _ => Err(DataFusionError::Internal(
                "a SingleTaskExec node holds one plan".into(),
            )),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        let Some(single) = node.downcast_ref::<SingleTaskExec>() else {
            return Err(DataFusionError::NotImplemented(format!(
                "SingleTaskCodec cannot encode {}",
                node.name()
            )));
        };
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&encode_plans(
            std::slice::from_ref(single.plan()),
            proto_converter,
        )?);
        Ok(())
    }
}
