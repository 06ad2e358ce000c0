//! Flight SQL on a port of its own, in front of Ballista's frontend: the bucket's datasets
//! as read-only tables, optional credentials ([`auth`]), and every statement held to the
//! session limits ([`guard`], [`watchdog`]).
//!
//! Ballista mounts its frontend on the scheduler's own router, where nothing can look at a
//! statement before it is parsed; a statement of 100,000 `+` overflows the planner's stack
//! and aborts the scheduler. Here the frontend is served behind [`guard::Guarded`], and
//! Ballista's own mount stays off.

pub mod auth;
pub mod guard;
pub mod watchdog;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use ballista_core::error::BallistaError;
use ballista_core::flight_proxy_service::BallistaFlightProxyService;
use ballista_flight_sql::BallistaFlightSqlService;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use bydelsfakta_scheduler_client::sql::limits::{SqlLimits, parse_size};

/// Where Flight SQL listens and what one statement may cost.
#[derive(clap::Args, Debug, Clone)]
pub struct FlightSqlArgs {
    /// With --flight-sql: the port Flight SQL listens on (on --bind-host).
    #[arg(long, default_value_t = 50060)]
    pub flight_sql_port: u16,

    /// With --flight-sql: a statement that plans and runs longer is stopped and its job
    /// cancelled.
    #[arg(long, value_name = "SECONDS", default_value_t = SqlLimits::flight_sql().statement_timeout.as_secs())]
    pub flight_sql_timeout: u64,

    /// With --flight-sql: memory for a statement run on the scheduler, and the most one
    /// call of repeat/lpad/rpad may make is a quarter of it (default: a quarter of the
    /// machine's memory, at most 2 GiB). Executors keep --memory-pool-size.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub flight_sql_memory_limit: Option<usize>,

    /// With --flight-sql: the tables are found again this many seconds after the last time
    /// (new datasets and editions become tables; only new or changed objects are read).
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub flight_sql_refresh: u64,
}

impl FlightSqlArgs {
    pub fn refresh_interval(&self) -> Duration {
        Duration::from_secs(self.flight_sql_refresh)
    }

    /// The limits every Flight SQL statement is held to.
    pub fn limits(&self) -> SqlLimits {
        let defaults = SqlLimits::flight_sql();
        SqlLimits {
            statement_timeout: Duration::from_secs(self.flight_sql_timeout.max(1)),
            memory_limit: self
                .flight_sql_memory_limit
                .unwrap_or(defaults.memory_limit),
            ..defaults
        }
    }
}

/// Serves Flight SQL on `address` until the process ends; with `credentials`, only to
/// clients that present them.
pub async fn serve(
    scheduler: SchedulerServer<LogicalPlanNode, PhysicalPlanNode>,
    config: &SchedulerConfig,
    address: SocketAddr,
    limits: SqlLimits,
    credentials: Option<auth::Credentials>,
) -> Result<(), BallistaError> {
    let max_decoding = config.grpc_server_max_decoding_message_size as usize;
    let max_encoding = config.grpc_server_max_encoding_message_size as usize;
    // Results are streamed from the executors through this proxy.
    let proxy = BallistaFlightProxyService::new(max_decoding, max_encoding, config.use_tls, None);
    watchdog::spawn(scheduler.clone(), limits.statement_timeout);
    let mut frontend = BallistaFlightSqlService::new(Arc::new(scheduler), proxy);
    match credentials {
        Some(credentials) => {
            tracing::info!("Flight SQL asks for credentials: {credentials:?}");
            frontend = frontend.with_authenticator(Arc::new(credentials));
        }
        None => tracing::warn!(
            "Flight SQL lets any client in: set {} and {}, or {}, to ask for credentials",
            auth::USER_ENV,
            auth::PASSWORD_ENV,
            auth::TOKEN_ENV
        ),
    }
    let service = FlightServiceServer::new(guard::Guarded::new(frontend, limits))
        .max_decoding_message_size(max_decoding)
        .max_encoding_message_size(max_encoding);
    tracing::info!(
        "Flight SQL on {address}: statements stopped after {} s, {} bytes of memory",
        limits.statement_timeout.as_secs_f64(),
        limits.memory_limit
    );
    tonic::transport::Server::builder()
        .add_service(service)
        .serve(address)
        .await
        .map_err(|e| BallistaError::General(format!("Flight SQL on {address}: {e}")))
}
