//! Where plans run. The default is embedded: DataFusion's own executor in this process,
//! with our functions and the bucket's object store registered. Ballista standalone (a
//! scheduler and an executor in this process) runs the same physical plans through
//! Ballista's task machinery; it costs at least ~100 ms per job (notes §11), so it is the
//! choice for checking the distributed path, not the default.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::Result;
use crate::stores::register_bucket;
use bydelsfakta_queries::bucket::Bucket;

/// What one writer plan reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSummary {
    pub output_dataset: String,
    pub documents: usize,
    pub bytes: usize,
}

impl WriteSummary {
    fn from_batches(batches: &[RecordBatch]) -> Self {
        let batch = batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .expect("the writer yields one row");
        Self {
            output_dataset: batch.column(0).as_string::<i32>().value(0).to_string(),
            documents: batch.column(1).as_primitive::<Int64Type>().value(0) as usize,
            bytes: batch.column(2).as_primitive::<Int64Type>().value(0) as usize,
        }
    }
}

/// Session settings shared by every engine: small inputs read as one partition each (the
/// reader numbers rows in file order), a few partitions for the rest.
pub fn session_config() -> SessionConfig {
    let parallelism = std::thread::available_parallelism().map_or(2, |n| n.get());
    SessionConfig::new()
        .with_target_partitions(parallelism)
        .with_repartition_file_scans(false)
        .with_information_schema(true)
}

/// A session that plans and runs our plans.
pub struct Engine {
    ctx: SessionContext,
}

impl Engine {
    /// DataFusion in this process, reading and writing `bucket`.
    pub async fn embedded(bucket: &Bucket) -> Result<Self> {
        let runtime = RuntimeEnvBuilder::new().build_arc()?;
        register_bucket(&runtime, bucket)?;
        let state = SessionStateBuilder::new()
            .with_default_features()
            .with_config(session_config())
            .with_runtime_env(runtime)
            .build();
        let mut ctx = SessionContext::new_with_state(state);
        bydelsfakta_udfs::register_all(&mut ctx)?;
        Ok(Self { ctx })
    }

    /// The context plans are built on.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs a writer plan to completion and returns its summary.
    pub async fn execute(&self, plan: Arc<dyn ExecutionPlan>) -> Result<WriteSummary> {
        let batches = collect(plan, self.ctx.task_ctx()).await?;
        Ok(WriteSummary::from_batches(&batches))
    }
}
