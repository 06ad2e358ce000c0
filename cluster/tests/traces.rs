//! Traces of a run on the multi-process cluster: `bydelsfakta --scheduler` exports its spans
//! to an OTLP receiver on loopback, and the execute span names the job that the scheduler
//! ran, as the run record does.

use std::process::Command;

use crate::common::{run_alone, start_cluster, workspace_binary};

use bydelsfakta_tests::fixtures;
use bydelsfakta_tests::logs::{json_lines, run_records};
use bydelsfakta_tests::otlp::OtlpReceiver;

#[test]
fn the_execute_span_names_the_cluster_job() {
    run_alone(execute_span());
}

async fn execute_span() {
    let cluster = start_cluster(2, &[]);
    let receiver = OtlpReceiver::start().await;
    let bucket = tempfile::tempdir().unwrap();
    bydelsfakta_tests::copy_dir(&fixtures().join("input"), bucket.path());
    let event = fixtures().join("events/husholdningstyper__status.json");
    let scheduler = format!("df://127.0.0.1:{}", cluster.scheduler_port);
    let endpoint = receiver.endpoint();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(workspace_binary("bydelsfakta"))
            .args(["--log-format", "json", "--scheduler", &scheduler])
            .args(["run", "--event"])
            .arg(&event)
            .arg("--bucket")
            .arg(bucket.path())
            .env_remove("OTEL_SDK_DISABLED")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stderr);
    let records = run_records(&lines);
    assert_eq!(records.len(), 1, "{lines:?}");
    let record = records[0];
    assert_eq!(record["engine"], "cluster");
    let job_id = record["job_id"]
        .as_str()
        .expect("a cluster run names its job");
    let (_, children) = receiver.run_spans(record["run_id"].as_str().unwrap());
    let execute = children
        .iter()
        .find(|s| s.name == "execute")
        .unwrap_or_else(|| panic!("no execute span: {children:?}"));
    assert_eq!(execute.attribute("bydelsfakta.job_id"), Some(job_id));
}
