//! `bydelsfakta-scheduler`: Ballista's scheduler, with its flags, carrying our functions,
//! the document writer's codec and our object stores. gRPC, `/healthz` and `/readyz` share
//! `--bind-port` (50050); with `--flight-sql`, so does Flight SQL, serving the datasets of
//! the bucket named by `BYDELSFAKTA_BUCKET` (read when the scheduler starts).

use std::sync::Arc;

use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{Config, SchedulerConfig};
use ballista_scheduler::scheduler_process::start_server;
use clap::Parser;

fn main() -> ballista_core::error::Result<()> {
    bydelsfakta_cluster::runtime()?.block_on(serve())
}

async fn serve() -> ballista_core::error::Result<()> {
    let options = Config::parse();
    bydelsfakta_cluster::init_logging(&options.log_level_setting);
    let address = format!("{}:{}", options.bind_host, options.bind_port)
        .parse()
        .map_err(|e| {
            ballista_core::error::BallistaError::Configuration(format!(
                "--bind-host/--bind-port: {e}"
            ))
        })?;
    let config: SchedulerConfig = options.try_into()?;
    bydelsfakta_scheduler_client::stores::check_config()
        .map_err(ballista_core::error::BallistaError::Configuration)?;
    // Only Flight SQL plans SQL on the scheduler; the pipeline's clients send plans.
    let tables = match std::env::var(bydelsfakta_cluster::BUCKET_ENV) {
        Ok(url) if config.flight_sql_enabled() => {
            let tables = bydelsfakta_cluster::sql_tables(&url)
                .await
                .map_err(ballista_core::error::BallistaError::Configuration)?;
            tracing::info!("Flight SQL serves {} tables from {url}", tables.len());
            Some(tables)
        }
        Err(_) if config.flight_sql_enabled() => {
            tracing::warn!(
                "--flight-sql without {}: Flight SQL serves no tables",
                bydelsfakta_cluster::BUCKET_ENV
            );
            Some(vec![])
        }
        _ => None,
    };
    let config = bydelsfakta_cluster::scheduler_config(config, tables);
    let cluster = BallistaCluster::new_from_config(&config).await?;
    start_server(cluster, address, Arc::new(config)).await
}
