//! Traces and lineage as an operator receives them: the binary exports its spans by OTLP
//! to a receiver on loopback that decodes the protobuf, and sends OpenLineage events to an
//! HTTP endpoint on loopback that checks them against the OpenLineage schema.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bydelsfakta_tests::loopback::Stalled;
use bydelsfakta_tests::openlineage::{LineageSink, Received, check_event};
use bydelsfakta_tests::otlp::{OtlpReceiver, ReceivedSpan};
use serde_json::Value;

use bydelsfakta_tests::logs::{json_lines, run_records};

use super::{BIN, assert_success, copy_dir, fixtures};

/// `bydelsfakta run` of `event` on `bucket`, with JSON logs and the variables `env`.
async fn run(event: &str, bucket: &Path, env: Vec<(&'static str, String)>) -> Output {
    run_on("embedded", event, bucket, env).await
}

/// [`run`] with `--engine engine`.
async fn run_on(
    engine: &'static str,
    event: &str,
    bucket: &Path,
    env: Vec<(&'static str, String)>,
) -> Output {
    let event: PathBuf = fixtures().join(format!("events/{event}.json"));
    let bucket = bucket.to_path_buf();
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["--log-format", "json", "--engine", engine, "run", "--event"])
            .arg(&event)
            .arg("--bucket")
            .arg(&bucket)
            .args(["--published-date", "2026-11-28"])
            .env_remove("OTEL_SDK_DISABLED")
            .env_remove("OPENLINEAGE_DISABLED")
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn one_record(out: &Output) -> Value {
    let lines = json_lines(&out.stderr);
    let records = run_records(&lines);
    assert_eq!(records.len(), 1, "{lines:?}");
    records[0].clone()
}

fn names(spans: &[ReceivedSpan]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}

fn events_of<'a>(received: &'a [Received], run_id: &str) -> Vec<&'a Received> {
    received
        .iter()
        .filter(|r| r.event["run"]["runId"] == run_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_exports_its_spans_and_sends_its_lineage() {
    let receiver = OtlpReceiver::start().await;
    let sink = LineageSink::start().await;
    let env = || {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
            ("OTEL_SERVICE_NAME", "bydelsfakta-test".to_string()),
            ("OPENLINEAGE_URL", sink.url()),
            ("OPENLINEAGE_API_KEY", "lineage-key".to_string()),
        ]
    };
    let bucket = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("input"), bucket.path());
    let out = run("husholdningstyper__status", bucket.path(), env()).await;
    assert_success(&out, "run");
    let record = one_record(&out);
    let run_id = record["run_id"].as_str().unwrap();

    // The spans: `event` is a root, every phase its child within its time.
    let (root, children) = receiver.run_spans(run_id);
    assert_eq!(root.service, "bydelsfakta-test");
    assert_eq!(root.parent_span_id, "", "{root:?}");
    assert_eq!(
        root.attribute("bydelsfakta.function"),
        Some("husholdningstyper")
    );
    assert_eq!(root.attribute("bydelsfakta.outcome"), Some("written"));
    assert_eq!(
        root.attribute("bydelsfakta.documents"),
        Some(record["documents"].to_string().as_str())
    );
    assert_eq!(
        names(&children),
        ["contract", "read", "plan", "execute", "publish"]
    );
    for child in &children {
        assert_eq!(child.parent_span_id, root.span_id, "{child:?}");
        assert!(
            root.start_unix_nano <= child.start_unix_nano
                && child.start_unix_nano <= child.end_unix_nano
                && child.end_unix_nano <= root.end_unix_nano,
            "{child:?} outside {root:?}"
        );
    }
    // Embedded: no job.
    assert_eq!(children[3].attribute("bydelsfakta.job_id"), None);

    // Lineage: START then COMPLETE, with the bearer token, valid by the schema.
    let received = sink.received();
    let events = events_of(&received, run_id);
    let types: Vec<&Value> = events.iter().map(|r| &r.event["eventType"]).collect();
    assert_eq!(types, ["START", "COMPLETE"], "{received:?}");
    for r in &events {
        assert_eq!(r.authorization.as_deref(), Some("Bearer lineage-key"));
        check_event(&r.event).unwrap_or_else(|e| panic!("{e:?}: {}", r.event));
        assert_eq!(r.event["job"]["name"], "husholdningstyper.status");
        assert_eq!(r.event["job"]["namespace"], "bydelsfakta");
    }
    let complete = &events[1].event;
    let input = &complete["inputs"][0];
    assert_eq!(input["name"], record["inputs"][0]["key"]);
    let read = &input["inputFacets"]["inputStatistics"];
    assert_eq!(read["rowCount"], record["inputs"][0]["rows"]);
    assert_eq!(read["size"], record["inputs"][0]["size"]);
    assert_eq!(
        input["facets"]["version"]["datasetVersion"],
        "20241002T165621"
    );
    let output = &complete["outputs"][0];
    assert_eq!(output["name"], record["output_prefix"]);
    let statistics = &output["outputFacets"]["outputStatistics"];
    assert_eq!(statistics["fileCount"], record["documents"]);
    assert_eq!(statistics["size"], record["bytes"]);

    // The check is a real one: a broken event or facet is refused.
    let mut broken = complete.clone();
    broken["run"]["runId"] = "not-a-uuid".into();
    assert!(check_event(&broken).is_err());
    let mut broken = complete.clone();
    broken["outputs"][0]["outputFacets"]["outputStatistics"]["size"] = "many".into();
    assert!(check_event(&broken).is_err());

    // A failing run: its event span says so, and lineage has START then FAIL.
    let empty = tempfile::tempdir().unwrap();
    let out = run("husholdningstyper__status", empty.path(), env()).await;
    assert!(!out.status.success());
    let record = one_record(&out);
    let run_id = record["run_id"].as_str().unwrap();
    let (root, children) = receiver.run_spans(run_id);
    assert_eq!(root.status.0, 2, "{root:?}");
    assert!(root.status.1.contains("EmptyPrefixError"), "{root:?}");
    assert_eq!(names(&children), ["contract"]);
    let received = sink.received();
    let events = events_of(&received, run_id);
    let types: Vec<&Value> = events.iter().map(|r| &r.event["eventType"]).collect();
    assert_eq!(types, ["START", "FAIL"], "{received:?}");
    let fail = &events[1].event;
    check_event(fail).unwrap_or_else(|e| panic!("{e:?}: {fail}"));
    let message = fail["run"]["facets"]["errorMessage"]["message"]
        .as_str()
        .unwrap();
    assert!(message.starts_with("EmptyPrefixError: "), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_lineage_endpoint_never_fails_a_run() {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused.
    let bucket = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("input"), bucket.path());
    let env = vec![("OPENLINEAGE_URL", "http://127.0.0.1:9".to_string())];
    let out = run("husholdningstyper__status", bucket.path(), env).await;
    assert_success(&out, "run");
    assert_eq!(one_record(&out)["outcome"], "written");
    let warnings: Vec<Value> = json_lines(&out.stderr)
        .into_iter()
        .filter(|line| line["level"] == "WARN")
        .collect();
    // Both events were tried, and each failure told.
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    for warning in &warnings {
        let message = warning["message"].as_str().unwrap();
        assert!(
            message
                .contains("OpenLineage: event not delivered to http://127.0.0.1:9/api/v1/lineage"),
            "{message}"
        );
    }
}

/// The `WARN` lines of `out`'s JSON log, with the index of each among all its lines.
fn warnings(out: &Output) -> Vec<(usize, Value)> {
    json_lines(&out.stderr)
        .into_iter()
        .enumerate()
        .filter(|(_, line)| line["level"] == "WARN")
        .collect()
}

/// A bucket with the fixtures' inputs.
fn input_bucket() -> tempfile::TempDir {
    let bucket = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("input"), bucket.path());
    bucket
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_lineage_endpoint_never_holds_up_a_run() {
    let endpoint = Stalled::start().await;
    let bucket = input_bucket();
    let env = vec![("OPENLINEAGE_URL", endpoint.url())];
    let out = run("husholdningstyper__status", bucket.path(), env).await;
    assert_success(&out, "run");
    let record = one_record(&out);
    assert_eq!(record["outcome"], "written");
    // Both events were tried and given up at the POST's limit, after the run had logged
    // its record: the run never waited for the endpoint.
    assert_eq!(endpoint.requests(), 2);
    let lines = json_lines(&out.stderr);
    let record_at = lines
        .iter()
        .position(|line| line["target"] == "bydelsfakta::run")
        .unwrap_or_else(|| panic!("no run record: {lines:?}"));
    let warnings = warnings(&out);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    for (at, warning) in &warnings {
        assert!(*at > record_at, "{warning} before the run record");
        let message = warning["message"].as_str().unwrap();
        assert!(
            message.contains("OpenLineage: event not delivered"),
            "{message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_or_stalled_collector_never_fails_a_run() {
    let stalled = Stalled::start().await;
    let collectors = [
        // Port 9 (discard) on loopback: nothing listens, the connection is refused.
        ("unreachable", "http://127.0.0.1:9".to_string()),
        ("stalled", stalled.url()),
    ];
    for (what, endpoint) in collectors {
        let bucket = input_bucket();
        let env = vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000".to_string()),
        ];
        let out = run("husholdningstyper__status", bucket.path(), env).await;
        assert_success(&out, what);
        assert_eq!(one_record(&out)["outcome"], "written", "{what}");
        let warnings = warnings(&out);
        assert!(
            warnings.iter().any(|(_, warning)| warning["message"]
                .as_str()
                .unwrap()
                .starts_with("OTLP: spans not exported")),
            "{what}: {warnings:?}"
        );
    }
    assert!(stalled.requests() >= 1, "the spans were offered");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_cluster_the_execute_span_names_the_job() {
    let receiver = OtlpReceiver::start().await;
    let bucket = input_bucket();
    let env = vec![("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())];
    let out = run_on(
        "standalone",
        "husholdningstyper__status",
        bucket.path(),
        env,
    )
    .await;
    assert_success(&out, "run");
    let record = one_record(&out);
    assert_eq!(record["engine"], "standalone");
    let job_id = record["job_id"]
        .as_str()
        .expect("a cluster run names its job");
    let (_, children) = receiver.run_spans(record["run_id"].as_str().unwrap());
    let execute = children.iter().find(|s| s.name == "execute").unwrap();
    assert_eq!(execute.attribute("bydelsfakta.job_id"), Some(job_id));
}
