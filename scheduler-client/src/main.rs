//! `bydelsfakta`: parse, set up logging, run, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;

use bydelsfakta_scheduler_client::cli::{Cli, execute};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Encoding and optimizing deep plans (levekar_totalt joins nine inputs) recurses.
        .thread_stack_size(16 * 1024 * 1024)
        .build()
        .expect("tokio runtime");
    // On a worker thread, with the larger stack.
    let result = runtime.block_on(async { tokio::spawn(execute(cli)).await });
    match result.unwrap_or_else(|e| Err(anyhow::anyhow!("internal error: {e}"))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
