//! Runs one statistics function on a local folder bucket and prints the documents it wrote.
//!
//! The bucket is a copy of the sample the project ships (`tests/fixtures/public/input`,
//! synthetic data shaped like the real inputs), so the run writes into a temporary folder
//! and never into the repository. The event is the one the original was given for
//! `trangboddhet`'s `over-2_status` output (`tests/fixtures/public/events/`).
//!
//! ```sh
//! cargo run -p bydelsfakta-scheduler-client --example run_one_function
//! ```

use std::error::Error;
use std::path::{Path, PathBuf};

use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_scheduler_client::{Engine, RunOptions, run_event};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/public");

    // A local folder is a bucket (`file:///...`); an `s3://name` bucket works the same way.
    let folder = tempfile::tempdir()?;
    copy_dir(&fixtures.join("input"), folder.path())?;
    let bucket = Bucket::folder(folder.path())?;

    // Embedded: DataFusion in this process, the fastest engine on one machine.
    let engine = Engine::embedded(&bucket).await?;

    // A pipeline event names the function's type, its input prefixes and the output prefix.
    let event = std::fs::read_to_string(fixtures.join("events/trangboddhet__over-2_status.json"))?;
    let options = RunOptions {
        // `meta.publishedDate` of every document; fixed, so that the output is the same on
        // every run (`bydelsfakta run` defaults to today).
        published_date: "2026-11-28".into(),
        // Route by the event, as the pipeline does.
        function: None,
        publish: Default::default(),
        // Publish the documents (`true` builds and counts them, and writes nothing).
        dry_run: false,
    };
    let outcome = run_event(&engine, &bucket, &event, &options).await?;

    println!(
        "{}: {} documents, {} bytes, in {} ms",
        outcome.summary.output_dataset,
        outcome.summary.documents,
        outcome.summary.bytes,
        outcome.elapsed.as_millis()
    );
    println!("step output: {}", outcome.step_output.to_python_string());

    // The documents lie under the output prefix: one per district (`01.json` ..
    // `15.json`), Oslo i alt (`00.json`), and the manifest that completes the publication.
    let written = files(&folder.path().join(&outcome.output_prefix))?;
    for path in &written {
        println!(
            "  {}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
    }
    let oslo = std::fs::read_to_string(folder.path().join(&outcome.output_prefix).join("00.json"))?;
    println!(
        "00.json begins: {}...",
        oslo.chars().take(160).collect::<String>()
    );

    // Exit non-zero unless the run wrote what the original writes for this output.
    let documents: Vec<_> = written
        .iter()
        .filter_map(|p| p.file_name()?.to_str())
        .filter(|name| name.ends_with(".json") && !name.starts_with('_'))
        .collect();
    let expected: Vec<String> = (0..=15).map(|d| format!("{d:02}.json")).collect();
    assert_eq!(
        documents, expected,
        "one document per district and Oslo i alt"
    );
    assert_eq!(outcome.summary.documents, 16);
    assert!(written.iter().any(|p| p.ends_with("_manifest.json")));
    assert!(oslo.starts_with(r#"{"district": "Oslo i alt", "id": "00", "data": ["#));
    Ok(())
}

/// The files of a folder, sorted by name.
fn files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = vec![];
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
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
