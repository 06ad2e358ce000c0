//! Submits one event's plan to a Ballista cluster: a scheduler and an executor started in
//! this process (what `bydelsfakta run --engine standalone` does), the plan encoded with
//! our codec, decoded and run by the executor, which writes the documents itself.
//!
//! `Engine::remote("df://host:50050", ...)` gives the same engine for a real cluster of
//! `bydelsfakta-scheduler` and `bydelsfakta-executor`; everything below it stays the same.
//!
//! ```sh
//! cargo run -p bydelsfakta-scheduler-client --example run_on_ballista
//! ```

use std::error::Error;
use std::path::Path;

use datafusion::physical_plan::displayable;

use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_queries::publication::records::now_rfc3339;
use bydelsfakta_queries::writer_plan::{RunRequest, writer_plan};
use bydelsfakta_scheduler_client::Engine;
use bydelsfakta_scheduler_client::event::{PipelineEvent, ResolvedEvent};
use bydelsfakta_scheduler_client::run::new_run_id;

fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    // Encoding and decoding our plans recurses deeper than a thread's default stack allows
    // in a debug build; the CLI and the cluster's binaries give their threads as much.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(16 * 1024 * 1024)
        .enable_all()
        .build()?;
    runtime.block_on(async { tokio::spawn(submit()).await? })
}

async fn submit() -> Result<(), Box<dyn Error + Send + Sync>> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/public");
    let folder = tempfile::tempdir()?;
    copy_dir(&fixtures.join("input"), folder.path())?;
    let bucket = Bucket::folder(folder.path())?;

    // The scheduler and executor share this process's object stores and know our
    // functions and the document writer's codec.
    let engine = Engine::ballista_standalone(&bucket).await?;
    assert!(engine.is_distributed());

    // What `run_event` does, step by step: check the event against the contract, build the
    // plan on the client (it lists the input prefixes and reads the headers), submit it.
    let text = std::fs::read_to_string(fixtures.join("events/boligpriser__status.json"))?;
    let resolved = ResolvedEvent::resolve(PipelineEvent::parse(&text)?, None)?;
    bucket.check_output_prefix(&resolved.output_prefix).await?;
    let (run_id, started_at) = (new_run_id(), now_rfc3339());
    let request = RunRequest {
        target: &resolved.target,
        bucket: &bucket,
        output_prefix: &resolved.output_prefix,
        published_date: "2026-11-28",
        run_id: &run_id,
        started_at: &started_at,
        publish: Default::default(),
        // `None` on a cluster: the executors read the inputs themselves, and the client
        // never pulls the data.
        input_cache: engine.input_cache(),
        dry_run: false,
        engine: engine.name(),
    };
    let plan = writer_plan(engine.context(), &engine, &request).await?.plan;
    // The writer is the plan's root, so the documents are written where the plan runs.
    let shown = displayable(plan.as_ref()).indent(false).to_string();
    println!("{}", shown.lines().take(4).collect::<Vec<_>>().join("\n"));
    println!("...");

    let started = std::time::Instant::now();
    let summary = engine.run_writer_plan(plan).await?;
    println!(
        "{}: {} documents, {} bytes, in {} ms on the cluster",
        summary.output_dataset,
        summary.documents,
        summary.bytes,
        started.elapsed().as_millis()
    );

    // Exit non-zero unless the executor wrote every document and the manifest.
    let output = folder.path().join(&resolved.output_prefix);
    assert!(shown.starts_with("DocumentWriterExec: dataset=boligpriser-blokkleiligheter-status"));
    assert_eq!(summary.documents, 16);
    for district in 0..=15 {
        let document = output.join(format!("{district:02}.json"));
        assert!(document.is_file(), "{} is missing", document.display());
    }
    assert!(output.join("_manifest.json").is_file());
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
