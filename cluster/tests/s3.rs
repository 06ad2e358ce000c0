//! A pipeline event on an S3 bucket: an S3-protocol server on loopback with signed
//! requests, our scheduler and two executors reading and writing it with their own key,
//! and a client that only lists and reads headers with another. The server's clock runs
//! ahead of the machine's, and each executor's `/metrics` says by how much.

use std::time::Duration;

use crate::common::{assert_executors_ran_tasks, run_alone, start_cluster};
use bydelsfakta_tests::metrics::Metrics;
use bydelsfakta_tests::s3::server::{S3Server, assert_only_planning, assert_read_and_wrote};
use bydelsfakta_tests::s3::{MemoryS3, S3ErrorCode, ServerFault};

use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_scheduler_client::{Engine, plan_event, run_planned};
use bydelsfakta_tests::{compare_folders, fixture_event, fixtures, run_on};

const BUCKET: &str = "bydelsfakta";
const CLIENT: (&str, &str) = ("client-key", "client-secret");
const EXECUTORS: (&str, &str) = ("executor-key", "executor-secret");
/// How far the S3 server's clock, which stamps the objects it stores, is ahead.
const SERVER_CLOCK_AHEAD_MS: i64 = 90_000;

fn set_client_credentials(access: &str, secret: &str, endpoint: &str) {
    // SAFETY: the test runs alone (`common::alone`), so no other test's thread reads the
    // environment meanwhile; this test sets these before it starts each engine.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", access);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", secret);
        std::env::set_var("AWS_ENDPOINT_URL", endpoint);
        std::env::set_var("AWS_ALLOW_HTTP", "true");
        std::env::set_var("AWS_REGION", "us-east-1");
    }
}

#[test]
fn a_pipeline_event_on_s3_runs_on_the_executors() {
    run_alone(on_s3());
}

async fn on_s3() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let store = MemoryS3::default();
    store.load_dir(BUCKET, &fixtures().join("input"));
    let s3 = S3Server::start(store.clone(), &[CLIENT, EXECUTORS]).await;
    store.set_clock_ahead(SERVER_CLOCK_AHEAD_MS);
    let executor_env = [
        ("AWS_ACCESS_KEY_ID", EXECUTORS.0.to_string()),
        ("AWS_SECRET_ACCESS_KEY", EXECUTORS.1.to_string()),
        ("AWS_ENDPOINT_URL", s3.endpoint.clone()),
        ("AWS_ALLOW_HTTP", "true".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ];
    let cluster = tokio::task::spawn_blocking(move || start_cluster(2, &executor_env))
        .await
        .unwrap();
    let scheduler = format!("df://127.0.0.1:{}", cluster.scheduler_port);
    let bucket = Bucket::parse(&format!("s3://{BUCKET}")).unwrap();

    set_client_credentials(CLIENT.0, CLIENT.1, &s3.endpoint);
    let engine = Engine::remote(&scheduler, &bucket, Duration::from_secs(10))
        .await
        .unwrap();
    for (function, ty) in [
        ("trangboddhet", "over-2_status"),
        ("levekar_totalt", "status"),
    ] {
        let event = fixture_event(&format!("{function}__{ty}"));
        let outcome = run_on(&engine, &bucket, &event.to_string())
            .await
            .unwrap_or_else(|e| panic!("{function} {ty}: {e}"));
        let expected = fixtures().join(format!("expected/{function}/{ty}"));
        let written = store.download(BUCKET, &outcome.output_prefix);
        compare_folders(&expected, written.path())
            .unwrap_or_else(|e| panic!("{function} {ty}: {e}"));
    }

    // The client listed objects and read headers (ranged reads); the data went from S3 to
    // the executors and the documents from the executors to S3.
    assert_only_planning("the client", &s3.requests_by(CLIENT.0));
    assert_read_and_wrote("the executors", &s3.requests_by(EXECUTORS.0));
    assert_executors_ran_tasks(&cluster.work_dirs);
    assert_clock_offset_measured(&cluster.health_ports);
    group_with_a_failing_copy(&engine, &bucket, &store, &s3).await;

    // S3 refusing the client's credentials: a clear error, nothing written.
    let written = store.keys(BUCKET, "intermediate/");
    set_client_credentials(CLIENT.0, "not-the-secret", &s3.endpoint);
    let engine = Engine::remote(&scheduler, &bucket, Duration::from_secs(10))
        .await
        .unwrap();
    let event = fixture_event("trangboddhet__over-2_status");
    let err = run_on(&engine, &bucket, &event.to_string())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("SignatureDoesNotMatch") || err.contains("403"),
        "{err}"
    );
    assert_eq!(store.keys(BUCKET, "intermediate/"), written);
}

/// An executor that published measured the server's clock by its lease's time stamp: at
/// least what the time the lease's write took and the stamp's rounding leave certain,
/// never more than the truth.
fn assert_clock_offset_measured(health_ports: &[u16]) {
    let offsets: Vec<f64> = health_ports
        .iter()
        .map(|&port| Metrics::scrape(port).value("bydelsfakta_bucket_clock_offset_seconds"))
        .collect();
    let ahead = SERVER_CLOCK_AHEAD_MS as f64 / 1000.0;
    let measured = offsets.iter().cloned().fold(0.0, f64::max);
    assert!(
        measured > ahead - 2.0 && measured <= ahead + 0.001,
        "{offsets:?}"
    );
}

/// Two outputs sent as one job while S3 refuses one copy into place: the output whose
/// publication met it fails with a clear error and publishes nothing; the other is written
/// whole. The group's outputs never mix.
async fn group_with_a_failing_copy(
    engine: &Engine,
    bucket: &Bucket,
    store: &MemoryS3,
    s3: &S3Server,
) {
    let options = bydelsfakta_tests::run_options();
    let types = ["alle_status", "kort_status"];
    let mut planned = vec![];
    for ty in types {
        let event = fixture_event(&format!("innvandrer_befolkning__{ty}")).to_string();
        planned.push(plan_event(engine, bucket, &event, &options).await.unwrap());
    }
    let prefixes: Vec<String> = planned
        .iter()
        .map(|p| p.output_prefix().to_string())
        .collect();
    s3.inject(
        "CopyObject",
        1,
        ServerFault::Error(S3ErrorCode::AccessDenied),
    );
    let outcomes = run_planned(engine, planned).await;
    let mut failed = 0;
    for ((ty, prefix), outcome) in types.iter().zip(&prefixes).zip(outcomes) {
        match outcome {
            Ok(_) => {
                let expected = fixtures().join(format!("expected/innvandrer_befolkning/{ty}"));
                let written = store.download(BUCKET, prefix);
                compare_folders(&expected, written.path())
                    .unwrap_or_else(|e| panic!("innvandrer_befolkning {ty}: {e}"));
            }
            Err(e) => {
                failed += 1;
                let text = e.to_string();
                assert_eq!(e.kind(), "WriteError", "{text}");
                assert!(text.contains("AccessDenied"), "{text}");
                let documents: Vec<String> = store
                    .keys(BUCKET, prefix)
                    .into_iter()
                    .filter(|key| key.ends_with(".json"))
                    .collect();
                assert!(documents.is_empty(), "{ty} published {documents:?}");
            }
        }
    }
    assert_eq!(failed, 1, "the one refused copy fails one output");
}
