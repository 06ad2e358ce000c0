//! Cancels Flight SQL jobs that run past the statement timeout. The guard stops waiting for
//! a statement at the timeout; without this its job would go on running on the executors
//! (`generate_series(1, 1e11)` for hours). Ballista names a Flight SQL job after its
//! statement, which the guard has marked; the pipeline's jobs are left alone.

use std::time::Duration;

use ballista_scheduler::scheduler_server::{SchedulerServer, timestamp_millis};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use super::guard::MARKER;

/// Looks for overdue jobs every `limit / 10` (at least every 100 ms, at most every second).
pub fn spawn(scheduler: SchedulerServer<LogicalPlanNode, PhysicalPlanNode>, limit: Duration) {
    let period = (limit / 10).clamp(Duration::from_millis(100), Duration::from_secs(1));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        loop {
            ticks.tick().await;
            cancel_overdue(&scheduler, limit).await;
        }
    });
}

async fn cancel_overdue(
    scheduler: &SchedulerServer<LogicalPlanNode, PhysicalPlanNode>,
    limit: Duration,
) {
    let now = timestamp_millis();
    let limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
    let running = scheduler.state.task_manager.get_running_job_cache();
    for (job_id, job) in running.iter() {
        let overdue = {
            let graph = job.execution_graph.read().await;
            graph.job_name().starts_with(MARKER)
                && now.saturating_sub(graph.start_time()) > limit_ms
        };
        if overdue {
            tracing::warn!(
                "Flight SQL job {job_id} ran past --flight-sql-timeout ({} s): cancelled",
                limit.as_secs_f64()
            );
            if let Err(e) = scheduler.cancel_job(job_id.clone()).await {
                tracing::warn!("cancelling Flight SQL job {job_id}: {e}");
            }
        }
    }
}
