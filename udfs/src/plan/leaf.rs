//! [`LeafExec`]: an operator that shows planners a one-partition leaf and does its own work
//! inside (a whole plan, several plans, a frame computed once).
//!
//! DataFusion's optimizer and Ballista's stage planner rewrite and cut what they can see.
//! The operators that carry an already planned plan (shared frames here, the cluster's
//! single task and output group in `scheduler-client`) hide it behind one such leaf; only
//! their work differs, so the `ExecutionPlan` plumbing lives here once.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{
    Boundedness, ChildrenPropertiesMode, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties, SendableRecordBatchStream,
};

/// What a [`LeafExec`] does when its one partition runs.
pub trait LeafWork: fmt::Debug + Send + Sync + 'static {
    /// The operator's name in displayed plans.
    const NAME: &'static str;

    /// The schema of the batches [`LeafWork::run`] yields.
    fn schema(&self) -> SchemaRef;

    /// What displayed plans show after the name.
    fn detail(&self) -> String;

    /// The operator's one partition.
    fn run(&self, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream>;
}

/// A one-partition leaf operator doing `W`'s work; derefs to the work.
#[derive(Debug)]
pub struct LeafExec<W> {
    work: W,
    properties: Arc<PlanProperties>,
}

impl<W: LeafWork> LeafExec<W> {
    pub fn new(work: W) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(work.schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self { work, properties }
    }
}

impl<W> Deref for LeafExec<W> {
    type Target = W;

    fn deref(&self) -> &W {
        &self.work
    }
}

/// `plan` with its partitions merged into one, in their order (as a writer reads them).
pub fn one_partition(plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    if plan.output_partitioning().partition_count() > 1 {
        Arc::new(CoalescePartitionsExec::new(plan))
    } else {
        plan
    }
}

impl<W: LeafWork> DisplayAs for LeafExec<W> {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: {}", W::NAME, self.work.detail())
    }
}

impl<W: LeafWork> ExecutionPlan for LeafExec<W> {
    fn name(&self) -> &str {
        W::NAME
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    /// None: planners must not see (and rewrite or cut) what the work runs.
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(format!(
                "{} takes no children",
                W::NAME
            )))
        }
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "{} has one partition, asked for {partition}",
                W::NAME
            )));
        }
        self.work.run(context)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::Schema;
    use datafusion::physical_plan::empty::EmptyExec;

    use super::*;

    #[derive(Debug)]
    struct Nothing;

    impl LeafWork for Nothing {
        const NAME: &'static str = "NothingExec";

        fn schema(&self) -> SchemaRef {
            Arc::new(Schema::empty())
        }

        fn detail(&self) -> String {
            "no rows".into()
        }

        fn run(&self, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
            EmptyExec::new(self.schema()).execute(0, context)
        }
    }

    #[test]
    fn a_leaf_has_one_partition_and_refuses_children() {
        let leaf: Arc<dyn ExecutionPlan> = Arc::new(LeafExec::new(Nothing));
        let context = Arc::new(TaskContext::default());
        assert!(leaf.execute(0, Arc::clone(&context)).is_ok());
        let other = leaf.execute(1, context).err().unwrap().to_string();
        assert!(
            other.contains("NothingExec has one partition, asked for 1"),
            "{other}"
        );
        let child: Arc<dyn ExecutionPlan> = Arc::new(EmptyExec::new(Arc::new(Schema::empty())));
        let options = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
        let refused = Arc::clone(&leaf)
            .replace_children(vec![child], options)
            .err()
            .unwrap();
        assert!(
            refused
                .to_string()
                .contains("NothingExec takes no children")
        );
        assert!(leaf.children().is_empty());
        let shown = datafusion::physical_plan::displayable(leaf.as_ref())
            .one_line()
            .to_string();
        assert_eq!(shown.trim(), "NothingExec: no rows");
    }
}
