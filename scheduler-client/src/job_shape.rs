//! How a plan runs on a Ballista cluster: the stages the scheduler's planner cuts it into
//! and the tasks they make. Computed here with the scheduler's own planner, so that tests
//! and `bench` can count what each event costs the cluster without asking one.

use std::sync::Arc;

use ballista_core::JobId;
use ballista_scheduler::planner::{DefaultDistributedPlanner, DistributedPlanner};
use datafusion::config::ConfigOptions;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};

use crate::error::Result;

/// The stages of one job and the tasks they make (one per input partition of a stage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobShape {
    pub stages: usize,
    pub tasks: usize,
}

/// The shape the scheduler would give `plan` under `config` (a Ballista session's options).
pub fn job_shape(plan: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> Result<JobShape> {
    let stages = DefaultDistributedPlanner::new()
        .plan_query_stages(&JobId::new("job-shape"), plan, config)
        .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
    let tasks = stages
        .iter()
        .map(|stage| {
            stage
                .children()
                .first()
                .map_or(1, |input| input.output_partitioning().partition_count())
        })
        .sum();
    Ok(JobShape {
        stages: stages.len(),
        tasks,
    })
}
