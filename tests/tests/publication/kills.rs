//! Real `bydelsfakta run` processes killed (SIGKILL) at points spread over their
//! publication, on a local folder and on S3 over loopback: the process is held at the
//! N-th call of an operation (`BYDELSFAKTA_FAULTS=...=delay:...`, before or after the call
//! lands) and killed there. Then `bydelsfakta recover`, or the same event run again, must
//! leave the previous set intact or the new one complete, with nothing else; the run that
//! follows says OK exactly when it published. Two runs of one output at once take turns.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use url::Url;

use bydelsfakta_scheduler_client::stores::faults::{Faults, FaultyStore, Operation};
use bydelsfakta_scheduler_client::{Engine, RunOptions, run_event};
use bydelsfakta_tests::s3::{MemoryS3, S3Server};
use bydelsfakta_tests::{bucket_copy, copy_dir, fixture_event, fixtures, serial, workspace_binary};

const EVENT: &str = "trangboddhet__over-2_status";
const BEFORE: &str = "2026-01-01";
const AFTER: &str = "2026-02-02";
const S3_BUCKET: &str = "kills";
const S3_KEY: (&str, &str) = ("kills-key", "kills-secret");

fn output_prefix() -> String {
    let event = fixture_event(EVENT);
    let prefix = event["payload"]["output_dataset"]["s3_prefix"]
        .as_str()
        .unwrap()
        .replace("%stage%", "intermediate");
    format!("{prefix}{}/", event["task"].as_str().unwrap())
}

/// Where the killed process is held, and what finishes its work afterwards.
#[derive(Debug, Clone, Copy)]
struct Point {
    operation: Operation,
    nth: u64,
    /// Held after the call landed, rather than before it was made.
    after: bool,
}

impl Point {
    fn faults(&self) -> String {
        let action = if self.after { "delay-after" } else { "delay" };
        format!(
            "path=intermediate/,{}#{}={action}:600000",
            self.operation, self.nth
        )
    }
}

/// About 30 points spread over a re-publication: each operation's first, middle and last
/// call, before and after it lands.
fn points(calls: &BTreeMap<Operation, u64>) -> Vec<Point> {
    let mut points = vec![];
    for (&operation, &count) in calls {
        let mut picks = vec![1, count.div_ceil(2), count];
        picks.dedup();
        for nth in picks {
            for after in [false, true] {
                points.push(Point {
                    operation,
                    nth,
                    after,
                });
            }
        }
    }
    points
}

/// A store the CLI processes of a test use, and how to read it back.
trait Place {
    /// The `--bucket` argument.
    fn bucket_arg(&self) -> String;
    /// The environment of the CLI's processes.
    fn env(&self) -> Vec<(&'static str, String)>;
    /// Every object under the output prefix, relative to it.
    fn objects(&self) -> BTreeMap<String, Bytes>;
    /// Files on disk that no listing shows (a local folder's temporaries and folders).
    fn files(&self) -> Option<Vec<String>>;
}

struct Folder(tempfile::TempDir);

impl Place for Folder {
    fn bucket_arg(&self) -> String {
        self.0.path().display().to_string()
    }
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![]
    }
    fn objects(&self) -> BTreeMap<String, Bytes> {
        let root = self.0.path().join(output_prefix());
        bydelsfakta_tests::files_below(&root)
            .into_iter()
            .filter(|f| !is_temporary(f))
            .map(|f| {
                let body = Bytes::from(std::fs::read(root.join(&f)).unwrap());
                (f, body)
            })
            .collect()
    }
    fn files(&self) -> Option<Vec<String>> {
        let root = self.0.path().join(output_prefix());
        let mut found = bydelsfakta_tests::files_below(&root);
        found.extend(folders_below(&root, ""));
        found.sort();
        Some(found)
    }
}

fn is_temporary(name: &str) -> bool {
    name.rsplit_once('#')
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn folders_below(dir: &Path, relative: &str) -> Vec<String> {
    let mut found = vec![];
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            let name = format!("{relative}{}/", entry.file_name().to_string_lossy());
            found.extend(folders_below(&entry.path(), &name));
            found.push(name);
        }
    }
    found
}

struct S3Place {
    store: MemoryS3,
    server: S3Server,
}

impl Place for S3Place {
    fn bucket_arg(&self) -> String {
        format!("s3://{S3_BUCKET}")
    }
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", S3_KEY.0.into()),
            ("AWS_SECRET_ACCESS_KEY", S3_KEY.1.into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT", self.server.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }
    fn objects(&self) -> BTreeMap<String, Bytes> {
        let prefix = output_prefix();
        self.store
            .keys(S3_BUCKET, &prefix)
            .into_iter()
            .map(|key| {
                let body = self.store.body(S3_BUCKET, &key).unwrap();
                (key[prefix.len()..].to_string(), body)
            })
            .collect()
    }
    fn files(&self) -> Option<Vec<String>> {
        None
    }
}

/// The documents and the manifest, as a reader of the prefix sees them.
fn set(objects: &BTreeMap<String, Bytes>) -> BTreeMap<String, Bytes> {
    objects
        .iter()
        .filter(|(k, _)| !k.contains('/'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The documents alone (a manifest names its own run and times).
fn documents_of(objects: &BTreeMap<String, Bytes>) -> BTreeMap<String, Bytes> {
    set(objects)
        .into_iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .collect()
}

fn cli(place: &dyn Place) -> Command {
    let mut command = Command::new(workspace_binary("bydelsfakta"));
    command.envs(place.env()).env("RUST_LOG", "warn");
    command
}

fn run_args(event_file: &Path, place: &dyn Place, date: &str) -> Vec<String> {
    vec![
        "run".into(),
        "--event".into(),
        event_file.display().to_string(),
        "--bucket".into(),
        place.bucket_arg(),
        "--published-date".into(),
        date.into(),
    ]
}

fn finish(command: &mut Command) -> Output {
    command.output().expect("the CLI runs")
}

/// Starts `command` and returns once it announced a fault on stderr.
fn start_until_fault(command: &mut Command) -> Child {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the CLI starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Read to the end: a process whose stderr is closed fails its next message.
        let mut seen = String::new();
        let mut told = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !told && line.contains("injected fault") {
                let _ = tx.send(Ok(line.clone()));
                told = true;
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        if !told {
            let _ = tx.send(Err(seen));
        }
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(Ok(_)) => child,
        Ok(Err(stderr)) => panic!("the process ended before its fault:\n{stderr}"),
        Err(_) => {
            let _ = child.kill();
            panic!("no fault within two minutes")
        }
    }
}

/// The calls of a re-publication of the event, counted in this process on a copy of the
/// prepared bucket, and the new set's documents.
async fn count_calls(prepared: &Path) -> (BTreeMap<Operation, u64>, BTreeMap<String, Bytes>) {
    let (dir, bucket) = bucket_copy(prepared);
    let engine = Engine::embedded(&bucket).await.unwrap();
    let local: Arc<dyn object_store::ObjectStore> =
        Arc::new(object_store::local::LocalFileSystem::new());
    let faults = Faults::parse("path=intermediate/").unwrap();
    let counting = Arc::new(FaultyStore::new(local, faults));
    engine
        .context()
        .runtime_env()
        .register_object_store(&Url::parse("file://").unwrap(), counting.clone());
    let options = RunOptions {
        published_date: AFTER.into(),
        dry_run: false,
        function: None,
        publish: Default::default(),
    };
    let event = fixture_event(EVENT).to_string();
    run_event(&engine, &bucket, &event, &options).await.unwrap();
    let new = Folder(dir);
    (
        counting.calls().into_iter().collect(),
        documents_of(&new.objects()),
    )
}

/// Kills at every point, recovers (even points) or runs again (odd), checks, and reports
/// how it went.
fn kill_everywhere(
    name: &str,
    points: &[Point],
    fresh: &dyn Fn() -> Box<dyn Place>,
    event_file: &Path,
    previous: &BTreeMap<String, Bytes>,
    new: &BTreeMap<String, Bytes>,
) {
    let (mut restored, mut completed) = (0, 0);
    for (i, point) in points.iter().enumerate() {
        let what = format!("{name}: killed at {point:?}");
        let place = fresh();
        let mut child = start_until_fault(
            cli(place.as_ref())
                .args(run_args(event_file, place.as_ref(), AFTER))
                .env("BYDELSFAKTA_FAULTS", point.faults()),
        );
        child.kill().unwrap();
        child.wait().unwrap();

        if i % 2 == 0 {
            let out =
                finish(cli(place.as_ref()).args(["recover", "--bucket", &place.bucket_arg()]));
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{what}: recover: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                stdout.contains(&output_prefix()) || stdout.contains("no interrupted"),
                "{what}: {stdout}"
            );
        } else {
            let out = finish(cli(place.as_ref()).args(run_args(event_file, place.as_ref(), AFTER)));
            assert!(
                out.status.success(),
                "{what}: run again: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                String::from_utf8_lossy(&out.stdout).contains("\"status\": \"OK\""),
                "{what}"
            );
        }
        let objects = place.objects();
        let visible = set(&objects);
        assert_eq!(
            objects.keys().collect::<Vec<_>>(),
            visible.keys().collect::<Vec<_>>(),
            "{what}: bookkeeping left"
        );
        if let Some(files) = place.files() {
            assert_eq!(
                files,
                visible.keys().cloned().collect::<Vec<_>>(),
                "{what}: files left"
            );
        }
        if visible == *previous {
            assert!(
                i % 2 == 0,
                "{what}: the run said OK but the previous set is there"
            );
            restored += 1;
        } else {
            assert_eq!(documents_of(&objects), *new, "{what}: neither set");
            let manifest: serde_json::Value =
                serde_json::from_slice(&visible["_manifest.json"]).unwrap();
            assert_eq!(
                manifest["documents"].as_array().unwrap().len(),
                new.len(),
                "{what}"
            );
            assert_eq!(manifest["published_date"], AFTER, "{what}");
            completed += 1;
        }
    }
    eprintln!(
        "{name}: {} kills: {restored} previous sets restored, {completed} new sets completed",
        points.len()
    );
}

/// Runs the event in `place` with the publication date `date`; it must succeed.
fn publish(place: &dyn Place, event: &Path, date: &str) {
    let out = finish(cli(place).args(run_args(event, place, date)));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A copy of the fixture bucket with the event's previous set published.
fn published_before(event: &Path) -> Folder {
    let place = Folder(bucket_copy(&fixtures().join("input")).0);
    publish(&place, event, BEFORE);
    place
}

fn event_file(dir: &Path) -> PathBuf {
    let path = dir.join("event.json");
    std::fs::write(&path, fixture_event(EVENT).to_string()).unwrap();
    path
}

#[test]
fn kills_on_a_local_folder() {
    // About 30 CLI processes: never beside a test that asserts on time.
    let _serial = serial::shared_blocking();
    let work = tempfile::tempdir().unwrap();
    let event = event_file(work.path());
    // The bucket as every case starts: the previous set published.
    let prepared = published_before(&event);
    let previous = set(&prepared.objects());
    let runtime = bydelsfakta_tests::large_stack_runtime();
    let (calls, new) = runtime.block_on(count_calls(prepared.0.path()));
    let points = points(&calls);
    assert!(points.len() >= 25, "{calls:?}");
    let fresh = || -> Box<dyn Place> {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(prepared.0.path(), dir.path());
        Box::new(Folder(dir))
    };
    kill_everywhere("local folder", &points, &fresh, &event, &previous, &new);
}

#[test]
fn kills_on_s3() {
    // About 15 CLI processes: never beside a test that asserts on time.
    let _serial = serial::shared_blocking();
    let work = tempfile::tempdir().unwrap();
    let event = event_file(work.path());
    let runtime = bydelsfakta_tests::large_stack_runtime();
    let _guard = runtime.enter();
    let base = MemoryS3::default();
    base.load_dir(S3_BUCKET, &fixtures().join("input"));
    let start = |store: MemoryS3| {
        let server = runtime.block_on(S3Server::start(store.clone(), &[S3_KEY]));
        S3Place { store, server }
    };
    let prepared = start(base);
    publish(&prepared, &event, BEFORE);
    let previous = set(&prepared.objects());
    // The calls do not depend on the store: count them on a local folder prepared alike.
    let (calls, new) = runtime.block_on(count_calls(published_before(&event).0.path()));
    // Every other point: each process start costs more against S3's round trips.
    let points: Vec<Point> = points(&calls).into_iter().step_by(2).collect();
    let fresh = || -> Box<dyn Place> { Box::new(start(prepared.store.deep_copy())) };
    kill_everywhere("S3", &points, &fresh, &event, &previous, &new);
}

/// Real runs whose store fails one call: the run exits non-zero, prints no step output and
/// leaves the previous set byte for byte, or exits 0 saying OK with the new set complete;
/// OK exactly when the new set is there.
#[test]
fn failed_runs_say_so_and_change_nothing() {
    // A CLI process per store call: never beside a test that asserts on time.
    let _serial = serial::shared_blocking();
    let work = tempfile::tempdir().unwrap();
    let event = event_file(work.path());
    let prepared = published_before(&event);
    let previous = set(&prepared.objects());
    let runtime = bydelsfakta_tests::large_stack_runtime();
    let (calls, new) = runtime.block_on(count_calls(prepared.0.path()));
    let mut said_ok = 0;
    for (&operation, &count) in &calls {
        for (nth, action) in [(1, "fail"), (count, "fail-after")] {
            let what = format!("{operation}#{nth}={action}");
            let dir = tempfile::tempdir().unwrap();
            copy_dir(prepared.0.path(), dir.path());
            let place = Folder(dir);
            let out = finish(
                cli(&place)
                    .args(run_args(&event, &place, AFTER))
                    .env("BYDELSFAKTA_FAULTS", format!("path=intermediate/,{what}")),
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("injected fault"), "{what}: {stderr}");
            let objects = place.objects();
            if out.status.success() {
                assert!(stdout.contains("\"status\": \"OK\""), "{what}: {stdout}");
                assert_eq!(documents_of(&objects), new, "{what}: said OK");
                said_ok += 1;
            } else {
                assert!(stdout.is_empty(), "{what}: {stdout}");
                assert!(stderr.contains("nothing was published"), "{what}: {stderr}");
                assert_eq!(set(&objects), previous, "{what}: {stderr}");
                assert_eq!(
                    objects,
                    set(&objects),
                    "{what}: bookkeeping left after a rollback"
                );
            }
        }
    }
    // Failures after the manifest (the clean-up) leave the run successful.
    assert!(
        said_ok > 0 && said_ok < 2 * calls.len(),
        "{said_ok} of {}",
        2 * calls.len()
    );
}

/// Two runs of one output at once (a Lambda retry beside the first attempt, `run-all`
/// racing `run`): the second waits for the first's lease and then publishes, or, when it
/// may not wait that long, fails with `PublicationInProgressError` and changes nothing.
#[test]
fn two_runs_of_one_output_take_turns() {
    // The second run must reach the lease within the first's 3 s hold, and a loaded
    // machine can slow a debug build's run beyond that: alone.
    let _serial = serial::exclusive_blocking();
    let work = tempfile::tempdir().unwrap();
    let event = event_file(work.path());
    for patient in [true, false] {
        let place = Folder(bucket_copy(&fixtures().join("input")).0);
        let mut first = start_until_fault(cli(&place).args(run_args(&event, &place, BEFORE)).env(
            "BYDELSFAKTA_FAULTS",
            "path=intermediate/,rename#3=delay:3000",
        ));
        let wait = if patient { "60" } else { "0.5" };
        let second = finish(
            cli(&place)
                .args(run_args(&event, &place, AFTER))
                .args(["--publish-wait", wait]),
        );
        assert!(first.wait().unwrap().success());
        let manifest: serde_json::Value =
            serde_json::from_slice(&place.objects()["_manifest.json"]).unwrap();
        let stderr = String::from_utf8_lossy(&second.stderr);
        if patient {
            assert!(second.status.success(), "{stderr}");
            assert_eq!(
                manifest["published_date"], AFTER,
                "the second published last"
            );
        } else {
            assert!(!second.status.success());
            assert!(stderr.contains("holds its lease"), "{stderr}");
            assert_eq!(
                manifest["published_date"], BEFORE,
                "the second changed nothing"
            );
        }
        let objects = place.objects();
        assert_eq!(objects, set(&objects), "bookkeeping left");
    }
}

/// `command`'s output, once it exits; it must within `limit` (it is killed otherwise).
fn finish_within(command: &mut Command, limit: Duration) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the CLI starts");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => output.expect("the CLI's output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("the process did not exit within {limit:?}")
        }
    }
}

/// A local folder that stops answering (a hung mount) holds a call for ten minutes: the
/// run gives it up at `--local-call-timeout`, exits non-zero naming the call, and does
/// not wait for it. Held at a read of its input, it changed nothing. Held at the move of
/// a document, it wrote nothing more (the call may still land) and kept its journal:
/// `recover` restores the previous set, and the event then publishes.
#[test]
fn a_local_folder_that_stops_answering_fails_the_run() {
    let _serial = serial::shared_blocking();
    let work = tempfile::tempdir().unwrap();
    let event = event_file(work.path());
    let prepared = published_before(&event);
    let previous = prepared.objects();
    let cases = [
        ("path=processed/,get#1=delay:600000", "get of '/", false),
        (
            "path=intermediate/,rename#2=delay:600000",
            "rename of '/",
            true,
        ),
    ];
    for (faults, call, journaled) in cases {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(prepared.0.path(), dir.path());
        let place = Folder(dir);
        let out = finish_within(
            cli(&place)
                .args(run_args(&event, &place, AFTER))
                .args(["--local-call-timeout", "2"])
                .env("BYDELSFAKTA_FAULTS", faults),
            Duration::from_secs(120),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{faults}: {stderr}");
        assert!(out.stdout.is_empty(), "{faults}");
        let bucket = place.bucket_arg();
        assert!(
            stderr.contains(&format!("{call}{}", &bucket[1..]))
                && stderr.contains("did not answer within 2 s"),
            "{faults}: {stderr}"
        );
        if !journaled {
            assert_eq!(place.objects(), previous, "{faults}: {stderr}");
            continue;
        }
        assert!(
            stderr.contains("it may still land") && stderr.contains("the journal is kept"),
            "{faults}: {stderr}"
        );
        assert_ne!(
            place.objects(),
            set(&place.objects()),
            "{faults}: no journal"
        );
        let recovered = finish(cli(&place).args(["recover", "--bucket", &bucket]));
        let said = String::from_utf8_lossy(&recovered.stdout);
        assert!(recovered.status.success(), "{faults}: {said}");
        assert!(said.contains("rolled back"), "{faults}: {said}");
        assert_eq!(place.objects(), previous, "{faults}: after recover");
        publish(&place, &event, AFTER);
    }
}
