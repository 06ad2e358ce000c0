//! The `bydelsfakta` binary as a user runs it: stdout carries results, stderr messages,
//! and the exit code tells success from failure.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use bydelsfakta_tests::data_lines;
use bydelsfakta_tests::logs::{json_lines, run_records};

#[path = "cli/telemetry.rs"]
mod telemetry;

const BIN: &str = env!("CARGO_BIN_EXE_bydelsfakta");

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/public")
}

/// Asserts that the binary exited 0, showing its stderr (and `context`) when it did not.
fn assert_success(out: &Output, context: &str) {
    assert!(
        out.status.success(),
        "{context} exited with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn list_names_every_function_type_and_its_datasets() {
    let out = Command::new(BIN).arg("list").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("folkemengde") && text.contains("nokkeltall-om-befolkningen"),
        "{text}"
    );
    assert!(
        text.contains("levekar-totalt-status")
            && text.contains("redusert-funksjonsevne, botid-ikke-vestlige"),
        "{text}"
    );
    // The original's 78 outputs and the 6 of the port's three jobs.
    assert_eq!(text.lines().skip(1).count(), 84, "{text}");
    for output in [
        "median-totalpris-status",
        "median-totalpris-historisk",
        "neets-status",
        "neets-historisk",
        "utdanning-status",
        "utdanning-historisk",
    ] {
        assert!(text.contains(output), "{output}: {text}");
    }
}

#[test]
fn run_prints_the_step_output_and_writes_the_documents() {
    run_writes_the_original_documents("embedded");
}

#[test]
fn run_on_ballista_standalone_writes_the_same_documents() {
    run_writes_the_original_documents("standalone");
}

/// Also: the run leaves nothing in the temporary folder (a standalone executor's shuffle
/// files go with its engine).
fn run_writes_the_original_documents(engine: &str) {
    let bucket = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("input"), bucket.path());
    let temporary = tempfile::tempdir().unwrap();
    let event = fixtures().join("events/husholdningstyper__status.json");
    let out = Command::new(BIN)
        .env("TMPDIR", temporary.path())
        .args(["--engine", engine, "run", "--event"])
        .arg(&event)
        .arg("--bucket")
        .arg(format!("file://{}", bucket.path().display()))
        .args(["--published-date", "2026-11-28"])
        .output()
        .unwrap();
    assert_success(&out, "");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("returns/husholdningstyper__status.json"))
            .unwrap(),
    )
    .unwrap();
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, expected);
    let prefix = expected["s3_input_prefixes"]["husholdningstyper-status"]
        .as_str()
        .unwrap();
    let written = std::fs::read_to_string(bucket.path().join(prefix).join("00.json")).unwrap();
    let original =
        std::fs::read_to_string(fixtures().join("expected/husholdningstyper/status/00.json"))
            .unwrap();
    assert_eq!(written, original);
    let left: Vec<_> = std::fs::read_dir(temporary.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{engine}: left in TMPDIR: {left:?}");
}

#[test]
fn a_failing_run_exits_non_zero_with_the_reason() {
    let bucket = tempfile::tempdir().unwrap();
    let event = fixtures().join("events/husholdningstyper__status.json");
    let out = Command::new(BIN)
        .args(["run", "--event"])
        .arg(&event)
        .arg("--bucket")
        .arg(bucket.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no object under prefix 'processed/green/husholdningstyper/"),
        "{stderr}"
    );

    let out = Command::new(BIN)
        .args(["run", "--event", "-", "--bucket"])
        .arg(bucket.path())
        .args(["--published-date", "28.11.2026"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("YYYY-MM-DD"));
}

#[test]
fn json_logs_hold_one_record_per_run_and_nothing_else() {
    let bucket = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("input"), bucket.path());
    let event = fixtures().join("events/husholdningstyper__status.json");
    let run = |bucket: &Path| {
        Command::new(BIN)
            .args(["--log-format", "json", "run", "--event"])
            .arg(&event)
            .arg("--bucket")
            .arg(bucket)
            .args(["--published-date", "2026-11-28"])
            .output()
            .unwrap()
    };
    let out = run(bucket.path());
    assert_success(&out, "");
    // Stdout is the step output, as with text logs.
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("returns/husholdningstyper__status.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        expected
    );
    let lines = json_lines(&out.stderr);
    let records = run_records(&lines);
    assert_eq!(records.len(), 1, "{lines:?}");
    let record = records[0];
    let documents = std::fs::read_dir(fixtures().join("expected/husholdningstyper/status"))
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().extension() == Some("json".as_ref()))
        .count();
    assert_eq!(record["function"], "husholdningstyper");
    assert_eq!(record["type"], "status");
    assert_eq!(record["output_dataset"], "husholdningstyper-status");
    assert_eq!(record["engine"], "embedded");
    assert_eq!(record["outcome"], "written");
    assert_eq!(record["documents"], documents);
    assert!(record["job_id"].is_null());
    let input = &record["inputs"][0];
    assert_eq!(input["dataset"], "husholdningstyper");
    assert_eq!(input["version"], "1");
    assert_eq!(input["edition"], "20241002T165621");
    let object = bucket.path().join(input["key"].as_str().unwrap());
    assert_eq!(input["rows"], data_lines(&object), "the data lines");
    for phase in ["read", "plan", "execute", "publish", "total"] {
        assert!(record["ms"][phase].is_u64(), "{phase}: {record}");
    }
    let written = bucket
        .path()
        .join(record["output_prefix"].as_str().unwrap());
    // The documents, not the bookkeeping objects (`_manifest.json`).
    let written = std::fs::read_dir(written)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json") && !name.starts_with('_'))
        .count();
    assert_eq!(written, documents);

    // A failing run: its record and the error, as JSON lines only.
    let empty = tempfile::tempdir().unwrap();
    let out = run(empty.path());
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let lines = json_lines(&out.stderr);
    let records = run_records(&lines);
    assert_eq!(records.len(), 1, "{lines:?}");
    assert_eq!(records[0]["outcome"], "failed");
    assert_eq!(records[0]["error"]["kind"], "EmptyPrefixError");
    assert!(records[0]["documents"].is_null());
    let last = lines.last().unwrap();
    assert_eq!(
        (&last["level"], &last["kind"]),
        (&"ERROR".into(), &"EmptyPrefixError".into())
    );
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("no object under prefix 'processed/green/husholdningstyper/"),
        "{last}"
    );
}

#[test]
fn a_dry_run_builds_and_counts_the_documents_and_writes_nothing() {
    let bucket = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("input"), bucket.path());
    let before = files_in(bucket.path());
    let event = fixtures().join("events/husholdningstyper__status.json");
    for engine in ["embedded", "standalone"] {
        let out = Command::new(BIN)
            .args(["--engine", engine, "run", "--dry-run", "--event"])
            .arg(&event)
            .arg("--bucket")
            .arg(bucket.path())
            .args(["--published-date", "2026-11-28"])
            .output()
            .unwrap();
        assert_success(&out, engine);
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixtures().join("returns/husholdningstyper__status.json"))
                .unwrap(),
        )
        .unwrap();
        let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(printed, expected, "{engine}");
        let documents: u64 =
            std::fs::read_dir(fixtures().join("expected/husholdningstyper/status"))
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .filter(|path| path.extension() == Some("json".as_ref()))
                .map(|path| std::fs::metadata(path).unwrap().len())
                .sum();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("would write 16 documents ({documents} bytes)")),
            "{engine}: {stderr}"
        );
        assert_eq!(
            files_in(bucket.path()),
            before,
            "{engine} wrote to the bucket"
        );
    }
}

#[test]
fn explain_prints_the_plans_and_analyze_the_operators_rows() {
    let bucket = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("input"), bucket.path());
    let before = files_in(bucket.path());
    let event = fixtures().join("events/husholdningstyper__status.json");
    let explain = |extra: &[&str]| {
        let out = Command::new(BIN)
            .args(["explain", "--event"])
            .arg(&event)
            .arg("--bucket")
            .arg(bucket.path())
            .args(extra)
            .output()
            .unwrap();
        assert_success(&out, "explain");
        out.stdout
    };
    let text = String::from_utf8(explain(&[])).unwrap();
    assert!(text.contains("logical plan\n"), "{text}");
    assert!(text.contains("physical plan\nDocumentWriterExec"), "{text}");
    assert!(!text.contains("ran in"), "{text}");

    let json: serde_json::Value =
        serde_json::from_slice(&explain(&["--analyze", "--format", "json"])).unwrap();
    assert_eq!(json["output_dataset"], "husholdningstyper-status");
    let analyzed = &json["analyzed"];
    assert_eq!(analyzed["documents"], 16);
    let operators = analyzed["operators"].as_array().unwrap();
    assert_eq!(operators[0]["depth"], 0);
    assert!(
        operators[0]["operator"]
            .as_str()
            .unwrap()
            .starts_with("DocumentWriterExec")
    );
    // The writer's input: the final frame, one row per entry of the documents.
    assert_eq!(operators[1]["depth"], 1);
    assert!(
        operators[1]["output_rows"].as_u64() > Some(0),
        "{operators:?}"
    );
    assert!(operators[1]["compute_ms"].is_f64(), "{operators:?}");
    assert_eq!(
        files_in(bucket.path()),
        before,
        "explain wrote to the bucket"
    );
}

#[test]
fn lineage_shows_the_input_editions_behind_the_documents() {
    let bucket = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("input"), bucket.path());
    for name in ["husholdningstyper__status", "trangboddhet__over-2_status"] {
        let out = Command::new(BIN)
            .args(["run", "--event"])
            .arg(fixtures().join(format!("events/{name}.json")))
            .arg("--bucket")
            .arg(bucket.path())
            .output()
            .unwrap();
        assert_success(&out, name);
    }
    let lineage = |target: &str, format: &str| {
        Command::new(BIN)
            .args(["lineage", "--format", format, "--bucket"])
            .arg(bucket.path())
            .arg(target)
            .output()
            .unwrap()
    };
    let out = lineage("husholdningstyper-status", "json");
    assert_success(&out, "lineage");
    let manifests: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifests = manifests.as_array().unwrap();
    assert_eq!(manifests.len(), 1, "one output, one publication");
    let manifest = &manifests[0];
    assert_eq!(manifest["output_dataset"], "husholdningstyper-status");
    assert_eq!(manifest["engine"], "embedded");
    let input = &manifest["inputs"][0];
    assert_eq!(
        (&input["dataset"], &input["edition"]),
        (&"husholdningstyper".into(), &"20241002T165621".into())
    );
    // Every document it lists is there, with the size it records.
    let prefix = bucket
        .path()
        .join(manifest["output_prefix"].as_str().unwrap());
    let documents = manifest["documents"].as_array().unwrap();
    assert_eq!(documents.len(), 16);
    for document in documents {
        let path = prefix.join(document["name"].as_str().unwrap());
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            document["size"].as_u64().unwrap()
        );
    }
    // By output prefix, as text.
    let out = lineage(manifest["output_prefix"].as_str().unwrap(), "text");
    assert_success(&out, "lineage by prefix");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("husholdningstyper version 1 edition 20241002T165621"),
        "{text}"
    );
    assert!(text.contains("wrote 16 documents"), "{text}");
    let rows = format!("({} bytes, {} rows)", input["size"], input["rows"]);
    assert!(
        input["rows"].as_u64().unwrap() > 0 && text.contains(&rows),
        "{text}"
    );
    assert!(!text.contains("trangboddhet"), "{text}");
    // A crashed publication's backup of the manifest is bookkeeping, not a publication.
    let backup = prefix.join("_publication/runs/crashed/backup");
    std::fs::create_dir_all(&backup).unwrap();
    std::fs::copy(prefix.join("_manifest.json"), backup.join("_manifest.json")).unwrap();
    let out = lineage("husholdningstyper-status", "json");
    assert_success(&out, "lineage beside a backup");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    // A manifest that a publication deletes between the listing and its read (it replaces
    // it) is not a publication; the others are still shown.
    let root = format!(
        "{}/",
        manifest["output_prefix"]
            .as_str()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
    );
    let mut racing = Command::new(BIN)
        .args(["lineage", "--format", "json", "--bucket"])
        .arg(bucket.path())
        .arg(&root)
        .env(
            "BYDELSFAKTA_FAULTS",
            "get#1=delay:1500,path=husholdningstyper",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(racing.stderr.take().unwrap());
    let line = bydelsfakta_tests::wait_for_fault(&mut stderr);
    std::fs::remove_file(prefix.join("_manifest.json")).unwrap();
    let out = racing.wait_with_output().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(out.status.success(), "{line}{rest}");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let datasets: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["output_dataset"].as_str().unwrap())
        .collect();
    assert_eq!(datasets, ["trangboddhet-over-2-status"]);
    // Nothing published: an error that says so.
    let out = lineage("bydelsfakta-nothing", "text");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no publication of 'bydelsfakta-nothing'")
    );
    // A damaged manifest: a clear error naming it.
    let broken = bucket.path().join("intermediate/broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("_manifest.json"), "not json").unwrap();
    let out = lineage("intermediate/broken/", "text");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("manifest intermediate/broken/_manifest.json does not parse"),
        "{stderr}"
    );
}

/// Every file below `dir`, relative, sorted.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![];
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    files.sort();
    files
}

/// A folder name with what URLs give a meaning to, a percent sign and Norwegian letters:
/// every command reads and writes that very folder (the README, "Command line": a folder
/// path is taken as the file system names it).
const ODD_FOLDER: &str = "b#x ?y %41 bøtte";

#[test]
fn demo_runs_every_output_on_the_sample_bucket() {
    let parent = tempfile::tempdir().unwrap();
    let out_dir = parent.path().join(ODD_FOLDER);
    let out = Command::new(BIN)
        .args(["demo", "--published-date", "2026-11-28", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_success(&out, "");
    let text = String::from_utf8(out.stdout).unwrap();
    let outputs: usize = bydelsfakta_queries::functions::all()
        .iter()
        .map(|f| f.types.len())
        .sum();
    assert!(
        text.contains(&format!("total ({outputs} outputs)")),
        "{text}"
    );
    assert!(text.contains("levekar-totalt-status"), "{text}");
    let written = out_dir
        .join("intermediate/yellow/bydelsfakta-grafdata/levekar-totalt-status/version=1/edition=demo/lambda_invoker/00.json");
    let original =
        std::fs::read_to_string(fixtures().join("expected/levekar_totalt/status/00.json")).unwrap();
    assert_eq!(std::fs::read_to_string(written).unwrap(), original);
}

/// A synthesized bucket is one the reader accepts: every output runs on it (the copies'
/// sub-district ids are valid ids, the same in every input); a scale beyond the ids a
/// district has is refused before anything is written.
#[test]
fn every_output_runs_on_a_synthesized_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("big");
    let out = Command::new(BIN)
        .args(["synth", "--scale", "3", "--out"])
        .arg(&bucket)
        .output()
        .unwrap();
    assert_success(&out, "synth");
    let out = run_all(&bucket, &["--format", "json"]);
    assert_success(&out, "run-all on the synthesized bucket");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let outputs: usize = bydelsfakta_queries::functions::all()
        .iter()
        .map(|f| f.types.len())
        .sum();
    assert_eq!(report["outputs"].as_array().unwrap().len(), outputs);

    let refused = dir.path().join("too-big");
    let out = Command::new(BIN)
        .args(["synth", "--scale", "10", "--out"])
        .arg(&refused)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the largest scale is 9"), "{stderr}");
    assert!(!refused.exists(), "nothing written");
}

/// `bench` (one round, the sample only): the batch, its I/O floor of the same bytes, an
/// event file per output, and this build against another (here itself, from its own
/// copy); no side-by-side table without `--scheduler` or standalone.
#[test]
fn bench_measures_the_batch_and_its_io_floor() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["bench", "--scales", "1", "--repeat", "1", "--dir"])
        .arg(dir.path())
        .arg("--against")
        .arg(BIN)
        .output()
        .unwrap();
    assert_success(&out, "bench");
    let text = String::from_utf8(out.stdout).unwrap();
    let floor = text
        .lines()
        .find(|line| line.contains("I/O floor"))
        .unwrap_or_else(|| panic!("no floor in {text}"));
    let megabytes = |after: &str| -> f64 {
        let rest = &floor[floor.find(after).unwrap() + after.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    // The sample's inputs are 9.1 MB of CSV and a batch writes 19.7 MB (docs/speed.md).
    assert!((5.0..15.0).contains(&megabytes("read ")), "{floor}");
    assert!((10.0..30.0).contains(&megabytes("wrote ")), "{floor}");
    assert!(!text.contains("against embedded"), "{text}");
    let against = text
        .lines()
        .find(|line| line.starts_with("ours 1x against "))
        .unwrap_or_else(|| panic!("no comparison in {text}"));
    assert!(
        against.contains("(median of 1 alternating pairs)"),
        "{against}"
    );
    let ratio = |after: &str| -> f64 {
        let rest = &against[against.find(after).unwrap() + after.len()..];
        rest.split('x').next().unwrap().parse().unwrap()
    };
    for ratio in [ratio("process "), ratio("wall and ")] {
        assert!(ratio.is_finite() && ratio > 0.0, "{against}");
    }
    assert!(!against.contains("unknown"), "{against}");
    // The two copies it ran are gone with the bench.
    assert!(!dir.path().join("binaries").exists());
    let outputs: usize = bydelsfakta_queries::functions::all()
        .iter()
        .map(|f| f.types.len())
        .sum();
    let events = std::fs::read_dir(dir.path().join("events-1"))
        .unwrap()
        .count();
    assert_eq!(events, outputs);
}

/// A batch frees each input, and the shared and common frames built from it, once no
/// output still to run reads it; the outputs here read ten inputs, and afterwards the
/// engine holds nothing of any of them.
#[tokio::test(flavor = "multi_thread")]
async fn run_all_frees_each_input_once_no_later_output_reads_it() {
    use bydelsfakta_cli::run_all::{RunAllOptions, run_all};
    use bydelsfakta_queries::bucket::Bucket;
    use bydelsfakta_queries::function::CommonFrames;
    use bydelsfakta_scheduler_client::engine::Engine;
    use bydelsfakta_udfs::plan::SharedFrames;

    let dir = tempfile::tempdir().unwrap();
    copy_dir(&sample_bucket(), dir.path());
    let bucket = Bucket::folder(&std::fs::canonicalize(dir.path()).unwrap()).unwrap();
    let engine = Engine::embedded(&bucket).await.unwrap();
    let options = RunAllOptions {
        edition: Some("forget".into()),
        changed: None,
        outputs: [
            "levekar-totalt-status",
            "trangboddhet-alle-status",
            "trangboddhet-alle-historisk",
        ]
        .map(String::from)
        .to_vec(),
        published_date: "2026-11-28".into(),
        jobs: Some(1),
        publish: Default::default(),
    };
    let rows = run_all(&engine, &bucket, &options).await.unwrap();
    assert_eq!(rows.len(), 3);
    for row in &rows {
        assert!(
            row.outcome.is_ok(),
            "{}: {:?}",
            row.output_dataset,
            row.outcome
        );
    }
    let config = engine.context().copied_config();
    assert_eq!(engine.input_cache().unwrap().len(), 0, "every input freed");
    assert_eq!(config.get_extension::<SharedFrames>().unwrap().len(), 0);
    assert_eq!(config.get_extension::<CommonFrames>().unwrap().len(), 0);
}

fn run_all(bucket: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(["run-all", "--published-date", "2026-11-28", "--bucket"])
        .arg(bucket)
        .args(extra)
        .output()
        .unwrap()
}

fn table_outputs(stdout: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(stdout);
    text.lines()
        .skip(1)
        .filter(|l| !l.starts_with("total") && !l.starts_with("wall time"))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

// The fan-out of docs/contract.md, index §1: dodsrater feeds levekaar_dodsrate and levekar_totalt.
#[test]
fn run_all_changed_runs_exactly_the_outputs_that_read_the_input() {
    let bucket = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("input"), bucket.path());
    let out = run_all(
        bucket.path(),
        &[
            "--changed",
            "dodsrater",
            "--edition",
            "e1",
            "--format",
            "json",
        ],
    );
    assert_success(&out, "");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut outputs: Vec<&str> = report["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            assert_eq!(o["documents"], 16, "{o}");
            o["output_dataset"].as_str().unwrap()
        })
        .collect();
    outputs.sort();
    assert!(report["wall_ms"].as_f64().unwrap() > 0.0);
    assert!(report["peak_rss_bytes"].as_u64().unwrap() > 1 << 20);
    assert_eq!(
        outputs,
        vec![
            "levekaar-dodsrate-historisk",
            "levekaar-dodsrate-status",
            "levekar-totalt-status"
        ]
    );
    let written = bucket
        .path()
        .join("intermediate/yellow/bydelsfakta-grafdata/levekar-totalt-status/version=1/edition=e1/lambda_invoker/00.json");
    let original =
        std::fs::read_to_string(fixtures().join("expected/levekar_totalt/status/00.json")).unwrap();
    assert_eq!(std::fs::read_to_string(written).unwrap(), original);

    let out = run_all(bucket.path(), &["--changed", "no-such-input"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("input datasets: befolkning-etter-kjonn-og-alder")
    );
}

// The port's jobs fan out like the others: a new neets edition runs its two outputs.
#[test]
fn run_all_changed_runs_the_port_jobs_too() {
    let bucket = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("input"), bucket.path());
    assert_eq!(
        outputs_run(bucket.path(), &["--changed", "neets", "--edition", "e3"]),
        vec!["neets-historisk", "neets-status"]
    );
    let written = bucket.path().join(
        "intermediate/yellow/bydelsfakta-grafdata/neets-status/version=1/edition=e3/lambda_invoker/01.json",
    );
    let expected =
        std::fs::read_to_string(fixtures().join("expected/neets/status/01.json")).unwrap();
    assert_eq!(std::fs::read_to_string(written).unwrap(), expected);
}

/// The outputs a successful `run-all` reports, sorted.
fn outputs_run(bucket: &Path, extra: &[&str]) -> Vec<String> {
    let out = run_all(bucket, extra);
    assert_success(&out, "");
    let mut outputs = table_outputs(&out.stdout);
    outputs.sort();
    outputs
}

// `--output` picks outputs by name (the bench's batch of the original's outputs alone);
// with `--changed` it narrows that input's fan-out.
#[test]
fn run_all_output_runs_exactly_the_named_outputs() {
    let bucket = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("input"), bucket.path());
    let named = [
        "--output",
        "neets-status,levekaar-dodsrate-status",
        "--output",
        "eieform-status",
    ];
    assert_eq!(
        outputs_run(bucket.path(), &named),
        vec!["eieform-status", "levekaar-dodsrate-status", "neets-status"]
    );
    let narrowed = [
        "--changed",
        "dodsrater",
        "--output",
        "levekar-totalt-status,neets-status",
    ];
    assert_eq!(
        outputs_run(bucket.path(), &narrowed),
        vec!["levekar-totalt-status"]
    );

    let out = run_all(bucket.path(), &["--output", "neets-status,no-such-output"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--output: not an output dataset: no-such-output; output datasets: "),
        "{stderr}"
    );
}

#[test]
fn run_all_reads_the_latest_edition_and_reports_every_failure() {
    let bucket = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("input"), bucket.path());
    // A newer edition of dodsrater where Lodalen's 2023 rate is 99.9.
    let dataset = bucket.path().join("processed/green/dodsrater/version=1");
    let old = std::fs::read_dir(&dataset)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let new = dataset.join("edition=20991231T000000");
    std::fs::create_dir_all(&new).unwrap();
    let text = std::fs::read_to_string(old.join("dodsrater.csv")).unwrap();
    let edited: String = text
        .lines()
        .map(|line| {
            let cells: Vec<&str> = line.split(';').collect();
            if cells[0] == "2023" && cells[1] == "0101" {
                format!("{};99.9\n", cells[..cells.len() - 1].join(";"))
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    assert!(edited.contains(";99.9\n"));
    std::fs::write(new.join("dodsrater.csv"), edited).unwrap();
    // levekar_totalt cannot run without its ikke-fullfort-vgs input.
    std::fs::remove_dir_all(bucket.path().join("processed/green/ikke-fullfort-vgs")).unwrap();

    let out = run_all(
        bucket.path(),
        &["--changed", "dodsrater", "--edition", "e2"],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 of 3 outputs failed: levekar-totalt-status"),
        "{stderr}"
    );
    assert!(
        stderr.contains("no edition under processed/ of input ikke-fullfort-vgs"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAILED"));
    let doc = std::fs::read_to_string(bucket.path().join(
        "intermediate/yellow/bydelsfakta-grafdata/levekaar-dodsrate-status/version=1/edition=e2/lambda_invoker/01.json",
    ))
    .unwrap();
    assert!(
        doc.contains("\"value\": 99.9, \"ratio\": 0.9990000000000001"),
        "{}",
        &doc[..400]
    );
}

fn sample_bucket() -> PathBuf {
    fixtures().join("input")
}

fn sql(args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .arg("sql")
        .arg("--bucket")
        .arg(sample_bucket())
        .args(args)
        .env("HOME", std::env::temp_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Births per district in 2023, summed here from the sample's CSV, as `bydel_id,n` lines.
fn births_2023() -> String {
    let path =
        sample_bucket().join("processed/green/fodte/version=1/edition=20241215T063308/fodte.csv");
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(';').collect();
    let at = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let (aar, bydel, count) = (at("aar"), at("bydel_id"), at("antall_fodte"));
    let mut sums = std::collections::BTreeMap::<String, i64>::new();
    for line in lines {
        let cells: Vec<&str> = line.split(';').collect();
        if cells[aar] == "2023" {
            *sums.entry(cells[bydel].to_string()).or_default() +=
                cells[count].parse::<i64>().unwrap();
        }
    }
    sums.iter().map(|(b, n)| format!("{b},{n}\n")).collect()
}

const BIRTHS_2023: &str = "SELECT bydel_id, SUM(antall_fodte) AS n FROM fodte \
                           WHERE aar = 2023 GROUP BY bydel_id ORDER BY bydel_id";

#[test]
fn sql_prints_a_table_or_csv() {
    let out = sql(&["--format", "csv", BIRTHS_2023], "");
    assert_success(&out, "");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("bydel_id,n\n{}", births_2023())
    );

    let out = sql(&[BIRTHS_2023], "");
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let first = births_2023().lines().next().unwrap().replace(',', " ");
    let (id, n) = first.split_once(' ').unwrap();
    assert!(table.contains("| bydel_id | n "), "{table}");
    assert!(
        table.contains(&format!("| {id:<8} | {n}")),
        "{id} {n}: {table}"
    );
    assert!(table.ends_with("(18 rows)\n"), "{table}");

    // A statement that starts with a comment is a statement, not an option.
    let commented = format!("-- births per district\n{BIRTHS_2023}");
    let out = sql(&["--format", "csv", &commented], "");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("bydel_id,n\n{}", births_2023()),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = sql(
        &[
            "--format",
            "ndjson",
            "SELECT delbydel_id FROM fodte LIMIT 1",
        ],
        "",
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"delbydel_id\":\"0101\"}\n"
    );
}

#[test]
fn sql_refusals_and_malformed_queries_exit_non_zero_with_the_reason() {
    for (query, reason) in [
        ("DROP TABLE fodte", "read-only"),
        ("COPY fodte TO '/tmp/bydelsfakta-never.csv'", "read-only"),
        (
            "SELEC 1",
            "syntax error: sql parser error: Expected: an SQL statement",
        ),
        ("SELECT nope FROM fodte", "No field named nope"),
    ] {
        let out = sql(&[query], "");
        assert!(!out.status.success(), "{query}");
        assert!(out.stdout.is_empty(), "{query}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(reason), "{query}: {stderr}");
    }
}

#[test]
fn sql_shell_reads_statements_and_commands_from_stdin() {
    let script = "\\d\n\
                  SELECT bydel_id, SUM(antall_fodte) AS n\n\
                    FROM fodte WHERE aar = 2023\n\
                   GROUP BY bydel_id ORDER BY bydel_id;\n\
                  \\d fodte\n\
                  \\functions\n\
                  DROP TABLE fodte;\n\
                  SHOW FUNCTIONS LIKE 'ratio';\n\
                  \\q\n\
                  SELECT 'never run';\n";
    let out = sql(&["--format", "csv"], script);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The refused DROP is reported, the shell goes on, and the exit code tells.
    assert!(!out.status.success());
    assert!(stderr.contains("error: read-only"), "{stderr}");
    assert!(
        stdout.contains("fodte__editions,fodte,1 edition,8"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("bydel_id,n\n{}", births_2023())),
        "{stdout}"
    );
    assert!(stdout.contains("delbydel_id,Utf8,YES"), "{stdout}");
    assert!(stdout.contains("sum_nans,aggregate,"), "{stdout}");
    assert!(stdout.contains("ratio"), "{stdout}");
    assert!(!stdout.contains("never run"), "{stdout}");

    let out = sql(&[], "SELECT count(*) AS n FROM fodte");
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().contains("(1 row)"));
}

/// `run` (embedded and standalone), `run-all` and `sql` on a bucket folder whose name holds
/// `#`, `?`, `%`, spaces and `ø`: they read and write that folder, and nothing else.
#[test]
fn folders_with_any_name_are_read_and_written_as_named() {
    let parent = tempfile::tempdir().unwrap();
    let bucket = parent.path().join(ODD_FOLDER);
    copy_dir(&fixtures().join("input"), &bucket);
    let event = fixtures().join("events/trangboddhet__over-2_status.json");
    let written = bucket.join(
        "intermediate/yellow/bydelsfakta-grafdata/trangboddhet-over-2-status/version=1/edition=20250601T120000/lambda_invoker/00.json",
    );
    let original =
        std::fs::read_to_string(fixtures().join("expected/trangboddhet/over-2_status/00.json"))
            .unwrap();
    for engine in ["embedded", "standalone"] {
        let out = Command::new(BIN)
            .args(["--engine", engine, "run", "--published-date", "2026-11-28"])
            .arg("--event")
            .arg(&event)
            .arg("--bucket")
            .arg(&bucket)
            .output()
            .unwrap();
        assert_success(&out, engine);
        assert_eq!(
            std::fs::read_to_string(&written).unwrap(),
            original,
            "{engine}"
        );
        std::fs::remove_dir_all(bucket.join("intermediate")).unwrap();
    }
    let out = run_all(&bucket, &["--output", "trangboddhet-over-2-status"]);
    assert_success(&out, "");
    assert_eq!(
        table_outputs(&out.stdout),
        vec!["trangboddhet-over-2-status"]
    );
    let out = Command::new(BIN)
        .args(["sql", "--format", "csv", "--bucket"])
        .arg(&bucket)
        .arg("SELECT COUNT(*) AS n FROM fodte")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "n\n1632\n");
    // Only the folder itself changed.
    let siblings: Vec<_> = std::fs::read_dir(parent.path()).unwrap().collect();
    assert_eq!(siblings.len(), 1, "{siblings:?}");
}

/// A TCP port that accepts connections and never answers, for as long as the test runs.
fn silent_endpoint() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    (listener, endpoint)
}

fn run_on_s3(endpoint: &str, env: &[(&str, &str)], extra: &[&str]) -> std::process::Output {
    let event = fixtures().join("events/trangboddhet__over-2_status.json");
    Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT", endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .envs(env.iter().copied())
        .args(extra)
        .args([
            "run",
            "--published-date",
            "2026-11-28",
            "--bucket",
            "s3://quiet",
        ])
        .arg("--event")
        .arg(&event)
        .output()
        .unwrap()
}

/// An S3 endpoint that accepts connections and never answers: the run gives up after the
/// request and retry timeouts (bounded, here shortened), naming the bucket and endpoint.
#[test]
fn an_s3_endpoint_that_never_answers_is_given_up_naming_it() {
    let (_listener, endpoint) = silent_endpoint();
    let out = run_on_s3(
        &endpoint,
        &[
            ("AWS_ACCESS_KEY_ID", "key"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ],
        &["--s3-request-timeout", "0.3", "--s3-retry-timeout", "0.5"],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("S3 bucket 'quiet' at {endpoint}")) && stderr.contains("retries"),
        "{stderr}"
    );
}

/// No credentials anywhere: the error says so, naming the bucket, rather than quoting the
/// instance metadata service's refusal.
#[test]
fn missing_s3_credentials_are_reported_as_such() {
    let (_listener, endpoint) = silent_endpoint();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let metadata = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = run_on_s3(
        &endpoint,
        &[("AWS_METADATA_ENDPOINT", &metadata)],
        &["--s3-request-timeout", "0.3", "--s3-retry-timeout", "0.5"],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("S3 bucket 'quiet'")
            && stderr.contains("no S3 credentials: set AWS_ACCESS_KEY_ID"),
        "{stderr}"
    );
}

/// Statements that would abort the process, take unbounded memory or run forever get a
/// clear error instead, and the shell goes on to the next one (the README, "Ad-hoc SQL",
/// **Limits**).
#[test]
fn sql_limits_stop_hostile_statements() {
    let chain = |n: usize, op: &str| vec!["1"; n].join(op);
    let statements = [
        format!("SELECT {};", chain(100_000, "+")),
        format!("{};", vec!["SELECT 1"; 5_000].join(" UNION ALL ")),
        format!("SELECT 1 WHERE {};", vec!["1=1"; 20_000].join(" AND ")),
        "SELECT length(repeat('x', 2000000000));".to_string(),
        "SELECT count(*) FROM generate_series(1, 100000000000);".to_string(),
        // Counted inside one poll of the aggregate: the timeout fires all the same.
        "SELECT count(*) FROM utdanning a, utdanning b, utdanning c;".to_string(),
        "SELEC 1;".to_string(),
        "SELECT 1 ∑ 2;".to_string(),
        format!("SELECT {} AS n;", chain(900, "+")),
    ];
    let out = sql(
        &[
            "--format",
            "csv",
            "--statement-timeout",
            "2",
            "--memory-limit",
            "256MB",
        ],
        &statements.join("\n"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "no abort, one failure exit: {stderr}"
    );
    for says in [
        "statement refused: the statements hold 99999 operators",
        "statement refused: the statements hold 4999 operators",
        "statement refused: the statements hold 39999 operators",
        "Resources exhausted: repeat() could make 2000000000 bytes",
        "statement stopped after 2 s (--statement-timeout)",
        "error: syntax error: sql parser error: Expected: an SQL statement, found: SELEC",
        "error: syntax error: sql parser error: Expected: end of statement, found: ∑",
        "error: 8 statement(s) failed",
    ] {
        assert!(stderr.contains(says), "no '{says}' in {stderr}");
    }
    assert_eq!(
        stderr.matches("statement stopped after 2 s").count(),
        2,
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("Expected: an SQL statement").count(),
        1,
        "{stderr}"
    );
    // The statement within the limits after them was answered.
    assert!(String::from_utf8_lossy(&out.stdout).contains("n\n900\n"));

    // An endless result ends at the memory limit (long before this timeout).
    let out = sql(
        &["--statement-timeout", "600", "--memory-limit", "16MB"],
        "SELECT * FROM generate_series(1, 100000000000);",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the result is larger than this session's memory limit of 16777216 bytes"),
        "{stderr}"
    );
}
