//! A plan that runs as one task: one job, one stage, on one executor.
//!
//! Ballista cuts a plan into stages at every exchange, union branch and broadcast join, and
//! each stage is scheduled, written to the executors' work dirs and fetched back. Our plans
//! over a few thousand rows made up to 482 stages a job that way (`job_shape`), and the
//! stages, not the rows, were the cost. [`SingleTaskExec`] shows Ballista's planner a leaf:
//! the plan inside travels encoded, and the one task that runs it runs the whole plan on
//! its executor, as the embedded engine runs it in process. The engine chooses it by input
//! size ([`crate::engine::SINGLE_TASK_MAX_INPUT_BYTES`]), so large inputs still spread.

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties, SendableRecordBatchStream,
};
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use crate::shared_frames::{decode_plans, encode_plans};

/// Runs `plan` whole, as one partition, wherever this operator runs.
#[derive(Debug)]
pub struct SingleTaskExec {
    plan: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl SingleTaskExec {
    pub fn new(plan: Arc<dyn ExecutionPlan>) -> Self {
        // Several partitions inside are merged in their order, as the writer would.
        let plan: Arc<dyn ExecutionPlan> = if plan.output_partitioning().partition_count() > 1 {
            Arc::new(CoalescePartitionsExec::new(plan))
        } else {
            plan
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(plan.schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self { plan, properties }
    }

    /// The plan this operator runs.
    pub fn plan(&self) -> &Arc<dyn ExecutionPlan> {
        &self.plan
    }
}

impl DisplayAs for SingleTaskExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SingleTaskExec: {}", self.plan.name())
    }
}

impl ExecutionPlan for SingleTaskExec {
    fn name(&self) -> &str {
        "SingleTaskExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    /// None: Ballista's planner must not see (and cut) the plan inside.
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
                "SingleTaskExec takes no children".into(),
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
                "SingleTaskExec has one partition, asked for {partition}"
            )));
        }
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
            (Some(plan), true) => Ok(Arc::new(SingleTaskExec::new(plan))),
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
            std::slice::from_ref(&single.plan),
            proto_converter,
        )?);
        Ok(())
    }
}
