//! `bydelsfakta`: parse, set up logging, run, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;

use bydelsfakta_cli::args::Cli;
use bydelsfakta_cli::commands::execute;
use bydelsfakta_scheduler_client::logging;
use bydelsfakta_scheduler_client::telemetry::Telemetry;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = logging::default_filter(cli.log_format);
    logging::init(cli.log_format, filter, std::io::stderr);
    // Spans and lineage events, when the OTEL_* and OPENLINEAGE_* variables ask for them;
    // dropped at the end, which sends what is queued.
    let (telemetry, unusable) = Telemetry::from_env("bydelsfakta");
    if let Some(reason) = unusable {
        logging::warning(&reason);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Encoding and optimizing deep plans (levekar_totalt joins nine inputs) recurses.
        .thread_stack_size(16 * 1024 * 1024)
        .build()
        .expect("tokio runtime");
    // On a worker thread, with the larger stack.
    let result = runtime.block_on(async { tokio::spawn(execute(cli)).await });
    // A SQL statement stopped by its timeout may still hold a worker until it yields;
    // the command is done, so the process does not wait for it.
    runtime.shutdown_background();
    drop(telemetry);
    match result.unwrap_or_else(|e| Err(anyhow::anyhow!("internal error: {e}"))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let kind = e
                .downcast_ref::<bydelsfakta_scheduler_client::Error>()
                .map(|e| e.kind());
            logging::error(&message(&e), kind);
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each cause once: our errors name their cause in their own
/// text, and object_store's repeat theirs, so `{:#}` would print the same words up to four
/// times.
fn message(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_told_once() {
        let io = std::io::Error::other("disk on fire");
        let wrapped = anyhow::Error::new(io).context("writing 00.json: disk on fire");
        assert_eq!(message(&wrapped), "writing 00.json: disk on fire");
        let io = std::io::Error::other("disk on fire");
        let added = anyhow::Error::new(io).context("writing 00.json");
        assert_eq!(message(&added), "writing 00.json: disk on fire");
    }
}
