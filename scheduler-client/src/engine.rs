//! Where plans run. The default is embedded: DataFusion's own executor in this process,
//! with our functions and the bucket's object store registered. Ballista standalone (a
//! scheduler and an executor in this process) and a remote Ballista cluster run the same
//! physical plans through Ballista's task machinery; that costs at least ~100 ms per job
//! (docs/ballista.md §11), so embedded is the choice for one machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::optimizer::Optimizer;
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::{SessionConfig, SessionContext};

use ballista_core::extension::SessionConfigExt;
use datafusion_proto::physical_plan::{ComposedPhysicalExtensionCodec, PhysicalExtensionCodec};

use crate::error::Result;
use crate::input_size::InputSize;
use crate::job_client::{JobClient, job_timeout_setting};
use crate::optimizer_rules;
use crate::output_group::{OutputGroup, OutputGroupCodec, OutputGroupExec, outcomes};
use crate::shared_frames::{SharedFrameCodec, inline_shared_frames};
use crate::shuffle_inputs::DistinctShuffleInputs;
use crate::single_task::{SingleTask, SingleTaskCodec, SingleTaskExec};
use crate::stores::runtime_for;
use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_queries::function::CommonFrames;
use bydelsfakta_queries::reader::{InputCache, PlanExecutor};
use bydelsfakta_queries::writer::{DocumentWriterCodec, WriteSummary};
use bydelsfakta_udfs::plan::{PlannedFrames, SharedFrames};

/// Session settings shared by every engine: small inputs read as one partition each (the
/// reader numbers rows in file order), a few partitions for the rest, and one optimizer
/// pass: our plans are built narrow, later passes change nothing in them (the documents
/// are identical) but cost a tenth of a batch's CPU.
pub fn session_config() -> SessionConfig {
    let parallelism = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut config = SessionConfig::new()
        .with_target_partitions(parallelism)
        .with_repartition_file_scans(false)
        .with_information_schema(true);
    config.options_mut().optimizer.max_passes = 1;
    config
}

/// The embedded engine's settings: one partition per plan, as the inputs are small and the
/// outputs of a batch run side by side on every core, so repartitioning inside a plan would
/// only add operators; frames that plans compute alike are computed once
/// (`udfs::plan::share`), and the frame a function's types have in common is built once
/// (`queries::function::CommonFrames`).
pub fn embedded_session_config() -> SessionConfig {
    session_config()
        .with_target_partitions(1)
        .with_extension(Arc::new(SharedFrames::default()))
        .with_extension(Arc::new(CommonFrames::default()))
}

/// Where an engine runs its plans.
#[derive(Debug, Clone)]
enum PlanRunner {
    /// DataFusion's executor in this process.
    Embedded,
    /// A Ballista scheduler (in this process for standalone) that receives each physical
    /// plan, encoded with our codec, over one connection.
    Ballista { jobs: Arc<JobClient> },
}

/// How long a client waits for a remote scheduler before giving up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which engine runs the plans, as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum EngineKind {
    /// DataFusion in this process (the fastest for one machine).
    #[default]
    Embedded,
    /// A Ballista scheduler and executor in this process (the distributed path, locally).
    Standalone,
}

/// A session that plans and runs our plans; clones share the session and the inputs.
#[derive(Clone)]
pub struct Engine {
    ctx: SessionContext,
    runner: PlanRunner,
    /// Embedded only: each input object is read and typed once for all the runs of this
    /// engine (the distributed engines scan inputs where their tasks run).
    input_cache: Option<Arc<InputCache>>,
    /// Distributed only: plans over at most this many input bytes run as one task.
    single_task_max_bytes: u64,
    /// Jobs submitted to a scheduler by this engine and its clones.
    jobs_submitted: Arc<AtomicUsize>,
    /// `embedded`, `standalone` or `cluster`, as run records name it.
    name: &'static str,
}

/// What running one writer plan gave: the writer's report, and the cluster job it ran in.
#[derive(Debug)]
pub struct WriterRun {
    pub summary: Result<WriteSummary>,
    pub job_id: Option<String>,
}

/// A plan's result, and the cluster job that computed it.
struct Ran {
    job_id: Option<String>,
    batches: Vec<RecordBatch>,
}

impl Engine {
    /// The engine of `kind` over `bucket`.
    pub async fn new(kind: EngineKind, bucket: &Bucket) -> Result<Self> {
        match kind {
            EngineKind::Embedded => Self::embedded(bucket).await,
            EngineKind::Standalone => Self::ballista_standalone(bucket).await,
        }
    }

    /// A remote scheduler's engine when `scheduler` is given, else the engine of `kind`.
    pub async fn connect(
        kind: EngineKind,
        scheduler: Option<&str>,
        bucket: &Bucket,
    ) -> Result<Self> {
        match scheduler {
            Some(url) => Self::remote(url, bucket, CONNECT_TIMEOUT).await,
            None => Self::new(kind, bucket).await,
        }
    }

    /// A Ballista cluster's scheduler at `scheduler` (`df://host[:port]`, port 50050 by
    /// default). The client plans (listing the bucket and reading headers) and submits;
    /// the executors read the inputs and write the documents. Fails after `timeout` when
    /// the scheduler does not answer.
    pub async fn remote(scheduler: &str, bucket: &Bucket, timeout: Duration) -> Result<Self> {
        let scheduler_url = grpc_url(scheduler)?;
        let endpoint = tonic::transport::Endpoint::from_shared(scheduler_url.clone())
            .map_err(|e| scheduler_error(scheduler, e))?
            .connect_timeout(timeout);
        match tokio::time::timeout(timeout, endpoint.connect()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(scheduler_error(scheduler, format!("not reachable: {e}")));
            }
            Err(_) => {
                return Err(scheduler_error(
                    scheduler,
                    format!("no answer within {} s", timeout.as_secs()),
                ));
            }
        }
        Ok(Self {
            ctx: planning_context(bucket, ballista_session_config())?,
            runner: PlanRunner::Ballista {
                jobs: Arc::new(JobClient::new(scheduler_url, job_timeout_setting()?)),
            },
            input_cache: None,
            single_task_max_bytes: single_task_max_bytes_setting()?,
            jobs_submitted: Arc::default(),
            name: "cluster",
        })
    }

    /// DataFusion in this process, reading and writing `bucket`.
    pub async fn embedded(bucket: &Bucket) -> Result<Self> {
        Ok(Self {
            ctx: planning_context(bucket, embedded_session_config())?,
            runner: PlanRunner::Embedded,
            input_cache: Some(Arc::default()),
            single_task_max_bytes: single_task_max_bytes_setting()?,
            jobs_submitted: Arc::default(),
            name: "embedded",
        })
    }

    /// Ballista standalone: a scheduler and one executor in this process, sharing the
    /// runtime (object stores) and knowing our functions and the writer's codec.
    pub async fn ballista_standalone(bucket: &Bucket) -> Result<Self> {
        let runtime = runtime_for(bucket)?;
        let parallelism = session_config().target_partitions();
        let config = ballista_session_config().with_ballista_standalone_parallelism(parallelism);
        // The scheduler clones this state and the executor snapshots its functions, so
        // they are registered before either starts.
        let state = planning_state(config, runtime)?;
        let standalone = crate::standalone::start(&state, parallelism).await?;
        let scheduler_url = format!("http://localhost:{}", standalone.address.port());
        Ok(Self {
            ctx: SessionContext::new_with_state(state),
            runner: PlanRunner::Ballista {
                jobs: Arc::new(
                    JobClient::new(scheduler_url, job_timeout_setting()?)
                        .for_standalone(Some(Arc::new(standalone))),
                ),
            },
            input_cache: None,
            single_task_max_bytes: single_task_max_bytes_setting()?,
            jobs_submitted: Arc::default(),
            name: "standalone",
        })
    }

    /// The same engine, running plans over more than `bytes` of input as stages on a
    /// cluster, and smaller ones as one task (`0`: every plan as stages, spread over the
    /// executors). No effect embedded.
    pub fn with_single_task_max_bytes(self, bytes: u64) -> Self {
        Self {
            single_task_max_bytes: bytes,
            ..self
        }
    }

    /// The same engine, giving up on (and cancelling) a cluster job that has not finished
    /// `timeout` after its submission ([`crate::Error::JobTimeout`]). No effect embedded.
    pub fn with_job_timeout(self, timeout: Duration) -> Self {
        self.with_jobs(|jobs| jobs.with_timeout(timeout))
    }

    /// The same engine, giving up on (and cancelling) any cluster job still running at
    /// `deadline` ([`crate::Error::JobTimeout`]): the Lambda shim's invocation ends then.
    /// No effect embedded.
    pub fn with_deadline(self, deadline: std::time::Instant) -> Self {
        self.with_jobs(|jobs| jobs.with_deadline(deadline))
    }

    fn with_jobs(self, change: impl FnOnce(&JobClient) -> JobClient) -> Self {
        let runner = match self.runner {
            PlanRunner::Ballista { jobs } => PlanRunner::Ballista {
                jobs: Arc::new(change(&jobs)),
            },
            embedded => embedded,
        };
        Self { runner, ..self }
    }

    /// The same engine, its operators in this process held to `bytes` of memory (sorts,
    /// joins and aggregates fail with a resources-exhausted error beyond it). A cluster's
    /// executors keep their own pools (`--memory-pool-size`).
    pub fn with_memory_limit(self, bytes: usize) -> Result<Self> {
        let registry = Arc::clone(&self.ctx.runtime_env().object_store_registry);
        let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
            .with_object_store_registry(registry)
            .with_memory_limit(bytes, 1.0)
            .build_arc()?;
        let state = SessionStateBuilder::new_from_existing(self.ctx.state())
            .with_runtime_env(runtime)
            .build();
        Ok(Self {
            ctx: SessionContext::new_with_state(state),
            ..self
        })
    }

    /// The same engine, optimizing with every one of DataFusion's logical rules, for queries
    /// other than ours (SQL): our sessions leave out the rules that change nothing in our
    /// plans ([`crate::optimizer_rules`]), subqueries among them.
    pub fn with_every_optimizer_rule(self) -> Self {
        let state = SessionStateBuilder::new_from_existing(self.ctx.state())
            .with_optimizer_rules(Optimizer::new().rules)
            .build();
        Self {
            ctx: SessionContext::new_with_state(state),
            ..self
        }
    }

    /// How many jobs this engine (and its clones) submitted to a scheduler: probes and
    /// writer plans alike. Always 0 embedded.
    pub fn jobs_submitted(&self) -> usize {
        self.jobs_submitted.load(Ordering::Relaxed)
    }

    /// `embedded`, `standalone` or `cluster`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The context plans are built on.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Where plans get their inputs from memory, if this engine keeps them there.
    pub fn input_cache(&self) -> Option<&InputCache> {
        self.input_cache.as_deref()
    }

    /// Frees what this engine keeps in memory of input dataset `dataset` (embedded: its
    /// typed tables, and the shared and common frames built from them), for a batch none
    /// of whose later runs reads it; a run that still does reads it again. Returns how
    /// many objects and frames were forgotten.
    pub fn forget_input(&self, dataset: &str) -> (usize, usize) {
        let Some(cache) = &self.input_cache else {
            return (0, 0);
        };
        let objects = cache.forget_dataset(dataset);
        if objects.is_empty() {
            return (0, 0);
        }
        let state = self.ctx.state_ref();
        let state = state.read();
        let config = state.config();
        let urls = objects.iter().map(|o| o.url.clone()).collect();
        let keys: Vec<String> = objects.iter().map(|o| o.key.clone()).collect();
        let shared = config
            .get_extension::<SharedFrames>()
            .map_or(0, |frames| frames.forget_reading(&urls));
        let common = config
            .get_extension::<CommonFrames>()
            .map_or(0, |frames| frames.forget_reading(&keys));
        (objects.len(), shared + common)
    }

    /// Runs a plan from [`bydelsfakta_queries::writer_plan`] to completion and returns what
    /// its writer reported.
    pub async fn run_writer_plan(&self, plan: Arc<dyn ExecutionPlan>) -> Result<WriteSummary> {
        let mut runs = self.run_writer_plans(vec![plan]).await;
        runs.pop().expect("one run per plan").summary
    }

    /// Runs several writer plans and returns what each writer reported, in order; one
    /// failing does not stop the others. On a cluster, plans over at most the single-task
    /// threshold of input together run as one job ([`OutputGroupExec`]), so the job's
    /// fixed cost is paid once; otherwise (and embedded) each runs as
    /// [`Engine::run_writer_plan`] runs it, side by side.
    pub async fn run_writer_plans(&self, plans: Vec<Arc<dyn ExecutionPlan>>) -> Vec<WriterRun> {
        // Sizes place plans on a cluster; embedded they decide nothing, so none is measured.
        if !self.is_distributed() {
            let runs = plans.into_iter().map(|plan| self.run_writer(plan, 0));
            return futures::future::join_all(runs).await;
        }
        let inputs: Vec<InputSize> = plans.iter().map(InputSize::of).collect();
        let grouped = plans.len() > 1
            && self.single_task_max_bytes > 0
            && InputSize::together(&inputs) <= self.single_task_max_bytes;
        if !grouped {
            let runs = (plans.into_iter().zip(&inputs))
                .map(|(plan, inputs)| self.run_writer(plan, inputs.bytes()));
            return futures::future::join_all(runs).await;
        }
        let writers = plans.len();
        let group: Arc<dyn ExecutionPlan> = Arc::new(OutputGroupExec::new(OutputGroup::new(plans)));
        let ran = self.submit(group).await;
        let reported = ran
            .as_ref()
            .map_err(crate::Error::again)
            .and_then(|ran| Ok(outcomes(&ran.batches, writers)?));
        let job_id = ran.ok().and_then(|ran| ran.job_id);
        match reported {
            Ok(outcomes) => outcomes
                .into_iter()
                .map(|outcome| WriterRun {
                    summary: outcome.map_err(crate::Error::from),
                    job_id: job_id.clone(),
                })
                .collect(),
            // The job itself failed (the cluster, not an output): every output says so.
            Err(e) => (0..writers)
                .map(|_| WriterRun {
                    summary: Err(e.again()),
                    job_id: job_id.clone(),
                })
                .collect(),
        }
    }

    /// Runs one writer plan over `input_bytes` of input, as its own job on a cluster.
    async fn run_writer(&self, plan: Arc<dyn ExecutionPlan>, input_bytes: u64) -> WriterRun {
        match self.run_sized(plan, input_bytes).await {
            Ok(ran) => WriterRun {
                summary: WriteSummary::from_batches(&ran.batches).map_err(Into::into),
                job_id: ran.job_id,
            },
            Err(e) => WriterRun {
                summary: Err(e),
                job_id: None,
            },
        }
    }

    /// Whether plans leave this process's DataFusion executor (Ballista, standalone or
    /// remote): then only plans that Ballista can encode may run through [`Engine::run_plan`].
    pub fn is_distributed(&self) -> bool {
        matches!(self.runner, PlanRunner::Ballista { .. })
    }

    /// Runs a physical plan where this engine runs plans and collects its batches.
    pub async fn run_plan(&self, plan: Arc<dyn ExecutionPlan>) -> Result<Vec<RecordBatch>> {
        let bytes = match self.runner {
            PlanRunner::Embedded => 0,
            PlanRunner::Ballista { .. } => InputSize::of(&plan).bytes(),
        };
        Ok(self.run_sized(plan, bytes).await?.batches)
    }

    /// [`Engine::run_plan`] for a plan over `input_bytes` of input.
    async fn run_sized(&self, plan: Arc<dyn ExecutionPlan>, input_bytes: u64) -> Result<Ran> {
        match self.runner {
            PlanRunner::Embedded => self.submit(plan).await,
            PlanRunner::Ballista { .. } => {
                let placed = placed_for_cluster(plan, input_bytes, self.single_task_max_bytes)?;
                self.submit(placed).await
            }
        }
    }

    /// Runs `plan` as it is where this engine runs plans (a cluster job as Ballista plans
    /// it, or in this process).
    async fn submit(&self, plan: Arc<dyn ExecutionPlan>) -> Result<Ran> {
        let PlanRunner::Ballista { jobs } = &self.runner else {
            let batches = collect(plan, self.ctx.task_ctx()).await?;
            return Ok(Ran {
                job_id: None,
                batches,
            });
        };
        self.jobs_submitted.fetch_add(1, Ordering::Relaxed);
        let config = self.ctx.copied_config();
        let job = jobs.run(plan, &config, &self.ctx.session_id()).await?;
        Ok(Ran {
            job_id: Some(job.job_id),
            batches: job.batches,
        })
    }
}

#[async_trait::async_trait]
impl PlanExecutor for Engine {
    async fn collect(
        &self,
        plan: Arc<dyn ExecutionPlan>,
    ) -> bydelsfakta_queries::Result<Vec<RecordBatch>> {
        // The reader's error type carries ours by kind and words, so that a probe job past
        // its deadline still reads as `JobTimeoutError`, not as a data error.
        self.run_plan(plan).await.map_err(|e| match e {
            crate::Error::Query(e) => *e,
            other => bydelsfakta_queries::Error::Remote {
                kind: other.kind(),
                message: other.to_string(),
            },
        })
    }
}

/// A context with our functions that reads `bucket`, to plan on (and run, embedded).
pub fn planning_context(bucket: &Bucket, config: SessionConfig) -> Result<SessionContext> {
    let state = planning_state(config, runtime_for(bucket)?)?;
    Ok(SessionContext::new_with_state(state))
}

/// DataFusion's features with the optimizer rules our plans need
/// ([`optimizer_rules::our_rules`]), `config`, `runtime` and our functions.
fn planning_state(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> Result<SessionState> {
    let mut state = SessionStateBuilder::new()
        .with_default_features()
        .with_optimizer_rules(optimizer_rules::our_rules())
        .with_config(config)
        .with_runtime_env(runtime)
        .build();
    bydelsfakta_udfs::register_all(&mut state)?;
    Ok(state)
}

/// `df://host[:port]` (or `http://`, `grpc://`) as the scheduler's gRPC URL.
fn grpc_url(scheduler: &str) -> Result<String> {
    let parsed = url::Url::parse(scheduler)
        .map_err(|e| scheduler_error(scheduler, format!("not a URL ({e}); use df://host:50050")))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| scheduler_error(scheduler, "no host; use df://host:50050"))?;
    Ok(format!("http://{host}:{}", parsed.port().unwrap_or(50050)))
}

/// Ballista's session settings with ours on top, the codec that carries our operators
/// next to Ballista's own, and frames shared as planned operators (`udfs::plan::share`).
pub fn ballista_session_config() -> SessionConfig {
    let ours = session_config();
    let mut config = SessionConfig::new_with_ballista()
        .with_target_partitions(ours.target_partitions())
        .with_repartition_file_scans(false)
        .with_ballista_physical_extension_codec(physical_codec())
        .with_extension(Arc::new(PlannedFrames::default()))
        .with_extension(Arc::new(CommonFrames::default()));
    config.options_mut().optimizer.max_passes = ours.options().optimizer.max_passes;
    config
}

/// Ballista's physical codec (with its shuffle readers reading each map output once, see
/// [`crate::shuffle_inputs`]) composed with the codecs of our operators: the document
/// writer, the single task and the shared frame.
pub fn physical_codec() -> Arc<dyn PhysicalExtensionCodec> {
    physical_codec_with(SharedFrameCodec::default())
}

/// [`physical_codec`] with `frames` for the shared frames (one that reads them from the
/// frame table of the plan being decoded, see [`crate::shared_frames`]).
pub(crate) fn physical_codec_with(frames: SharedFrameCodec) -> Arc<dyn PhysicalExtensionCodec> {
    Arc::new(ComposedPhysicalExtensionCodec::new(vec![
        Arc::new(DistinctShuffleInputs::default()),
        Arc::new(DocumentWriterCodec),
        Arc::new(SingleTaskCodec),
        Arc::new(OutputGroupCodec),
        Arc::new(frames),
    ]))
}

/// Plans whose inputs are at most this many bytes run on a cluster as one task
/// ([`SingleTaskExec`]); larger ones are cut into stages that spread over the executors.
/// `BYDELSFAKTA_SINGLE_TASK_MAX_BYTES` overrides it (`0`: always stages).
pub const SINGLE_TASK_MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;
pub const SINGLE_TASK_VARIABLE: &str = "BYDELSFAKTA_SINGLE_TASK_MAX_BYTES";

/// `plan` as a cluster runs it: as one task when its inputs are at most `max_bytes`,
/// else as it is.
/// A plan cut into stages has its shared frames inlined, so that they spread too.
pub fn for_cluster(plan: Arc<dyn ExecutionPlan>, max_bytes: u64) -> Result<Arc<dyn ExecutionPlan>> {
    let bytes = InputSize::of(&plan).bytes();
    placed_for_cluster(plan, bytes, max_bytes)
}

/// [`for_cluster`] for a plan over `input_bytes` of input.
fn placed_for_cluster(
    plan: Arc<dyn ExecutionPlan>,
    input_bytes: u64,
    max_bytes: u64,
) -> Result<Arc<dyn ExecutionPlan>> {
    if max_bytes > 0 && input_bytes <= max_bytes {
        Ok(Arc::new(SingleTaskExec::new(SingleTask::new(plan))))
    } else {
        Ok(inline_shared_frames(plan)?)
    }
}

/// The threshold as set in the environment when an engine is made, else the default.
fn single_task_max_bytes_setting() -> Result<u64> {
    match std::env::var(SINGLE_TASK_VARIABLE) {
        Err(_) => Ok(SINGLE_TASK_MAX_INPUT_BYTES),
        Ok(value) => value.trim().parse().map_err(|e| crate::Error::Setting {
            variable: SINGLE_TASK_VARIABLE,
            problem: format!("{value:?} is not a number of bytes ({e})"),
        }),
    }
}

pub(crate) fn scheduler_error(url: &str, e: impl std::fmt::Display) -> crate::error::Error {
    crate::error::Error::Scheduler {
        url: url.into(),
        problem: e.to_string(),
    }
}
