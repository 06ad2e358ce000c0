//! A scheduler restarted under a running job: the client asks again through the restart
//! instead of failing at the first call that finds no scheduler, and then says the job
//! was lost (a scheduler keeps its jobs in memory), instead of waiting for a job that no
//! scheduler knows until its deadline. A scheduler that does not come back fails the run
//! once it has not answered for 10 s.

use std::time::Duration;

use crate::common::{run_alone, start_cluster, start_scheduler, wait_until};
use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_scheduler_client::{Engine, Error, Result, RunOutcome};
use bydelsfakta_tests::metrics::Metrics;
use bydelsfakta_tests::{bucket_copy, files_below, fixture_event, fixtures, run_on};

#[test]
fn a_job_lost_with_its_scheduler_is_reported_lost() {
    run_alone(restart_under_a_job());
}

async fn restart_under_a_job() {
    // No executor: the event's first job stays queued until the scheduler goes.
    let mut cluster = start_cluster(0, &[]);
    let port = cluster.scheduler_port;
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let engine = Engine::remote(
        &format!("df://127.0.0.1:{port}"),
        &bucket,
        Duration::from_secs(10),
    )
    .await
    .unwrap();

    // Down for 3 s: longer than the channel's own reconnection covers.
    let run = queued_run(&engine, &bucket, port).await;
    cluster.processes[0].kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut restarted = tokio::task::spawn_blocking(move || start_scheduler(port, &[], &[]))
        .await
        .unwrap();
    let error = ended(run).await;
    assert_eq!(error.kind(), "JobLostError", "{error}");
    let text = error.to_string();
    assert!(
        text.contains(&format!("scheduler http://127.0.0.1:{port}: job "))
            && text.contains("is no longer known to the scheduler"),
        "{text}"
    );

    // Down for good: asked again for 10 s, then given up.
    let run = queued_run(&engine, &bucket, port).await;
    restarted.kill();
    let error = ended(run).await;
    assert_eq!(error.kind(), "SchedulerUnavailableError", "{error}");
    let text = error.to_string();
    assert!(
        text.contains("no answer about job ") && text.contains(" for 10 s: "),
        "{text}"
    );

    assert!(
        files_below(&dir.path().join("intermediate")).is_empty(),
        "a lost job wrote {:?}",
        files_below(&dir.path().join("intermediate"))
    );
}

type Run = tokio::task::JoinHandle<Result<RunOutcome>>;

/// An event run on `engine`, once the scheduler at `port` has its first job (which no
/// executor takes) and the client has seen it queued.
async fn queued_run(engine: &Engine, bucket: &Bucket, port: u16) -> Run {
    let before = Metrics::scrape(port).value("job_submitted_total");
    let event = fixture_event("trangboddhet__over-2_status").to_string();
    let run = tokio::spawn({
        let (engine, bucket) = (engine.clone(), bucket.clone());
        async move { run_on(&engine, &bucket, &event).await }
    });
    let submitted = move || Metrics::scrape(port).value("job_submitted_total") > before;
    tokio::task::spawn_blocking(move || wait_until("the job's submission", submitted))
        .await
        .unwrap();
    // The client asks for the job's status every few milliseconds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    run
}

/// The error `run` ends with, long before its 15 min job timeout.
async fn ended(run: Run) -> Error {
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the run ended")
        .unwrap()
        .expect_err("no scheduler runs the job")
}
