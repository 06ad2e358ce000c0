//! `bydelsfakta-executor`: Ballista's executor, with its flags, carrying our functions, the
//! document writer and our object stores; `/healthz`, `/readyz` and `/metrics` on
//! `--bind-health-port`.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::error::BallistaError;
use ballista_executor::config::Config;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use clap::Parser;

use bydelsfakta_scheduler_client::logging::{LOG_FORMAT_VARIABLE, LogFormat};

/// Ballista's executor flags, and ours.
#[derive(Parser)]
#[command(
    version,
    about = "The Bydelsfakta cluster's executor (Ballista's, with our functions and stores)"
)]
struct Args {
    #[command(flatten)]
    ballista: Config,
    /// How log lines on stderr look: text, or one JSON object per line.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = LOG_FORMAT_VARIABLE)]
    log_format: LogFormat,
}

fn main() -> ballista_core::error::Result<()> {
    bydelsfakta_cluster::runtime()?.block_on(serve())
}

async fn serve() -> ballista_core::error::Result<()> {
    let Args {
        ballista: options,
        log_format,
    } = Args::parse();
    let health_address: SocketAddr = format!("{}:{}", options.bind_host, options.bind_health_port)
        .parse()
        .map_err(|e| BallistaError::Configuration(format!("--bind-health-port: {e}")))?;
    // Ballista's default work dir is a temporary folder whose guard it drops at once; ours
    // lives as long as the process.
    let temporary = tempfile::tempdir()?;
    let work_dir = options
        .work_dir
        .clone()
        .unwrap_or_else(|| temporary.path().display().to_string());
    let config: ExecutorProcessConfig = options.try_into()?;
    bydelsfakta_scheduler_client::stores::check_config()
        .map_err(ballista_core::error::BallistaError::Configuration)?;
    bydelsfakta_cluster::init_logging(log_format, &config.special_mod_log_level);
    let config = bydelsfakta_cluster::executor_config(config, work_dir);

    let (stop_health, health_stopped) = tokio::sync::oneshot::channel();
    let health = bydelsfakta_cluster::http::spawn_executor_server(
        health_address,
        config.health.clone(),
        health_stopped,
    );
    let result = start_executor_process(Arc::new(config)).await;
    let _ = stop_health.send(());
    let _ = health.await;
    result
}
