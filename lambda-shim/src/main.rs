//! `bydelsfakta-lambda-shim`: the Lambda function's bootstrap. The Runtime API address and
//! the function's identity come from the variables Lambda (or its emulator) sets.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

use bydelsfakta_lambda_shim::{ShimConfig, handle};
use bydelsfakta_scheduler_client::logging::{self, LOG_FORMAT_VARIABLE, LogFormat};
use bydelsfakta_scheduler_client::telemetry::Telemetry;

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
    // Spans and lineage events when the OTEL_* and OPENLINEAGE_* variables ask for them,
    // flushed after every invocation (Lambda may freeze the process in between).
    let (telemetry, unusable) = Telemetry::from_env(
        &std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .unwrap_or_else(|_| "bydelsfakta-lambda-shim".into()),
    );
    if let Some(reason) = unusable {
        tracing::warn!("{reason}");
    }
    let telemetry = Arc::new(telemetry);
    let config = Arc::new(ShimConfig::from_env()?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Planning and encoding our deepest plans (levekar_totalt joins nine inputs) recurses.
        .thread_stack_size(16 * 1024 * 1024)
        .build()?;
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let (config, telemetry) = (config.clone(), telemetry.clone());
        async move {
            let outcome = handle(&config, event).await;
            let _ = tokio::task::spawn_blocking(move || telemetry.flush()).await;
            outcome
        }
    });
    // On a worker thread, with the larger stack.
    runtime.block_on(async { tokio::spawn(lambda_runtime::run(handler)).await? })
}
