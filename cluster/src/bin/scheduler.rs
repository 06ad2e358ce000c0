//! `bydelsfakta-scheduler`: Ballista's scheduler, with its flags, carrying our functions,
//! the document writer's codec and our object stores. gRPC, `/healthz`, `/readyz` and
//! `/metrics` share `--bind-port` (50050), served by [`scheduler_port`] (Ballista's router
//! takes no routes of ours). With `--flight-sql`, Flight SQL serves the datasets of the
//! bucket named by `BYDELSFAKTA_BUCKET` (found when the scheduler starts, and again every
//! `--flight-sql-refresh` seconds) on `--flight-sql-port` (50060), within limits and, when
//! configured, only to clients with credentials.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::error::BallistaError;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{Config, SchedulerConfig};
use ballista_scheduler::scheduler_process::create_scheduler;
use clap::Parser;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use bydelsfakta_cluster::SqlService;
use bydelsfakta_cluster::flight_sql::auth::Credentials;
use bydelsfakta_cluster::flight_sql::{self, FlightSqlArgs};
use bydelsfakta_cluster::scheduler_port;
use bydelsfakta_scheduler_client::logging::{LOG_FORMAT_VARIABLE, LogFormat};
use bydelsfakta_scheduler_client::sql::bucket_tables::BucketTables;

/// Ballista's scheduler flags, and ours for Flight SQL.
#[derive(Parser)]
#[command(
    version,
    about = "The Bydelsfakta cluster's scheduler (Ballista's, with our functions and stores)"
)]
struct Args {
    #[command(flatten)]
    ballista: Config,
    #[command(flatten)]
    flight_sql: FlightSqlArgs,
    /// How log lines on stderr look: text, or one JSON object per line.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = LOG_FORMAT_VARIABLE)]
    log_format: LogFormat,
}

fn main() -> ballista_core::error::Result<()> {
    bydelsfakta_cluster::runtime()?.block_on(serve())
}

fn address(host: &str, port: u16, flag: &str) -> Result<SocketAddr, BallistaError> {
    format!("{host}:{port}")
        .parse()
        .map_err(|e| BallistaError::Configuration(format!("--bind-host/{flag}: {e}")))
}

async fn serve() -> ballista_core::error::Result<()> {
    let Args {
        ballista: options,
        flight_sql: flight_sql_args,
        log_format,
    } = Args::parse();
    bydelsfakta_cluster::init_logging(log_format, &options.log_level_setting);
    let address = address(&options.bind_host, options.bind_port, "--bind-port")?;
    let flight_sql_address = address_if(
        &options.bind_host,
        flight_sql_args.flight_sql_port,
        options.flight_sql,
    )?;
    // A bad credentials setting stops the scheduler before it starts anything.
    let credentials = match flight_sql_address {
        Some(_) => Credentials::from_env().map_err(BallistaError::Configuration)?,
        None => None,
    };
    let mut config: SchedulerConfig = options.try_into()?;
    // Ours serves Flight SQL (see flight_sql): Ballista's own mount stays off.
    config.flight_sql = false;
    bydelsfakta_scheduler_client::stores::check_config().map_err(BallistaError::Configuration)?;
    // Only Flight SQL plans SQL on the scheduler; the pipeline's clients send plans.
    let sql = match flight_sql_address {
        Some(_) => {
            let tables = flight_sql_tables().await?;
            // The task ends with the process.
            let _refreshing = tables.keep_fresh(flight_sql_args.refresh_interval());
            Some(SqlService {
                tables,
                limits: flight_sql_args.limits(),
            })
        }
        None => None,
    };
    let limits = sql.as_ref().map(|sql| sql.limits);
    let config = Arc::new(bydelsfakta_cluster::scheduler_config(config, sql));
    config.validate()?;
    let cluster = BallistaCluster::new_from_config(&config).await?;
    let scheduler =
        create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config.clone()).await?;
    match (flight_sql_address, limits) {
        (Some(flight_sql_address), Some(limits)) => {
            let flight_sql = flight_sql::serve(
                scheduler.clone(),
                &config,
                flight_sql_address,
                limits,
                credentials,
            );
            tokio::select! {
                served = scheduler_port::serve(address, scheduler) => served,
                served = flight_sql => served,
            }
        }
        _ => scheduler_port::serve(address, scheduler).await,
    }
}

fn address_if(host: &str, port: u16, wanted: bool) -> Result<Option<SocketAddr>, BallistaError> {
    wanted
        .then(|| address(host, port, "--flight-sql-port"))
        .transpose()
}

/// The tables of the bucket named by `BYDELSFAKTA_BUCKET`, or none (with a warning).
async fn flight_sql_tables() -> Result<Arc<BucketTables>, BallistaError> {
    let Ok(url) = std::env::var(bydelsfakta_cluster::BUCKET_ENV) else {
        tracing::warn!(
            "--flight-sql without {}: Flight SQL serves no tables",
            bydelsfakta_cluster::BUCKET_ENV
        );
        return Ok(BucketTables::none());
    };
    let started = std::time::Instant::now();
    let tables = bydelsfakta_cluster::sql_tables(&url)
        .await
        .map_err(BallistaError::Configuration)?;
    let set = tables.current();
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        "Flight SQL serves {} tables from {url} ({} not available)",
        set.tables.len(),
        set.unavailable.len()
    );
    Ok(tables)
}
