//! One invocation: the event to the engine, the outcome to the Runtime API's terms.

use std::time::{Duration, Instant, SystemTime};

use lambda_runtime::{Diagnostic, LambdaEvent};
use opentelemetry::context::FutureExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_aws::trace::XrayPropagator;
use serde_json::Value;
use tracing::Instrument;

use crate::config::ShimConfig;
use bydelsfakta_scheduler_client::engine::EngineKind;
use bydelsfakta_scheduler_client::{Engine, Error, RunOptions, run_event, today_utc};

/// A failed invocation; the Runtime API reports it as `errorType` (the error's stable
/// kind, the original's exception name where one exists) and `errorMessage`.
#[derive(Debug)]
pub struct InvocationError(pub Error);

impl From<Error> for InvocationError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl From<InvocationError> for Diagnostic {
    fn from(InvocationError(e): InvocationError) -> Self {
        Diagnostic {
            error_type: e.kind().to_string(),
            error_message: e.to_string(),
        }
    }
}

/// Runs one pipeline event and returns its step output. Everything it logs (the run's
/// record among it) carries the invocation's `requestId`.
///
/// Each invocation connects afresh: a warm container keeps nothing from one event to the
/// next (docs/deviations.md D4), and a scheduler that was down for one event is retried for the next.
pub async fn handle(
    config: &ShimConfig,
    event: LambdaEvent<Value>,
) -> Result<Value, InvocationError> {
    let span = tracing::info_span!("invocation", requestId = %event.context.request_id);
    let parent = trace_parent(event.context.xray_trace_id.as_deref());
    run(config, event)
        .instrument(span)
        .with_context(parent)
        .await
}

/// The caller's trace, from the invocation's `Lambda-Runtime-Trace-Id` header (X-Ray's
/// `Root=…;Parent=…;Sampled=…`): the run's spans become its children.
pub fn trace_parent(header: Option<&str>) -> opentelemetry::Context {
    let Some(header) = header else {
        return opentelemetry::Context::new();
    };
    let carrier =
        std::collections::HashMap::from([("x-amzn-trace-id".to_string(), header.to_string())]);
    XrayPropagator::new().extract(&carrier)
}

/// Kept back from the invocation's deadline: time to cancel a cluster job that is still
/// running (the job client gives the scheduler 2 s to answer) and to report the error,
/// before Lambda stops the function.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

/// The instant by which the invocation's cluster jobs must end: its deadline less
/// [`DEADLINE_MARGIN`], on this process's clock.
pub fn jobs_deadline(invocation_deadline: SystemTime) -> Instant {
    let left = invocation_deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    Instant::now() + left.saturating_sub(DEADLINE_MARGIN)
}

/// Kept back from the end of a run's time for the part of a publication that changes
/// documents (the journal, the moves, the manifest, the clean-up): one that could not
/// begin it this long before that end is refused instead (`JobTimeoutError`, nothing
/// published), so that Lambda never stops a run halfway through its documents.
pub const PUBLICATION_RESERVE: Duration = Duration::from_secs(2);

/// The deadline of the invocation's publications: the end of its run's time less
/// [`PUBLICATION_RESERVE`]. That end is the cluster jobs' deadline ([`jobs_deadline`]) with
/// a scheduler, as a job is cancelled then; in the shim's own process, the invocation's
/// deadline, as nothing needs cancelling.
pub fn publication_deadline(invocation_deadline: SystemTime, with_scheduler: bool) -> SystemTime {
    let end = match with_scheduler {
        true => invocation_deadline
            .checked_sub(DEADLINE_MARGIN)
            .unwrap_or(SystemTime::UNIX_EPOCH),
        false => invocation_deadline,
    };
    end.checked_sub(PUBLICATION_RESERVE)
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

async fn run(config: &ShimConfig, event: LambdaEvent<Value>) -> Result<Value, InvocationError> {
    let invocation_deadline = event.context.deadline();
    let engine = Engine::connect(
        EngineKind::Embedded,
        config.scheduler.as_deref(),
        &config.bucket,
    )
    .await
    // A run that fails later logs its own record; this one never started.
    .inspect_err(|e| tracing::error!(kind = e.kind(), "{e}"))?
    // A job still running when Lambda stops the function would run on without anyone to
    // report it: it is cancelled first, and the invocation fails with `JobTimeoutError`.
    .with_deadline(jobs_deadline(invocation_deadline));
    let options = RunOptions {
        published_date: config.published_date.clone().unwrap_or_else(today_utc),
        dry_run: false,
        function: config.function.clone(),
        // A publication waits for another's lease, and begins to change documents, only
        // while it can still finish before the run is stopped: the error is then ours
        // (`PublicationInProgressError`, `JobTimeoutError`), not Lambda's "Task timed out"
        // with a set half replaced.
        publish: config.publish.with_deadline(publication_deadline(
            invocation_deadline,
            config.scheduler.is_some(),
        )),
    };
    let outcome = run_event(
        &engine,
        &config.bucket,
        &event.payload.to_string(),
        &options,
    )
    .await?;
    Ok(
        serde_json::from_str(&outcome.step_output.to_python_string())
            .expect("the step output is JSON"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_end_a_margin_before_the_invocation() {
        let deadline = SystemTime::now() + Duration::from_secs(60);
        let left = jobs_deadline(deadline).saturating_duration_since(Instant::now());
        assert!(left <= Duration::from_secs(55), "{left:?}");
        assert!(left > Duration::from_secs(50), "{left:?}");
        // Already within the margin, or past the deadline: no time for a job.
        for deadline in [
            SystemTime::now() + Duration::from_secs(3),
            SystemTime::now() - Duration::from_secs(3),
        ] {
            assert!(jobs_deadline(deadline) <= Instant::now());
        }
    }

    #[test]
    fn publications_keep_a_reserve_before_the_run_is_stopped() {
        let deadline = SystemTime::now() + Duration::from_secs(60);
        let left = |end: SystemTime| end.duration_since(SystemTime::now()).unwrap();
        // In the shim's process: the invocation's deadline less the reserve.
        let embedded = left(publication_deadline(deadline, false));
        assert!(embedded <= Duration::from_secs(58), "{embedded:?}");
        assert!(embedded > Duration::from_secs(55), "{embedded:?}");
        // On a cluster: before the jobs are cancelled, less the reserve.
        let cluster = left(publication_deadline(deadline, true));
        assert!(cluster <= Duration::from_secs(53), "{cluster:?}");
        assert!(cluster > Duration::from_secs(50), "{cluster:?}");
    }
}
