//! A [`PlanExecutor`] that runs plans embedded and counts them: each is a job on a cluster
//! (the reader's probes, a bad cell's lookup), so tests count an event's jobs without one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bydelsfakta_queries::reader::PlanExecutor;
use bydelsfakta_scheduler_client::Engine;
use datafusion::arrow::array::RecordBatch;
use datafusion::physical_plan::ExecutionPlan;

pub struct CountingExecutor {
    pub engine: Engine,
    jobs: AtomicUsize,
}

impl CountingExecutor {
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            jobs: AtomicUsize::new(0),
        }
    }

    /// The plans run so far.
    pub fn jobs(&self) -> usize {
        self.jobs.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl PlanExecutor for CountingExecutor {
    async fn collect(
        &self,
        plan: Arc<dyn ExecutionPlan>,
    ) -> bydelsfakta_queries::Result<Vec<RecordBatch>> {
        self.jobs.fetch_add(1, Ordering::SeqCst);
        self.engine.collect(plan).await
    }
}
