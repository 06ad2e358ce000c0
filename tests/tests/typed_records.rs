//! The typed-input records (`queries/src/reader/typed_record.rs`): on a cluster an input
//! is probed by a job of its own the first time it is read, and not again once a run that
//! read it succeeded; a record that cannot be read or written, does not parse, or belongs
//! to an earlier ETag of the object only costs the probe again, never the run.
//!
//! The plans are built without the embedded input cache, as a cluster's client builds
//! them, and run embedded; the probes are counted as the jobs they would be.

use std::sync::Arc;

use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_queries::reader::typed_record::RECORDS_PREFIX;
use bydelsfakta_queries::writer_plan::{RunRequest, writer_plan};
use bydelsfakta_scheduler_client::Engine;
use bydelsfakta_scheduler_client::event::{PipelineEvent, ResolvedEvent};
use bydelsfakta_scheduler_client::stores::faults::{Faults, FaultyStore};
use bydelsfakta_tests::counting::CountingExecutor;
use bydelsfakta_tests::{
    bucket_copy, compare_folders, data_lines, files_below, fixture_event, fixtures,
};
use datafusion::physical_plan::ExecutionPlan;

const EVENT: &str = "levekar_totalt__status";
const INPUTS: usize = 9;

/// The counting executor, and the event's plans built and run through it.
struct Client(CountingExecutor);

impl Client {
    async fn new(bucket: &Bucket) -> Self {
        Self(CountingExecutor::new(
            Engine::embedded(bucket).await.unwrap(),
        ))
    }

    /// Serves the bucket through `faults`.
    fn with_faults(self, bucket: &Bucket, faults: &str) -> Self {
        let runtime = self.0.engine.context().runtime_env();
        let inner = runtime.object_store(bucket.store_url()).unwrap();
        let faulty = FaultyStore::new(inner, Faults::parse(faults).unwrap());
        runtime.register_object_store(bucket.store_url().as_ref(), Arc::new(faulty));
        self
    }

    /// Plans and runs the event as a cluster's client would; returns the probe jobs.
    async fn run(&self, bucket: &Bucket, dir: &std::path::Path) -> usize {
        let resolved = resolved_event();
        let before = self.0.jobs();
        let plan = self.plan(&resolved, bucket).await.unwrap();
        let probes = self.0.jobs() - before;
        self.0.engine.run_writer_plan(plan).await.unwrap();
        let (function, ty) = EVENT.split_once("__").unwrap();
        let written = dir.join(&resolved.output_prefix);
        compare_folders(
            &fixtures().join(format!("expected/{function}/{ty}")),
            &written,
        )
        .unwrap();
        // Probed or recorded, the manifest counts each input's data lines.
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(written.join("_manifest.json")).unwrap())
                .unwrap();
        let inputs = manifest["inputs"].as_array().unwrap();
        assert_eq!(inputs.len(), INPUTS);
        for input in inputs {
            let key = input["key"].as_str().unwrap();
            assert_eq!(input["rows"], data_lines(&dir.join(key)), "{key}");
        }
        probes
    }

    /// The event's writer plan, as a cluster's client builds it (no input cache).
    async fn plan(
        &self,
        resolved: &ResolvedEvent,
        bucket: &Bucket,
    ) -> bydelsfakta_queries::Result<Arc<dyn ExecutionPlan>> {
        let request = RunRequest {
            target: &resolved.target,
            bucket,
            output_prefix: &resolved.output_prefix,
            published_date: "2026-11-28",
            run_id: "typed-records",
            started_at: "2026-11-28T00:00:00Z",
            publish: Default::default(),
            input_cache: None,
            dry_run: false,
            engine: "embedded",
        };
        Ok(writer_plan(self.0.engine.context(), &self.0, &request)
            .await?
            .plan)
    }
}

fn resolved_event() -> ResolvedEvent {
    let event = fixture_event(EVENT).to_string();
    ResolvedEvent::resolve(PipelineEvent::parse(&event).unwrap(), None).unwrap()
}

/// The records under the bucket folder `dir`.
fn records(dir: &std::path::Path) -> Vec<String> {
    files_below(&dir.join(RECORDS_PREFIX))
}

#[tokio::test]
async fn an_input_is_probed_until_a_run_that_read_it_succeeds() {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let client = Client::new(&bucket).await;
    assert_eq!(client.run(&bucket, dir.path()).await, INPUTS);
    assert_eq!(records(dir.path()).len(), INPUTS);
    // The same objects again: no probe job, the same documents.
    assert_eq!(client.run(&bucket, dir.path()).await, 0);

    // A record that does not parse is probed again, and written anew.
    let record = dir
        .path()
        .join(RECORDS_PREFIX)
        .join(&records(dir.path())[0]);
    std::fs::write(&record, "not a record").unwrap();
    assert_eq!(client.run(&bucket, dir.path()).await, 1);
    let rewritten: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert!(rewritten["columns"].is_array(), "{rewritten}");

    // An object rewritten (another ETag) is probed again: its record is of the old bytes.
    let input = files_below(dir.path())
        .into_iter()
        .find(|key| key.contains("/fattige-husholdninger/version=1/edition=20241014T044030/"))
        .unwrap_or_else(|| panic!("an input of {EVENT}"));
    let path = dir.path().join(&input);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push('\n');
    std::fs::write(&path, text).unwrap();
    assert_eq!(client.run(&bucket, dir.path()).await, 1);
    assert_eq!(records(dir.path()).len(), INPUTS + 1);
}

#[tokio::test]
async fn records_that_cannot_be_written_or_read_cost_the_probe_not_the_run() {
    // Every record write fails: the run succeeds, nothing is recorded, and the next run
    // probes every input again.
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let puts: Vec<String> = (1..=2 * INPUTS).map(|n| format!("put#{n}=fail")).collect();
    let faults = format!("path={RECORDS_PREFIX},{}", puts.join(","));
    let client = Client::new(&bucket).await.with_faults(&bucket, &faults);
    assert_eq!(client.run(&bucket, dir.path()).await, INPUTS);
    assert!(records(dir.path()).is_empty());
    assert_eq!(client.run(&bucket, dir.path()).await, INPUTS);
    assert!(records(dir.path()).is_empty());

    // Recorded, then every record read fails or is slow to fail: probed again, same
    // documents.
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let client = Client::new(&bucket).await;
    assert_eq!(client.run(&bucket, dir.path()).await, INPUTS);
    let gets: Vec<String> = (1..=INPUTS)
        .map(|n| match n % 2 {
            0 => format!("get#{n}=fail"),
            _ => format!("get#{n}=delay:50"),
        })
        .collect();
    let faults = format!("path={RECORDS_PREFIX},{}", gets.join(","));
    let client = Client::new(&bucket).await.with_faults(&bucket, &faults);
    // The delayed reads succeed late (no probe); the failed ones are probed.
    assert_eq!(client.run(&bucket, dir.path()).await, INPUTS / 2);
}

#[tokio::test]
async fn a_run_that_fails_records_nothing() {
    // One of the nine inputs has a cell that is not a number: the eight good ones were
    // probed, but the run fails, so none of them is recorded.
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let input = files_below(dir.path())
        .into_iter()
        .find(|key| key.contains("/trangbodde/version=1/"))
        .unwrap();
    let path = dir.path().join(&input);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut cells: Vec<&str> = lines[1].split(';').collect();
    assert_eq!(cells[5], "18.0", "andel_som_bor_trangt");
    cells[5] = "many";
    lines[1] = cells.join(";");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();

    let client = Client::new(&bucket).await;
    let error = client
        .plan(&resolved_event(), &bucket)
        .await
        .expect_err("a cell that is not a number fails the run");
    assert!(error.to_string().contains("not a number"), "{error}");
    assert!(records(dir.path()).is_empty());
}
