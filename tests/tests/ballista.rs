//! The same plans on Ballista standalone (a scheduler and an executor in this process, the
//! plan encoded with our codec and decoded by the executor) give the same documents.

use bydelsfakta_scheduler_client::{Engine, plan_event, run_planned};
use bydelsfakta_tests::{
    Sending, bucket_copy, check_every_output, compare_folders, files_below, fixture_event,
    fixtures, large_stack_runtime, run_on, serial, zero_households_in_0501,
};

#[test]
fn ballista_standalone_writes_the_same_documents() {
    // Loads the machine for minutes: never beside a test that asserts on time.
    let _serial = serial::shared_blocking();
    let rt = large_stack_runtime();
    rt.block_on(async {
        tokio::spawn(same_documents(Sending::OneByOne))
            .await
            .unwrap()
    });
}

/// As `run-all` sends them to a cluster: a function's outputs as one job, their shared
/// frames decoded as one operator each.
#[test]
fn ballista_standalone_writes_the_same_documents_for_outputs_sent_together() {
    let _serial = serial::shared_blocking();
    let rt = large_stack_runtime();
    rt.block_on(async {
        tokio::spawn(same_documents(Sending::ByFunction))
            .await
            .unwrap()
    });
}

async fn same_documents(sending: Sending) {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let engine = Engine::ballista_standalone(&bucket).await.unwrap();
    match check_every_output(&engine, &bucket, dir.path(), sending).await {
        Ok(matched) => assert_eq!(
            matched,
            crate::fixtures::EVERY_OUTPUT,
            "outputs and documents compared through Ballista standalone ({sending:?})"
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

/// The bad-input cases about lines that are no record (a blank line, a quoted line break)
/// and CRLF endings: Ballista standalone names the same line of the file as embedded
/// (`inputs::every_bad_input_fails_clearly`); and an object that cannot be read, named alike.
#[test]
fn bad_lines_are_named_by_their_line_in_the_file() {
    // A scheduler and an executor in this process: never beside a test that asserts on time.
    let _serial = serial::shared_blocking();
    let rt = large_stack_runtime();
    rt.block_on(async { tokio::spawn(bad_lines()).await.unwrap() });
}

async fn bad_lines() {
    use bydelsfakta_tests::bad_input::{check, line_cases, unreadable_cases};
    let mut failures = vec![];
    for case in line_cases().into_iter().chain(unreadable_cases()) {
        let checked = check(&case, |bucket| async move {
            Engine::ballista_standalone(&bucket).await.unwrap()
        })
        .await;
        if let Err(failure) = checked {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn outputs_sent_as_one_job_keep_their_own_outcomes() {
    // A scheduler and an executor in this process: never beside a test that asserts on time.
    let _serial = serial::shared_blocking();
    let rt = large_stack_runtime();
    rt.block_on(async { tokio::spawn(one_job_two_outcomes()).await.unwrap() });
}

/// Two outputs in one job (as `run-all` sends a function's outputs to a cluster): the one
/// whose input is bad fails with its own error and writes nothing, the other is written.
async fn one_job_two_outcomes() {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    zero_households_in_0501(dir.path());
    let engine = Engine::ballista_standalone(&bucket).await.unwrap();
    let options = bydelsfakta_tests::run_options();
    let mut planned = vec![];
    for name in [
        "trangboddhet__over-2_status",
        "befolkningsutvkl_forv_utvkl__historisk",
    ] {
        let event = fixture_event(name).to_string();
        planned.push(
            plan_event(&engine, &bucket, &event, &options)
                .await
                .unwrap(),
        );
    }
    let before = engine.jobs_submitted();
    let mut outcomes = run_planned(&engine, planned).await.into_iter();
    assert_eq!(engine.jobs_submitted() - before, 1, "one job for both");
    let err = outcomes.next().unwrap().unwrap_err();
    assert_eq!(err.kind(), "NonFiniteValueError", "{err}");
    assert!(err.to_string().contains("entry 0501"), "{err}");
    let written = outcomes.next().unwrap().unwrap();
    let expected = fixtures().join("expected/befolkningsutvkl_forv_utvkl/historisk");
    compare_folders(&expected, &dir.path().join(&written.output_prefix)).unwrap();
    let written_below: Vec<String> = files_below(&dir.path().join("intermediate"))
        .into_iter()
        .filter(|f| f.contains("trangboddhet"))
        .collect();
    assert!(written_below.is_empty(), "{written_below:?}");
}
