//! The shim binary as Lambda runs it: its bootstrap polls a Lambda Runtime API on loopback,
//! runs each pipeline event, and posts the step output or a typed invocation error. One
//! process serves every invocation, as a warm container does.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use bydelsfakta_queries::publication::lease::{Holder, LeaseRecord};
use bydelsfakta_tests::lambda_api::{Answer, RuntimeApi, trace_header};
use bydelsfakta_tests::otlp::OtlpReceiver;
use bydelsfakta_tests::{bucket_copy, compare_folders, fixture_event, fixtures};

const ANSWER_WITHIN: Duration = Duration::from_secs(300);

struct Shim(Child);

impl Drop for Shim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_shim(api: &RuntimeApi, bucket_url: &str) -> Shim {
    shim_command(api, bucket_url)
        .stdout(Stdio::null())
        .spawn()
        .map(Shim)
        .expect("start the shim")
}

fn shim_command(api: &RuntimeApi, bucket_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bydelsfakta-lambda-shim"));
    command
        .envs(api.function_env())
        .env("BYDELSFAKTA_BUCKET", bucket_url)
        .env("BYDELSFAKTA_PUBLISHED_DATE", "2026-11-28")
        .env_remove("BYDELSFAKTA_SCHEDULER")
        .env_remove("RUST_LOG");
    command
}

fn expected_step_output(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(format!("returns/{name}.json")))
        .expect("the original's step output");
    serde_json::from_str(&text).expect("JSON")
}

fn output_folder(bucket_dir: &Path, step_output: &Value, dataset: &str) -> std::path::PathBuf {
    let prefix = step_output["s3_input_prefixes"][dataset]
        .as_str()
        .expect("the output prefix");
    bucket_dir.join(prefix)
}

fn expect_error(answer: Answer, kind: &str, mentions: &[&str]) {
    match answer {
        Answer::Error { error_type, body } => {
            // The header only says that the function failed; the document says how.
            assert_eq!(error_type, "unhandled", "{body}");
            assert_eq!(body["errorType"], kind, "{body}");
            let message = body["errorMessage"].as_str().unwrap_or_default();
            for mention in mentions {
                assert!(message.contains(mention), "{message}");
            }
        }
        other => panic!("expected {kind}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn events_in_step_outputs_and_typed_errors_out() {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let api = RuntimeApi::start().await;
    let _shim = start_shim(&api, bucket.url());

    for name in ["trangboddhet__over-2_status", "eieform__status"] {
        let event = fixture_event(name);
        let step_output = match api.invoke(&event, ANSWER_WITHIN).await {
            Answer::Response(output) => output,
            other => panic!("{name}: {other:?}"),
        };
        // Same keys in the same order as the original's return value.
        assert_eq!(
            serde_json::to_string(&step_output).unwrap(),
            serde_json::to_string(&expected_step_output(name)).unwrap(),
            "{name}"
        );
        let dataset = event["payload"]["output_dataset"]["id"].as_str().unwrap();
        let (function, ty) = name.split_once("__").unwrap();
        compare_folders(
            &fixtures().join(format!("expected/{function}/{ty}")),
            &output_folder(dir.path(), &step_output, dataset),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    }

    let mut extra = fixture_event("husholdningstyper__status");
    extra["payload"]["output_dataset"]["edition"] = json!("20261128T000000");
    extra["payload"]["output_dataset"]["s3_prefix"] = json!(
        "%stage%/yellow/bydelsfakta-grafdata/husholdningstyper-status/version=1/edition=20261128T000000/"
    );
    extra["payload"]["step_data"]["s3_input_prefixes"]["landbakgrunn-storste-innvandringsgrupper"] =
        json!("processed/green/landbakgrunn-storste-innvandringsgrupper/version=1/edition=x/");
    let answer = api.invoke(&extra, ANSWER_WITHIN).await;
    expect_error(
        answer,
        "ExtraPrefixesInInputError",
        &["landbakgrunn-storste-innvandringsgrupper"],
    );

    let mut empty = extra.clone();
    let prefixes = empty["payload"]["step_data"]["s3_input_prefixes"]
        .as_object_mut()
        .unwrap();
    prefixes.remove("landbakgrunn-storste-innvandringsgrupper");
    let input = prefixes.keys().next().unwrap().clone();
    prefixes[&input] = json!("processed/green/nothing-here/");
    expect_error(
        api.invoke(&empty, ANSWER_WITHIN).await,
        "EmptyPrefixError",
        &["processed/green/nothing-here/"],
    );

    let failed_output = dir
        .path()
        .join("intermediate/yellow/bydelsfakta-grafdata/husholdningstyper-status");
    assert!(
        bydelsfakta_tests::files_below(&failed_output).is_empty(),
        "a failed invocation wrote {:?}",
        bydelsfakta_tests::files_below(&failed_output)
    );
}

/// Lambda's JSON log format: every line the shim writes is a JSON object, and each
/// invocation's run record carries its request id.
#[tokio::test(flavor = "multi_thread")]
async fn json_logs_carry_the_request_id() {
    let (_dir, bucket) = bucket_copy(&fixtures().join("input"));
    let api = RuntimeApi::start().await;
    let log = tempfile::NamedTempFile::new().unwrap();
    let shim = shim_command(&api, bucket.url())
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
        .stdout(log.reopen().unwrap())
        .spawn()
        .map(Shim)
        .expect("start the shim");
    let event = fixture_event("trangboddhet__over-2_status");
    assert!(matches!(
        api.invoke(&event, ANSWER_WITHIN).await,
        Answer::Response(_)
    ));
    let mut failing = event.clone();
    failing["payload"]["step_data"]["s3_input_prefixes"]["husholdninger-etter-rom-per-person"] =
        json!("processed/green/nothing-here/");
    expect_error(
        api.invoke(&failing, ANSWER_WITHIN).await,
        "EmptyPrefixError",
        &["nothing-here"],
    );
    drop(shim);
    let text = std::fs::read_to_string(log.path()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let records: Vec<&Value> = lines
        .iter()
        .filter(|line| line["target"] == "bydelsfakta::run")
        .collect();
    assert_eq!(records.len(), 2, "{text}");
    assert_eq!(records[0]["requestId"], "request-1");
    assert_eq!(records[0]["run"]["outcome"], "written");
    assert_eq!(
        records[0]["run"]["output_dataset"],
        "trangboddhet-over-2-status"
    );
    assert_eq!(records[1]["requestId"], "request-2");
    assert_eq!(records[1]["run"]["error"]["kind"], "EmptyPrefixError");
}

/// Each invocation's spans join the caller's trace: the `event` span's trace is the X-Ray
/// header's `Root` and its parent the header's `Parent`; they are exported before the
/// invocation answers (Lambda may freeze the process after).
#[tokio::test(flavor = "multi_thread")]
async fn spans_join_the_invocations_trace() {
    let (_dir, bucket) = bucket_copy(&fixtures().join("input"));
    let api = RuntimeApi::start().await;
    let receiver = OtlpReceiver::start().await;
    let _shim = shim_command(&api, bucket.url())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
        .env_remove("OTEL_SERVICE_NAME")
        .env_remove("OTEL_SDK_DISABLED")
        .stdout(Stdio::null())
        .spawn()
        .map(Shim)
        .expect("start the shim");
    let event = fixture_event("trangboddhet__over-2_status");
    for request in ["request-1", "request-2"] {
        assert!(matches!(
            api.invoke(&event, ANSWER_WITHIN).await,
            Answer::Response(_)
        ));
        // Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=1
        let header = trace_header(request);
        let root = header
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("Root=1-");
        let trace_id = root.replace('-', "");
        let parent = header
            .split(';')
            .nth(1)
            .unwrap()
            .trim_start_matches("Parent=");
        let spans: Vec<_> = receiver
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect();
        let event_span = spans
            .iter()
            .find(|s| s.name == "event")
            .unwrap_or_else(|| panic!("no event span in {trace_id}: {:?}", receiver.spans()));
        assert_eq!(event_span.parent_span_id, parent);
        assert_eq!(event_span.service, "bydelsfakta");
        assert_eq!(spans.len(), 6, "{spans:?}");
        for span in spans.iter().filter(|s| s.name != "event") {
            assert_eq!(span.parent_span_id, event_span.span_id, "{span:?}");
        }
    }
}

/// A publication in the shim's own process waits for another run's lease only while the
/// invocation has time: it answers `PublicationInProgressError` before Lambda would stop
/// it, not after the 60 s publish wait, and changes nothing. (docs/publication.md,
/// "A deadline")
#[tokio::test(flavor = "multi_thread")]
async fn a_lease_held_elsewhere_is_waited_for_only_until_the_invocations_deadline() {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let api = RuntimeApi::start().await;
    let _shim = start_shim(&api, bucket.url());
    let name = "trangboddhet__over-2_status";
    let event = fixture_event(name);
    let step_output = match api.invoke(&event, ANSWER_WITHIN).await {
        Answer::Response(output) => output,
        other => panic!("{name}: {other:?}"),
    };
    let dataset = event["payload"]["output_dataset"]["id"].as_str().unwrap();
    let folder = output_folder(dir.path(), &step_output, dataset);
    let published = contents(&folder);

    // Another machine's run holds the output prefix's lease for ten minutes.
    let lease = folder.join("_publication/lease/0000000001.json");
    std::fs::create_dir_all(lease.parent().unwrap()).unwrap();
    let record = LeaseRecord {
        run_id: "held-elsewhere".into(),
        holder: Holder {
            machine: Some("another-host/another-boot/pid:[1]".into()),
            pid: 1,
            started: None,
        },
        expires_at_ms: (SystemTime::now() + Duration::from_secs(600))
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    };
    let lease_text = serde_json::to_vec(&record).unwrap();
    std::fs::write(&lease, &lease_text).unwrap();

    // A function of 10 s: its publications' deadline is 2 s before the invocation's.
    let answer = api
        .invoke_with_function_timeout(&event, Duration::from_secs(10), Duration::from_secs(30))
        .await;
    expect_error(
        answer,
        "PublicationInProgressError",
        &[
            "(run held-elsewhere) holds its lease",
            "at the run's deadline",
        ],
    );
    assert_eq!(
        std::fs::read(&lease).unwrap(),
        lease_text,
        "the lease was touched"
    );
    std::fs::remove_dir_all(folder.join("_publication")).unwrap();
    assert_eq!(contents(&folder), published, "the documents changed");
}

/// Every file below `folder` with its bytes.
fn contents(folder: &Path) -> Vec<(String, Vec<u8>)> {
    bydelsfakta_tests::files_below(folder)
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(folder.join(&name)).unwrap();
            (name, bytes)
        })
        .collect()
}

#[test]
fn a_bad_setting_stops_the_bootstrap_naming_the_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_bydelsfakta-lambda-shim"))
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("BYDELSFAKTA_BUCKET", "ftp://elsewhere")
        .output()
        .expect("run the shim");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("BYDELSFAKTA_BUCKET"), "{stderr}");
}
