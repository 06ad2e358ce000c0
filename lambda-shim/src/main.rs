//! `bydelsfakta-lambda-shim`: the Lambda function's bootstrap. The Runtime API address and
//! the function's identity come from the variables Lambda (or its emulator) sets.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

use bydelsfakta_lambda_shim::{ShimConfig, handle};
use bydelsfakta_scheduler_client::logging::{self, LOG_FORMAT_VARIABLE, LogFormat};

/// Lambda's advanced logging controls, as its own runtimes follow them: JSON lines when
/// `AWS_LAMBDA_LOG_FORMAT` is `JSON` (else `BYDELSFAKTA_LOG_FORMAT`, else text), at
/// `AWS_LAMBDA_LOG_LEVEL` (else `RUST_LOG`, else `info`), on stdout. Every line of an
/// invocation carries its `requestId` (the runtime's invocation span).
fn init_logging() {
    let format = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .or_else(|_| std::env::var(LOG_FORMAT_VARIABLE))
        .map_or(LogFormat::Text, |format| {
            match format.eq_ignore_ascii_case("json") {
                true => LogFormat::Json,
                false => LogFormat::Text,
            }
        });
    let filter = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .map(|level| level.to_lowercase())
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    logging::init_filtered(format, &filter, std::io::stdout);
}

fn main() -> Result<(), Error> {
    init_logging();
    let config = Arc::new(ShimConfig::from_env()?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Planning and encoding our deepest plans (levekar_totalt joins nine inputs) recurses.
        .thread_stack_size(16 * 1024 * 1024)
        .build()?;
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let config = config.clone();
        async move { handle(&config, event).await }
    });
    // On a worker thread, with the larger stack.
    runtime.block_on(async { tokio::spawn(lambda_runtime::run(handler)).await? })
}
