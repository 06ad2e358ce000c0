//! An executor killed (SIGKILL, no goodbye) while pipeline events run on a cluster of two.
//! The event in flight either completes on the survivor with the original's documents, or
//! fails with a clear error and leaves its output prefix as it was: no partial set of
//! documents is ever visible. The events after it run on the survivor.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ran_tasks, start_cluster_with};

use bydelsfakta_scheduler_client::Engine;
use bydelsfakta_tests::{
    bucket_copy, compare_folders, documents, fixture_event, fixtures, large_stack_runtime, run_on,
};

/// Back to back, so that one of them is running when the executor dies.
const EVENTS: [&str; 8] = [
    "levekar_totalt__status",
    "befolkningsutvkl_forv_utvkl__historisk",
    "alder_distribusjon_status__status",
    "innvandrer_befolkning__alle_historisk",
    "trangboddhet__over-2_status",
    "eieform__status",
    "folkemengde__nokkeltall",
    "husholdningstyper__status",
];

#[test]
fn an_executor_killed_mid_job() {
    let runtime = large_stack_runtime();
    runtime.block_on(async { tokio::spawn(kill_mid_job()).await.unwrap() });
}

/// What happened to one event: its output prefix and its error, if it failed.
type Outcome = (String, Result<String, String>);

async fn kill_mid_job() {
    // A dead executor is noticed within seconds (heartbeats every second, see
    // start_cluster), not after the default three minutes.
    let mut cluster = tokio::task::spawn_blocking(|| {
        start_cluster_with(
            2,
            &[],
            &[
                "--executor-timeout-seconds",
                "5",
                "--expire-dead-executor-interval-seconds",
                "1",
            ],
        )
    })
    .await
    .unwrap();
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let scheduler = format!("df://127.0.0.1:{}", cluster.scheduler_port);
    let engine = Engine::remote(&scheduler, &bucket, Duration::from_secs(10))
        .await
        .unwrap();

    let in_flight: Arc<Mutex<Option<&'static str>>> = Arc::default();
    let runner = {
        let in_flight = in_flight.clone();
        let bucket = bucket.clone();
        tokio::spawn(async move {
            let mut outcomes: Vec<Outcome> = vec![];
            for name in EVENTS {
                *in_flight.lock().unwrap() = Some(name);
                let event = fixture_event(name).to_string();
                let outcome = match run_on(&engine, &bucket, &event).await {
                    Ok(outcome) => (name.to_string(), Ok(outcome.output_prefix)),
                    Err(e) => (name.to_string(), Err(e.to_string())),
                };
                *in_flight.lock().unwrap() = None;
                outcomes.push(outcome);
            }
            outcomes
        })
    };

    // Kill executor 0 once it has run tasks, while an event is in flight.
    let started = Instant::now();
    let killed_during = loop {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "executor 0 never ran a task"
        );
        if ran_tasks(cluster.work_dirs[0].path())
            && let Some(name) = *in_flight.lock().unwrap()
        {
            cluster.kill_executor(0);
            break name;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let outcomes = tokio::time::timeout(Duration::from_secs(600), runner)
        .await
        .expect("the events finish after the kill")
        .unwrap();

    // Only the event in flight may fail; every other one has the original's documents.
    for (name, outcome) in &outcomes {
        let (function, ty) = name.split_once("__").unwrap();
        let expected = fixtures().join(format!("expected/{function}/{ty}"));
        match outcome {
            Ok(prefix) => {
                compare_folders(&expected, &dir.path().join(prefix))
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                if name == killed_during {
                    eprintln!("{name}, in flight when the executor died, completed");
                }
            }
            Err(message) => {
                assert_eq!(name, killed_during, "{name} failed: {message}");
                eprintln!("{name}, in flight when the executor died, failed: {message}");
                let prefix = fixture_event(name)["payload"]["output_dataset"]["s3_prefix"]
                    .as_str()
                    .unwrap()
                    .replace("%stage%", "intermediate");
                let written = documents(&dir.path().join(prefix).join("lambda_invoker"));
                assert!(written.is_empty(), "{name} left {written:?}");
            }
        }
    }
    assert_eq!(outcomes.len(), EVENTS.len());
    assert!(
        ran_tasks(cluster.work_dirs[1].path()),
        "the survivor ran no task"
    );
}
