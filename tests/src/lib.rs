//! Shared test support: fixture locations, fresh buckets, running events, and the
//! comparison rules of `tests/fixtures/README.md` (same bytes apart from `publishedDate`;
//! floats may differ in their last digits, at most 1e-12 relative).

pub mod bad_input;
pub mod counting;
pub mod lambda_api;
pub mod logs;
pub mod loopback;
pub mod metrics;
pub mod openlineage;
pub mod otlp;
pub mod s3;
pub mod serial;

use std::path::{Path, PathBuf};

use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_scheduler_client::event::{PipelineEvent, ResolvedEvent};
use bydelsfakta_scheduler_client::{
    Engine, RunOptions, RunOutcome, plan_event, run_event, run_planned,
};

/// The copy of the original's fixtures in this repository.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/public")
}

/// A fresh bucket folder holding a copy of `input` (a fixture bucket).
pub fn bucket_copy(input: &Path) -> (tempfile::TempDir, Bucket) {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(input, dir.path());
    let bucket = Bucket::folder(dir.path()).expect("bucket");
    (dir, bucket)
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Reads a process's stderr until a fault of `BYDELSFAKTA_FAULTS` is announced (for a
/// `delay`, the call is then held); the lines read, announcement included.
pub fn wait_for_fault(stderr: &mut impl std::io::BufRead) -> String {
    let mut read = String::new();
    loop {
        let mut line = String::new();
        let more = stderr.read_line(&mut line).expect("stderr");
        read.push_str(&line);
        assert!(more > 0, "the fault never fired: {read}");
        if line.contains("injected fault") {
            return read;
        }
    }
}

/// A binary of the workspace (`bydelsfakta`, ...), next to the test binaries' folder in
/// the target dir (`cargo test --workspace` builds every package's binaries first).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let path = profile.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --bin {name}` (or run `cargo test --workspace`)",
        path.display()
    );
    path
}

/// The options the tests run events with: a fixed published date, publication as usual.
pub fn run_options() -> RunOptions {
    RunOptions {
        published_date: "2026-11-28".into(),
        dry_run: false,
        function: None,
        publish: Default::default(),
    }
}

/// Runs the event text on an embedded engine over `bucket`.
pub async fn run(bucket: &Bucket, event: &str) -> bydelsfakta_scheduler_client::Result<RunOutcome> {
    let engine = Engine::embedded(bucket).await?;
    let options = run_options();
    run_event(&engine, bucket, event, &options).await
}

/// The documents of a folder (its `.json` files but the `_manifest.json`), by name.
pub fn documents(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".json") && !n.starts_with('_'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn blank_date(text: &str) -> String {
    match text.find("\"publishedDate\": \"") {
        Some(start) => {
            let value = start + "\"publishedDate\": \"".len();
            let end = text[value..].find('"').map_or(text.len(), |e| value + e);
            format!("{}{}", &text[..value], &text[end..])
        }
        None => text.to_string(),
    }
}

/// Compares two documents by the fixture rules; `Err` says where they differ.
pub fn compare_documents(expected: &str, actual: &str) -> Result<(), String> {
    let (expected, actual) = (blank_date(expected), blank_date(actual));
    if expected == actual {
        return Ok(());
    }
    let e: serde_json::Value = serde_json::from_str(&expected).map_err(|e| e.to_string())?;
    let a: serde_json::Value =
        serde_json::from_str(&actual).map_err(|e| format!("actual is not JSON: {e}"))?;
    let mut diffs = vec![];
    diff(&e, &a, "$", &mut diffs);
    if diffs.is_empty() {
        // Equal structure and values within tolerance; the text must still follow the
        // same key order, which serde_json (preserve_order) keeps.
        Ok(())
    } else {
        Err(diffs.into_iter().take(5).collect::<Vec<_>>().join("\n"))
    }
}

fn diff(e: &serde_json::Value, a: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    use serde_json::Value::*;
    if out.len() >= 5 {
        return;
    }
    match (e, a) {
        (Object(em), Object(am)) => {
            let ek: Vec<_> = em.keys().collect();
            let ak: Vec<_> = am.keys().collect();
            if ek != ak {
                out.push(format!("{path} keys: expected {ek:?}, got {ak:?}"));
                return;
            }
            for (k, v) in em {
                diff(v, &am[k], &format!("{path}.{k}"), out);
            }
        }
        (Array(ev), Array(av)) => {
            if ev.len() != av.len() {
                out.push(format!(
                    "{path}: expected {} items, got {}",
                    ev.len(),
                    av.len()
                ));
                return;
            }
            for (i, (x, y)) in ev.iter().zip(av).enumerate() {
                diff(x, y, &format!("{path}[{i}]"), out);
            }
        }
        (Number(x), Number(y)) => {
            let same_kind = x.is_f64() == y.is_f64();
            let close = match (x.as_f64(), y.as_f64()) {
                (Some(p), Some(q)) if x.is_f64() => {
                    p == q || ((p - q).abs() / p.abs().max(q.abs())) <= 1e-12
                }
                _ => x == y,
            };
            if !same_kind || !close {
                out.push(format!("{path}: expected {x}, got {y}"));
            }
        }
        _ if e == a => {}
        _ => out.push(format!("{path}: expected {e}, got {a}")),
    }
}

/// Compares every expected document of a folder with the actual folder.
pub fn compare_folders(expected: &Path, actual: &Path) -> Result<usize, String> {
    let wanted = documents(expected);
    let got = documents(actual);
    if wanted != got {
        return Err(format!("documents: expected {wanted:?}, got {got:?}"));
    }
    for name in &wanted {
        let e = std::fs::read_to_string(expected.join(name)).expect("expected document");
        let a = std::fs::read_to_string(actual.join(name)).expect("actual document");
        compare_documents(&e, &a).map_err(|d| format!("{name}:\n{d}"))?;
    }
    Ok(wanted.len())
}

/// The text of the fixture event `<function>__<type>`.
fn fixture_event_text(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(format!("events/{name}.json"))).expect("event")
}

/// The fixture event `<function>__<type>` as JSON, to modify.
pub fn fixture_event(name: &str) -> serde_json::Value {
    serde_json::from_str(&fixture_event_text(name)).expect("event JSON")
}

/// The fixture event `<function>__<type>`, resolved as a run resolves it.
pub fn resolved_fixture_event(name: &str) -> ResolvedEvent {
    let event = PipelineEvent::parse(&fixture_event_text(name)).expect("event");
    ResolvedEvent::resolve(event, None).expect("resolved")
}

/// The one CSV file of input `dataset` in a bucket folder.
pub fn input_csv(bucket_dir: &Path, dataset: &str) -> PathBuf {
    let mut found = vec![];
    for conf in ["green", "yellow", "red"] {
        let dir = bucket_dir.join("processed").join(conf).join(dataset);
        if dir.exists() {
            collect_files(&dir, &mut found);
        }
    }
    assert_eq!(found.len(), 1, "{dataset}: {found:?}");
    found.remove(0)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Lands a new edition `edition` of input `dataset` holding `text`, beside its others (in
/// the same confidentiality), as the data platform does: the object appears whole, written
/// aside and renamed into place, so that a reader never sees half of it. Returns its path.
pub fn land_edition(bucket_dir: &Path, dataset: &str, edition: &str, text: &str) -> PathBuf {
    let conf = ["green", "yellow", "red"]
        .into_iter()
        .find(|conf| {
            bucket_dir
                .join("processed")
                .join(conf)
                .join(dataset)
                .exists()
        })
        .unwrap_or_else(|| panic!("{dataset} is not in the bucket"));
    let folder = bucket_dir
        .join("processed")
        .join(conf)
        .join(dataset)
        .join("version=1")
        .join(format!("edition={edition}"));
    std::fs::create_dir_all(&folder).expect("edition folder");
    let aside = bucket_dir.join(format!(".landing-{dataset}-{edition}"));
    std::fs::write(&aside, text).expect("write aside");
    let path = folder.join(format!("{dataset}.csv"));
    std::fs::rename(&aside, &path).expect("rename into place");
    path
}

/// Lands edition `edition` of input `dataset` as the first `lines` lines of `text` (a CSV,
/// header first), the last of them with one field too many. Returns how the reader names
/// that row: `input <dataset> (<key>), line <lines>: <n> fields expected, <n + 1> found ...`.
pub fn land_bad_edition(
    bucket_dir: &Path,
    dataset: &str,
    edition: &str,
    text: &str,
    lines: usize,
) -> String {
    let lines: Vec<&str> = text.lines().take(lines).collect();
    let bad = format!("{};9\n", lines.join("\n"));
    let landed = land_edition(bucket_dir, dataset, edition, &bad);
    let key = landed
        .strip_prefix(bucket_dir)
        .expect("in the bucket")
        .display();
    let fields = lines[0].split(';').count();
    format!(
        "input {dataset} ({key}), line {}: {fields} fields expected, {} found (a field missing or too many, or an unbalanced quote)",
        lines.len(),
        fields + 1
    )
}

/// Rewrites the lines of input `dataset`'s CSV (header included) with `edit`, which may
/// return `None` to drop a line.
pub fn edit_csv(bucket_dir: &Path, dataset: &str, edit: impl Fn(usize, &str) -> Option<String>) {
    let path = input_csv(bucket_dir, dataset);
    let text = std::fs::read_to_string(&path).expect("csv");
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(line) = edit(i, line) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    std::fs::write(&path, out).expect("write csv");
}

/// The lines of the CSV file at `path` that hold data: not the header, not blank.
pub fn data_lines(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).expect("read csv");
    text.lines().filter(|line| !line.trim().is_empty()).count() - 1
}

/// Every file below `dir`, relative, sorted (to show that nothing was written).
pub fn files_below(dir: &Path) -> Vec<String> {
    let mut found = vec![];
    if dir.exists() {
        collect_files(dir, &mut found);
    }
    let mut names: Vec<String> = found
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
        .collect();
    names.sort();
    names
}

/// Runs the event text on `engine`, with the fixtures' publication date.
pub async fn run_on(
    engine: &Engine,
    bucket: &Bucket,
    event: &str,
) -> bydelsfakta_scheduler_client::Result<RunOutcome> {
    let options = run_options();
    run_event(engine, bucket, event, &options).await
}

/// How much [`check_every_output`] compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// Function x type outputs run and compared.
    pub outputs: usize,
    /// Documents compared in those outputs (the expected folders' `.json` files).
    pub documents: usize,
}

/// How [`check_every_output`] sends the events to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sending {
    /// One `run_event` after another, as single events arrive.
    OneByOne,
    /// A function's types planned and then run together (`run_planned`), as `run-all`
    /// sends them: one job each on a cluster.
    ByFunction,
}

/// Runs every implemented function x type of the fixtures on `engine` and compares the
/// documents and step output with the original's; returns how much matched, or every
/// failure.
pub async fn check_every_output(
    engine: &Engine,
    bucket: &Bucket,
    bucket_dir: &Path,
    sending: Sending,
) -> Result<Checked, String> {
    let root = fixtures();
    let mut failures = vec![];
    let mut matched = Checked {
        outputs: 0,
        documents: 0,
    };
    let options = run_options();
    for function in bydelsfakta_queries::functions::all() {
        let names: Vec<String> = function
            .types
            .iter()
            .map(|ty| format!("{}__{}", function.name, ty.name))
            .collect();
        let events: Vec<String> = names
            .iter()
            .map(|name| {
                std::fs::read_to_string(root.join(format!("events/{name}.json"))).expect("event")
            })
            .collect();
        let outcomes = match sending {
            Sending::OneByOne => {
                let mut outcomes = vec![];
                for event in &events {
                    outcomes.push(run_event(engine, bucket, event, &options).await);
                }
                outcomes
            }
            Sending::ByFunction => {
                // Those that planned run together; a failure to plan is its output's.
                let (mut ready, mut failed) = (vec![], vec![]);
                for event in &events {
                    match plan_event(engine, bucket, event, &options).await {
                        Ok(planned) => {
                            ready.push(planned);
                            failed.push(None);
                        }
                        Err(e) => failed.push(Some(e)),
                    }
                }
                let (together, before) = (ready.len(), engine.jobs_submitted());
                let mut ran = run_planned(engine, ready).await.into_iter();
                let jobs = engine.jobs_submitted() - before;
                if engine.is_distributed() && together > 1 && jobs != 1 {
                    failures.push(format!(
                        "{}: {jobs} jobs for {together} outputs",
                        function.name
                    ));
                }
                failed
                    .into_iter()
                    .map(|failed| match failed {
                        Some(e) => Err(e),
                        None => ran.next().expect("one outcome per planned event"),
                    })
                    .collect::<Vec<_>>()
            }
        };
        for ((name, ty), outcome) in names.iter().zip(function.types).zip(outcomes) {
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(e) => {
                    failures.push(format!("{name}: run failed: {e}"));
                    continue;
                }
            };
            let expected_return: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(root.join(format!("returns/{name}.json")))
                    .expect("return"),
            )
            .expect("return JSON");
            let actual_return: serde_json::Value =
                serde_json::from_str(&outcome.step_output.to_python_string()).expect("step output");
            if expected_return != actual_return {
                failures.push(format!(
                    "{name}: step output {actual_return} != {expected_return}"
                ));
            }
            let expected = root.join(format!("expected/{}/{}", function.name, ty.name));
            match compare_folders(&expected, &bucket_dir.join(&outcome.output_prefix)) {
                Ok(documents) => {
                    matched.outputs += 1;
                    matched.documents += documents;
                }
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
    }
    if failures.is_empty() {
        Ok(matched)
    } else {
        Err(format!(
            "{} outputs matched; failures:\n{}",
            matched.outputs,
            failures.join("\n\n")
        ))
    }
}

/// The entry `id` of a document (its `data` list), or a panic naming the id.
pub fn entry<'a>(doc: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no entry {id}"))
}

/// Sets every count of sub-district 0501 in 2024 of `husholdninger-etter-rom-per-person` to
/// zero, so that its ratios are 0/0.
pub fn zero_households_in_0501(bucket_dir: &Path) {
    edit_csv(
        bucket_dir,
        "husholdninger-etter-rom-per-person",
        |i, line| {
            let mut cells: Vec<String> = line.split(';').map(String::from).collect();
            if i > 0 && cells[1] == "0501" && cells[0] == "2024" {
                for cell in &mut cells[5..] {
                    *cell = "0".into();
                }
            }
            Some(cells.join(";"))
        },
    );
}

/// Encoding and decoding deep plans (Ballista) recurses more than a test thread's default
/// stack allows in debug builds; the CLI gives its runtime the same 16 MiB.
pub fn large_stack_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .thread_stack_size(16 * 1024 * 1024)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A `;`-separated CSV file as its header and rows of cells, read with plain Rust, to check
/// query results against.
pub fn csv_table(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).expect("csv");
    let mut lines = text.lines();
    let header = lines
        .next()
        .expect("header")
        .split(';')
        .map(str::to_string)
        .collect();
    let rows = lines
        .map(|line| line.split(';').map(str::to_string).collect())
        .collect();
    (header, rows)
}
