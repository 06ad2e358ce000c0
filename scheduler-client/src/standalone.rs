//! Ballista standalone: a scheduler and one executor in this process, the executor woken
//! when there is something to do.
//!
//! Ballista's own standalone helpers (`new_standalone_scheduler_from_state`,
//! `new_standalone_executor_from_state`) leave a pull executor asking an idle scheduler for
//! work every 50 ms, and it reports a finished task only with its next request, so every
//! job waits for up to two such polls. Here the executor's poll loop is woken instead
//! (docs/ballista.md §1): by the scheduler when a job or a stage becomes runnable
//! (`on_work_available`), and by our job client before each look at a job's status
//! ([`Standalone::wake_executor`]), so that a finished task is reported by then.
//! Everything else is as upstream builds it: pull-staged scheduling, the in-memory cluster
//! state and a Flight service for shuffle reads; the executor's work directory, though, is
//! removed with the engine (upstream's is left in the temporary folder).

use std::net::SocketAddr;
use std::sync::Arc;

use arrow_flight::flight_service_server::FlightServiceServer;
use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::extension::SessionConfigExt;
use ballista_core::serde::BallistaCodec;
use ballista_core::serde::protobuf::ExecutorRegistration;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpcServer;
use ballista_core::serde::scheduler::{
    ExecutorOperatingSystemSpecification, ExecutorSpecification,
};
use ballista_core::utils::{GrpcServerConfig, create_grpc_server};
use ballista_core::{BALLISTA_PROTOCOL_VERSION, ConfigProducer, RuntimeProducer};
use ballista_executor::execution_loop::poll_loop;
use ballista_executor::executor::Executor;
use ballista_executor::flight_service::BallistaFlightService;
use ballista_executor::health::ExecutorHealth;
use ballista_executor::metrics::LoggingMetricsCollector;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::metrics::default_metrics_collector;
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion::execution::SessionState;
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tonic::transport::server::TcpIncoming;

use crate::engine::{CONNECT_TIMEOUT, scheduler_error};
use crate::error::{Error, Result};

/// A running scheduler and executor.
#[derive(Debug)]
pub struct Standalone {
    /// The scheduler's gRPC address on loopback.
    pub address: SocketAddr,
    wake: Arc<Notify>,
    /// The executor's shuffle files. Removed when this is dropped (by the last job client),
    /// not with the executor's task: the CLI's runtime shuts down in the background.
    _work_dir: tempfile::TempDir,
}

impl Standalone {
    /// Has the executor poll now: a job client calls it before it asks for a job's status.
    pub fn wake_executor(&self) {
        self.wake.notify_one();
    }
}

/// Starts the scheduler and its executor (`vcores` tasks at once) on loopback ports the
/// system picks, both serving `state`'s functions, codecs and object stores. They run on
/// the current runtime until it shuts down.
pub async fn start(state: &SessionState, vcores: usize) -> Result<Standalone> {
    let wake = Arc::new(Notify::new());
    let work_dir = tempfile::Builder::new()
        .prefix("bydelsfakta-standalone-")
        .tempdir()
        .map_err(|e| failed("executor work directory", e))?;
    let address = start_scheduler(state, Arc::clone(&wake)).await?;
    let url = format!("http://localhost:{}", address.port());
    // The server was spawned a moment ago; it listens already, so this rarely retries.
    let connect = async {
        loop {
            match SchedulerGrpcClient::connect(url.clone()).await {
                Ok(client) => break client,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
    };
    let client = tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| failed("executor", "the in-process scheduler did not answer"))?;
    let work_path = work_dir.path().display().to_string();
    start_executor(client, vcores, state, &work_path, Arc::clone(&wake)).await?;
    Ok(Standalone {
        address,
        wake,
        _work_dir: work_dir,
    })
}

fn codec(state: &SessionState) -> BallistaCodec<LogicalPlanNode, PhysicalPlanNode> {
    let config = state.config();
    BallistaCodec::new(
        config.ballista_logical_extension_codec(),
        config.ballista_physical_extension_codec(),
    )
}

/// A scheduler error of the in-process cluster, naming the part that failed.
fn failed(what: &str, e: impl std::fmt::Display) -> Error {
    scheduler_error("in-process", format!("{what}: {e}"))
}

/// A loopback port the system picks.
async fn bind(what: &str) -> Result<TcpListener> {
    TcpListener::bind("localhost:0")
        .await
        .map_err(|e| failed(what, e))
}

async fn start_scheduler(state: &SessionState, wake: Arc<Notify>) -> Result<SocketAddr> {
    let session_config = state.config().clone();
    let max_message = session_config.ballista_grpc_client_max_message_size();
    let session_state = state.clone();
    let cluster = BallistaCluster::new_memory(
        "localhost:50050",
        Arc::new(move |_: SessionConfig| Ok(session_state.clone())),
        Arc::new(move || session_config.clone()),
    );
    let config = SchedulerConfig::default()
        .with_scheduler_policy(TaskSchedulingPolicy::PullStaged)
        .with_on_work_available(Arc::new(move |_| wake.notify_one()));
    let metrics = default_metrics_collector().map_err(|e| failed("scheduler metrics", e))?;
    let mut server: SchedulerServer<LogicalPlanNode, PhysicalPlanNode> = SchedulerServer::new(
        "localhost:50050".to_owned(),
        cluster,
        codec(state),
        Arc::new(config),
        metrics,
    );
    server.init().await.map_err(|e| failed("scheduler", e))?;
    let service = SchedulerGrpcServer::new(server)
        .max_decoding_message_size(max_message)
        .max_encoding_message_size(max_message);
    let listener = bind("scheduler").await?;
    let address = listener.local_addr().map_err(|e| failed("scheduler", e))?;
    tokio::spawn(
        create_grpc_server(&GrpcServerConfig::default())
            .add_service(service)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    Ok(address)
}

async fn start_executor(
    scheduler: SchedulerGrpcClient<tonic::transport::Channel>,
    vcores: usize,
    state: &SessionState,
    work_path: &str,
    wake: Arc<Notify>,
) -> Result<()> {
    let listener = bind("executor").await?;
    let flight_port = listener
        .local_addr()
        .map_err(|e| failed("executor", e))?
        .port();
    let registration = ExecutorRegistration {
        id: ballista_core::ids::new_instance_id(),
        host: Some("localhost".to_string()),
        port: u32::from(flight_port),
        // Unused: nothing is pushed to a pull-staged executor.
        grpc_port: 50020,
        specification: Some(
            ExecutorSpecification::default()
                .with_vcores(vcores as u32)
                .into(),
        ),
        os_info: Some(ExecutorOperatingSystemSpecification::default().into()),
        ballista_protocol_version: BALLISTA_PROTOCOL_VERSION,
    };
    let config = state.config().clone().upgrade_for_ballista();
    let max_message = config.ballista_grpc_client_max_message_size();
    let runtime = state.runtime_env().clone();
    let config_producer: ConfigProducer = Arc::new(move || config.clone());
    let runtime_producer: RuntimeProducer = Arc::new(move |_| Ok(runtime.clone()));
    let executor = Arc::new(Executor::with_default_execution_engine(
        registration,
        work_path,
        runtime_producer,
        config_producer,
        Arc::new(state.into()),
        Arc::new(LoggingMetricsCollector::default()),
        vcores,
    ));
    let flight = FlightServiceServer::new(BallistaFlightService::new(work_path.to_string()))
        .max_decoding_message_size(max_message)
        .max_encoding_message_size(max_message);
    tokio::spawn(
        create_grpc_server(&GrpcServerConfig::default())
            .add_service(flight)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    let codec = codec(state);
    tokio::spawn(poll_loop(
        scheduler,
        executor,
        codec,
        Some(wake),
        None,
        ExecutorHealth::new(),
    ));
    Ok(())
}
