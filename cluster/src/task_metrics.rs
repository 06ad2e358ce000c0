//! The tasks this executor runs, counted for `/metrics`: Ballista's execution engine, each
//! task's run wrapped in counters. The counters are atomics, registered once on
//! Prometheus' default registry; a task costs a few adds and one histogram observation.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use ballista_core::JobId;
use ballista_core::serde::protobuf::{
    RuntimeStatsReport, ShuffleWritePartition, TaskColumnStats, WindowStateReport,
};
use ballista_executor::execution_engine::{
    DefaultExecutionEngine, ExecutionEngine, QueryStageExecutor,
};
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::prelude::SessionConfig;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge};

use bydelsfakta_queries::metrics::registered;

use crate::client_pool::ClientPool;

struct Counters {
    started: IntCounter,
    running: IntGauge,
    completed: IntCounter,
    failed: IntCounter,
    cancelled: IntCounter,
    duration: Histogram,
}

static COUNTERS: LazyLock<Counters> = LazyLock::new(|| Counters {
    started: registered(IntCounter::new(
        "bydelsfakta_tasks_started_total",
        "Tasks this executor started",
    )),
    running: registered(IntGauge::new(
        "bydelsfakta_tasks_running",
        "Tasks this executor runs now",
    )),
    completed: registered(IntCounter::new(
        "bydelsfakta_tasks_completed_total",
        "Tasks this executor completed",
    )),
    failed: registered(IntCounter::new(
        "bydelsfakta_tasks_failed_total",
        "Tasks that failed on this executor (an error or a panic)",
    )),
    cancelled: registered(IntCounter::new(
        "bydelsfakta_tasks_cancelled_total",
        "Tasks the scheduler cancelled while this executor ran them",
    )),
    duration: registered(Histogram::with_opts(
        HistogramOpts::new(
            "bydelsfakta_task_duration_seconds",
            "How long the tasks this executor completed ran",
        )
        .buckets(vec![
            0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        ]),
    )),
});

/// Registers the counters now, so that a scrape shows them at 0 before the first task.
pub fn register() {
    LazyLock::force(&COUNTERS);
}

/// One task between its start and its end. Dropped without an end, it was cancelled (the
/// executor aborts a task's future) or it panicked (dropped while unwinding).
struct RunningTask {
    started: Instant,
    ended: bool,
}

impl RunningTask {
    fn start() -> Self {
        COUNTERS.started.inc();
        COUNTERS.running.inc();
        Self {
            started: Instant::now(),
            ended: false,
        }
    }

    fn end(mut self, succeeded: bool) {
        self.ended = true;
        if succeeded {
            COUNTERS.completed.inc();
            COUNTERS
                .duration
                .observe(self.started.elapsed().as_secs_f64());
        } else {
            COUNTERS.failed.inc();
        }
    }
}

impl Drop for RunningTask {
    fn drop(&mut self) {
        COUNTERS.running.dec();
        if !self.ended {
            if std::thread::panicking() {
                COUNTERS.failed.inc();
            } else {
                COUNTERS.cancelled.inc();
            }
        }
    }
}

/// Ballista's default execution engine (with its shuffle client pool when `client_ttl`
/// is not 0, as Ballista builds it), each task counted.
pub fn counted_engine(client_ttl: u64) -> Arc<dyn ExecutionEngine> {
    let inner = if client_ttl > 0 {
        DefaultExecutionEngine::with_client_pool(Arc::new(ClientPool::new(Duration::from_secs(
            client_ttl,
        ))))
    } else {
        DefaultExecutionEngine::new()
    };
    Arc::new(CountedEngine { inner })
}

struct CountedEngine {
    inner: DefaultExecutionEngine,
}

impl ExecutionEngine for CountedEngine {
    fn create_query_stage_exec(
        &self,
        job_id: JobId,
        stage_id: usize,
        task_id: usize,
        global_output_partition_ids: Vec<usize>,
        plan: Arc<dyn ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> Result<Arc<dyn QueryStageExecutor>> {
        let inner = self.inner.create_query_stage_exec(
            job_id,
            stage_id,
            task_id,
            global_output_partition_ids,
            plan,
            work_dir,
            config,
        )?;
        Ok(Arc::new(CountedStage { inner }))
    }
}

/// A task's stage, whose run is counted; everything else is the inner stage's.
#[derive(Debug)]
struct CountedStage {
    inner: Arc<dyn QueryStageExecutor>,
}

impl fmt::Display for CountedStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait::async_trait]
impl QueryStageExecutor for CountedStage {
    async fn execute_query_stage(
        &self,
        task_id: usize,
        context: Arc<TaskContext>,
    ) -> Result<Vec<ShuffleWritePartition>> {
        let task = RunningTask::start();
        let result = self.inner.execute_query_stage(task_id, context).await;
        task.end(result.is_ok());
        result
    }

    fn collect_plan_metrics(&self) -> Vec<MetricsSet> {
        self.inner.collect_plan_metrics()
    }

    fn collect_runtime_stats_reports(&self) -> Vec<RuntimeStatsReport> {
        self.inner.collect_runtime_stats_reports()
    }

    fn collect_window_state_reports(&self) -> Result<Vec<WindowStateReport>> {
        self.inner.collect_window_state_reports()
    }

    fn collect_column_stats(&self) -> Vec<TaskColumnStats> {
        self.inner.collect_column_stats()
    }
}
