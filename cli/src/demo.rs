//! `demo`: the sample bucket copied into a folder and every output run on it.

use std::path::{Path, PathBuf};

use anyhow::Context;

use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_queries::publication::records::PublishSettings;
use bydelsfakta_scheduler_client::engine::{Engine, EngineKind};

use crate::run_all::{RunAllOptions, RunAllRow, run_all};

/// The sample bucket shipped in the repository (the original's fixture inputs).
pub const SAMPLE_BUCKET: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/public/input"
);

/// Copies the sample bucket into `out` (unless it is already there) and runs every
/// implemented output dataset on it, as edition `demo`.
pub async fn run_demo(
    engine: EngineKind,
    scheduler: Option<&str>,
    out: &Path,
    sample: &Path,
    published_date: &str,
    publish: PublishSettings,
) -> anyhow::Result<Vec<RunAllRow>> {
    let out = local_folder(out)?;
    copy_dir(sample, &out)
        .with_context(|| format!("copying the sample bucket into {}", out.display()))?;
    let out = std::fs::canonicalize(&out).with_context(|| format!("{}", out.display()))?;
    let bucket = Bucket::folder(&out)?;
    let engine = Engine::connect(engine, scheduler, &bucket).await?;
    let options = RunAllOptions {
        edition: Some("demo".into()),
        changed: None,
        outputs: vec![],
        published_date: published_date.into(),
        jobs: None,
        publish,
    };
    run_all(&engine, &bucket, &options).await
}

/// The folder `--out` names: a path, or a `file://` URL of one.
fn local_folder(out: &Path) -> anyhow::Result<PathBuf> {
    let text = out.to_string_lossy();
    if !text.contains("://") {
        return Ok(out.to_path_buf());
    }
    Bucket::parse(&text)?
        .local_folder("")
        .ok_or_else(|| anyhow::anyhow!("--out {text}: the demo writes a folder on this machine"))
}

/// Copies a folder tree, keeping files that are already there.
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target: PathBuf = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if !target.exists() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
