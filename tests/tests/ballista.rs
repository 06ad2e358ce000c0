//! The same plans on Ballista standalone (a scheduler and an executor in this process, the
//! plan encoded with our codec and decoded by the executor) give the same documents.

use bydelsfakta_scheduler_client::Engine;
use bydelsfakta_tests::{
    bucket_copy, check_every_output, files_below, fixture_event, fixtures, large_stack_runtime,
    run_on, serial, zero_households_in_0501,
};

#[test]
fn ballista_standalone_writes_the_same_documents() {
    // Loads the machine for minutes: never beside a test that asserts on time.
    let _serial = serial::shared_blocking();
    let rt = large_stack_runtime();
    rt.block_on(async { tokio::spawn(same_documents()).await.unwrap() });
}

async fn same_documents() {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let engine = Engine::ballista_standalone(&bucket).await.unwrap();
    match check_every_output(&engine, &bucket, dir.path()).await {
        Ok(matched) => assert_eq!(
            matched,
            crate::fixtures::EVERY_OUTPUT,
            "outputs and documents compared through Ballista standalone"
        ),
        Err(failures) => panic!("{failures}"),
    }
}

#[test]
fn errors_raised_on_the_executor_reach_the_client() {
    // A scheduler and an executor in this process: never beside a test that asserts on time.
    let _serial = serial::shared_blocking();
    let rt = large_stack_runtime();
    rt.block_on(async { tokio::spawn(executor_errors()).await.unwrap() });
}

async fn executor_errors() {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    zero_households_in_0501(dir.path());
    let engine = Engine::ballista_standalone(&bucket).await.unwrap();
    let event = fixture_event("trangboddhet__over-2_status").to_string();
    let err = run_on(&engine, &bucket, &event).await.unwrap_err();
    assert_eq!(err.kind(), "NonFiniteValueError", "{err}");
    assert!(err.to_string().contains("entry 0501"), "{err}");
    assert!(files_below(&dir.path().join("intermediate")).is_empty());
}
