//! Jobs on a Ballista scheduler: submit a physical plan, follow its status, collect its
//! result, over one connection per engine and within a deadline.
//!
//! Ballista's own client (`execute_physical_plan`) connects to the scheduler again for
//! every job (its TODO in `distributed_query.rs`) and waits for the job's end without
//! limit: a task that no executor takes, or can receive, keeps it waiting forever. This
//! client keeps one channel (tonic multiplexes a batch's jobs over it), learns the job's id
//! as it submits it (a pushed status names the job only once it runs, so a job still
//! queued at the deadline could not be cancelled), polls the status at an interval that
//! grows with the job's age ([`poll_interval`]), asks again through a scheduler's brief
//! absence, says so when a restarted scheduler no longer knows the job (`JobLostError`),
//! and cancels the job when the deadline passes. It sends what
//! Ballista's client sends (the plan, the session's settings, the version header), so a
//! stock scheduler serves it, and reports a failed job in Ballista's words.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ballista_core::client::BallistaClient;
use ballista_core::extension::SessionConfigExt;
use ballista_core::serde::protobuf::execute_query_params::Query;
use ballista_core::serde::protobuf::get_job_status_result::FlightProxy;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{
    CancelJobParams, ExecuteQueryParams, GetJobStatusParams, GetJobStatusResult, KeyValuePair,
    PartitionLocation, SuccessfulJob, execute_query_result, job_status,
};
use ballista_core::utils::{GrpcClientConfig, create_grpc_client_endpoint};
use datafusion::arrow::array::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use datafusion_proto::physical_plan::AsExecutionPlan;
use datafusion_proto::protobuf::PhysicalPlanNode;
use prost::Message;
use tokio::sync::OnceCell;
use tonic::transport::Channel;

use crate::error::{Error, Result};
use crate::standalone::Standalone;

/// How long a job may take, from submission to its last result batch, unless
/// [`JOB_TIMEOUT_VARIABLE`] says otherwise: Lambda's own limit for one invocation.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(15 * 60);
pub const JOB_TIMEOUT_VARIABLE: &str = "BYDELSFAKTA_JOB_TIMEOUT_SECS";

/// A finished job: its id on the scheduler and its result.
#[derive(Debug)]
pub struct FinishedJob {
    pub job_id: String,
    pub batches: Vec<RecordBatch>,
}

/// How long the scheduler has to answer the cancellation of a job past its deadline; the
/// job's outcome is reported either way.
const CANCEL_WITHIN: Duration = Duration::from_secs(2);

/// How long a job's status is asked for again while the scheduler cannot be reached (a
/// network blip, a scheduler restarting), before the run fails: as long as a first
/// connection may take.
const UNREACHABLE_FOR: Duration = Duration::from_secs(10);

/// How often a scheduler that cannot be reached is asked again.
const ASK_AGAIN_EVERY: Duration = Duration::from_millis(200);

/// How long a job the scheduler accepted may stay unknown to it: it queues a job within
/// milliseconds, so one it does not know after this was lost (another scheduler answers).
const UNKNOWN_FOR: Duration = Duration::from_secs(10);

/// How long a job the scheduler has named may be unknown to it before it counts as lost:
/// Ballista's in-memory state moves a job from one map to the next in two steps (a job that
/// fails before it runs is removed from the queue, then added to the finished jobs), and a
/// status asked for in between finds none.
const UNKNOWN_ONCE_KNOWN_FOR: Duration = Duration::from_secs(1);

/// One scheduler's jobs, over one channel made on the first job.
#[derive(Debug)]
pub struct JobClient {
    scheduler_url: String,
    channel: OnceCell<Channel>,
    timeout: Duration,
    /// No job runs past this instant (a Lambda invocation's end, less a margin), whatever
    /// `timeout` leaves it.
    deadline: Option<Instant>,
    /// The in-process scheduler and executor of `--engine standalone`: the executor is
    /// woken before each status request so that it reports the tasks it finished.
    standalone: Option<Arc<Standalone>>,
}

impl JobClient {
    pub fn new(scheduler_url: String, timeout: Duration) -> Self {
        Self {
            scheduler_url,
            channel: OnceCell::new(),
            timeout,
            deadline: None,
            standalone: None,
        }
    }

    /// The same client, giving up on a job `timeout` after its submission.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            timeout,
            ..self.settings()
        }
    }

    /// The same client, giving up on every job at `deadline` at the latest.
    pub fn with_deadline(&self, deadline: Instant) -> Self {
        Self {
            deadline: Some(deadline),
            ..self.settings()
        }
    }

    /// A client with this one's settings and a channel of its own.
    fn settings(&self) -> Self {
        Self {
            scheduler_url: self.scheduler_url.clone(),
            channel: OnceCell::new(),
            timeout: self.timeout,
            deadline: self.deadline,
            standalone: self.standalone.clone(),
        }
    }

    /// How long the job submitted now may take, and whether the deadline set that.
    fn limit(&self) -> (Duration, bool) {
        match self.deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                (self.timeout.min(left), left < self.timeout)
            }
            None => (self.timeout, false),
        }
    }

    /// The same client, for the in-process `standalone` (kept while the client lives).
    pub fn for_standalone(self, standalone: Option<Arc<Standalone>>) -> Self {
        Self { standalone, ..self }
    }

    /// The in-process scheduler and executor this client serves, if any.
    pub fn standalone(&self) -> Option<Arc<Standalone>> {
        self.standalone.clone()
    }

    pub fn scheduler_url(&self) -> &str {
        &self.scheduler_url
    }

    /// Runs `plan` as one job in session `session_id` with `config`'s settings and codec;
    /// fails with [`Error::JobTimeout`] (the job cancelled) when it takes longer than the
    /// deadline.
    pub async fn run(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &SessionConfig,
        session_id: &str,
    ) -> Result<FinishedJob> {
        let (limit, by_deadline) = self.limit();
        let timed_out = |job_id: String| Error::JobTimeout {
            url: self.scheduler_url.clone(),
            job_id,
            seconds: limit.as_secs(),
            by_deadline,
        };
        // Past the deadline already: a job submitted now could only be cancelled.
        if limit.is_zero() {
            return Err(timed_out("(not submitted)".into()));
        }
        let grpc = GrpcClientConfig::from(&config.ballista_config());
        let mut scheduler = self.scheduler(&grpc).await?;
        let query = query(plan, config, session_id)?;
        let mut job_id = None;
        let job = tokio::time::timeout(
            limit,
            self.follow(&mut scheduler, query, &grpc, &mut job_id),
        )
        .await;
        match job {
            Ok(result) => result,
            Err(_) => {
                if let Some(job_id) = &job_id {
                    cancel(&mut scheduler, job_id).await;
                }
                Err(timed_out(
                    job_id.unwrap_or_else(|| "(not yet submitted)".into()),
                ))
            }
        }
    }

    async fn scheduler(&self, grpc: &GrpcClientConfig) -> Result<SchedulerGrpcClient<Channel>> {
        let channel = self
            .channel
            .get_or_try_init(|| async {
                create_grpc_client_endpoint(self.scheduler_url.clone(), Some(grpc))
                    .map_err(|e| self.unavailable(e))?
                    .connect()
                    .await
                    .map_err(|e| self.unavailable(format!("not reachable: {e}")))
            })
            .await?;
        Ok(SchedulerGrpcClient::new(channel.clone())
            .max_encoding_message_size(grpc.max_message_size)
            .max_decoding_message_size(grpc.max_message_size))
    }

    /// Submits `query`, follows the job to its end (naming it in `job_id` as soon as the
    /// scheduler does) and fetches its result.
    async fn follow(
        &self,
        scheduler: &mut SchedulerGrpcClient<Channel>,
        query: ExecuteQueryParams,
        grpc: &GrpcClientConfig,
        job_id: &mut Option<String>,
    ) -> Result<FinishedJob> {
        let submitted = Instant::now();
        let mut request = tonic::Request::new(query);
        ballista_core::version::insert_version_header(request.metadata_mut());
        let response = scheduler
            .execute_query(request)
            .await
            .map_err(|e| self.unavailable(e.message()))?;
        ballista_core::version::check_compatibility(
            Some(ballista_core::BALLISTA_VERSION),
            ballista_core::version::version_from_metadata(response.metadata()),
        )
        .map_err(|e| self.unavailable(e))?;
        let id = match response.into_inner().result {
            Some(execute_query_result::Result::Success(success)) => success.job_id,
            failure => {
                return Err(DataFusionError::Execution(format!(
                    "Fail to execute query due to {failure:?}"
                ))
                .into());
            }
        };
        *job_id = Some(id.clone());
        // The scheduler has named the job as queued or running.
        let mut known = false;
        // Since when the scheduler has not known the job.
        let mut unknown_since: Option<Instant> = None;
        // Since when the scheduler has not been reached.
        let mut unreachable_since: Option<Instant> = None;
        loop {
            if let Some(standalone) = &self.standalone {
                standalone.wake_executor();
            }
            let answer = scheduler
                .get_job_status(GetJobStatusParams { job_id: id.clone() })
                .await;
            let GetJobStatusResult {
                status,
                flight_proxy,
            } = match answer {
                Ok(answer) => {
                    unreachable_since = None;
                    answer.into_inner()
                }
                Err(e) if is_unreachable(&e) => {
                    let since = *unreachable_since.get_or_insert_with(|| {
                        tracing::warn!(
                            job = %id,
                            "scheduler {} did not answer about the job ({}); asking again for up to {} s",
                            self.scheduler_url,
                            e.message(),
                            UNREACHABLE_FOR.as_secs()
                        );
                        Instant::now()
                    });
                    if since.elapsed() >= UNREACHABLE_FOR {
                        return Err(self.unavailable(format!(
                            "no answer about job {id} for {} s: {}",
                            UNREACHABLE_FOR.as_secs(),
                            e.message()
                        )));
                    }
                    tokio::time::sleep(ASK_AGAIN_EVERY).await;
                    continue;
                }
                Err(e) => return Err(self.unavailable(e.message())),
            };
            let status = status.and_then(|s| s.status);
            let unknown_for = match status {
                Some(_) => {
                    unknown_since = None;
                    Duration::ZERO
                }
                None => unknown_since.get_or_insert_with(Instant::now).elapsed(),
            };
            match status {
                Some(job_status::Status::Failed(failed)) => {
                    return Err(DataFusionError::Execution(format!(
                        "Job {id} failed: {}",
                        failed.error
                    ))
                    .into());
                }
                Some(job_status::Status::Successful(SuccessfulJob {
                    partition_location, ..
                })) => {
                    let mut batches = vec![];
                    for location in partition_location {
                        batches.extend(self.fetch(location, &flight_proxy, grpc).await?);
                    }
                    return Ok(FinishedJob {
                        job_id: id,
                        batches,
                    });
                }
                // Unknown: not yet queued (the scheduler queues a job just after it
                // answers), or lost (the scheduler restarted, or another one answered).
                None if (known && unknown_for >= UNKNOWN_ONCE_KNOWN_FOR)
                    || submitted.elapsed() >= UNKNOWN_FOR =>
                {
                    return Err(Error::JobLost {
                        url: self.scheduler_url.clone(),
                        job_id: id,
                    });
                }
                None => tokio::time::sleep(poll_interval(submitted.elapsed())).await,
                // Queued or running.
                Some(_) => {
                    known = true;
                    tokio::time::sleep(poll_interval(submitted.elapsed())).await
                }
            }
        }
    }

    /// One partition of a finished job's result, from the executor that holds it (or the
    /// proxy the scheduler names).
    async fn fetch(
        &self,
        location: PartitionLocation,
        flight_proxy: &Option<FlightProxy>,
        grpc: &GrpcClientConfig,
    ) -> Result<Vec<RecordBatch>> {
        let layout = location.layout();
        let missing = |what: &str| DataFusionError::Internal(format!("result without {what}"));
        let executor = location.executor_meta.ok_or_else(|| missing("executor"))?;
        let partition = location
            .partition_id
            .ok_or_else(|| missing("partition id"))?;
        let (host, port) = match flight_proxy {
            Some(FlightProxy::External(address)) => split_host_port(address)?,
            Some(FlightProxy::Local(true)) => {
                let url = url::Url::parse(&self.scheduler_url).map_err(|e| self.unavailable(e))?;
                (
                    url.host_str().unwrap_or("localhost").to_string(),
                    url.port().unwrap_or(50050),
                )
            }
            _ => (executor.host.clone(), executor.port as u16),
        };
        let mut client = BallistaClient::try_new(
            &host,
            port,
            grpc.max_message_size,
            grpc.use_tls,
            None,
            grpc.io_retries_times,
            grpc.io_retry_wait_time_ms,
            0,
            0,
        )
        .await
        .map_err(|e| DataFusionError::Execution(format!("{e:?}")))?;
        let stream = client
            .fetch_partition_proxied(
                &executor.id,
                &partition.into(),
                location.file_id,
                layout,
                &executor.host,
                executor.port as u16,
                true,
            )
            .await
            .map_err(|e| e.into_datafusion())?;
        Ok(datafusion::physical_plan::common::collect(stream).await?)
    }

    fn unavailable(&self, problem: impl std::fmt::Display) -> Error {
        Error::Scheduler {
            url: self.scheduler_url.clone(),
            problem: problem.to_string(),
        }
    }
}

/// The job's request, as Ballista's client makes it.
fn query(
    plan: Arc<dyn ExecutionPlan>,
    config: &SessionConfig,
    session_id: &str,
) -> Result<ExecuteQueryParams> {
    let codec = config.ballista_physical_extension_codec();
    let node = PhysicalPlanNode::try_from_physical_plan(plan, codec.as_ref())?;
    let settings = config
        .options()
        .entries()
        .into_iter()
        .map(|entry| KeyValuePair {
            key: entry.key,
            value: entry.value,
        })
        .collect();
    Ok(ExecuteQueryParams {
        query: Some(Query::PhysicalPlan(node.encode_to_vec())),
        settings,
        session_id: session_id.to_string(),
        operation_id: uuid::Uuid::now_v7().to_string(),
    })
}

/// How long to wait before asking for a job's status again, `elapsed` after submitting
/// it. Our jobs mostly take tens of milliseconds, so a fixed 50 ms poll (Ballista's) would
/// add half a job to each; the interval grows with the job's age, so that the wait past
/// its end stays about a tenth of its time, and the scheduler is asked at most 20 times
/// a second for a long job.
fn poll_interval(elapsed: Duration) -> Duration {
    (Duration::from_millis(2) + elapsed / 10).min(Duration::from_millis(50))
}

/// Whether a status call failed for want of the scheduler (no connection, a connection
/// that broke off), not because the scheduler refused it: such a call is asked again.
fn is_unreachable(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
    )
}

/// Cancels a job whose result will not be read; a failure only leaves it to run out.
async fn cancel(scheduler: &mut SchedulerGrpcClient<Channel>, job_id: &str) {
    let params = CancelJobParams {
        job_id: job_id.to_string(),
    };
    match tokio::time::timeout(CANCEL_WITHIN, scheduler.cancel_job(params)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!("could not cancel job {job_id}: {}", e.message()),
        Err(_) => tracing::warn!(
            "could not cancel job {job_id}: the scheduler did not answer within {} s",
            CANCEL_WITHIN.as_secs()
        ),
    }
}

fn split_host_port(address: &str) -> Result<(String, u16)> {
    let bad = || DataFusionError::Execution(format!("flight proxy {address:?} is not host:port"));
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    Ok((host.to_string(), port.parse().map_err(|_| bad())?))
}

/// The deadline as set in the environment when an engine is made, else [`JOB_TIMEOUT`].
pub fn job_timeout_setting() -> Result<Duration> {
    match std::env::var(JOB_TIMEOUT_VARIABLE) {
        Err(_) => Ok(JOB_TIMEOUT),
        Ok(value) => match value.trim().parse::<u64>() {
            Ok(seconds) if seconds > 0 => Ok(Duration::from_secs(seconds)),
            _ => Err(Error::Setting {
                variable: JOB_TIMEOUT_VARIABLE,
                problem: format!("{value:?} is not a whole number of seconds above 0"),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past its deadline, a client submits nothing (its scheduler here does not even
    /// exist, so trying would fail otherwise) and says why.
    #[tokio::test]
    async fn nothing_is_submitted_past_the_deadline() {
        let client = JobClient::new("http://127.0.0.1:9".into(), JOB_TIMEOUT)
            .with_deadline(Instant::now() - Duration::from_millis(1));
        let plan = Arc::new(datafusion::physical_plan::empty::EmptyExec::new(Arc::new(
            datafusion::arrow::datatypes::Schema::empty(),
        )));
        let error = client
            .run(plan, &SessionConfig::new(), "session")
            .await
            .unwrap_err();
        assert_eq!(error.kind(), "JobTimeoutError");
        assert_eq!(
            error.to_string(),
            "scheduler http://127.0.0.1:9: job (not submitted) did not finish within 0 s, the time left before the invocation's deadline and was cancelled"
        );
    }
}
