//! `bydelsfakta-lambda-shim`: the Lambda function's bootstrap. The Runtime API address and
//! the function's identity come from the variables Lambda (or its emulator) sets.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

use bydelsfakta_lambda_shim::{ShimConfig, handle};

fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
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
