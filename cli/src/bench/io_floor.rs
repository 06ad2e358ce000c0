//! The I/O floor of a batch: what reading its inputs and writing its documents costs with
//! nothing in between. Every distinct input object the batch read is read whole, and the
//! bytes the batch wrote are written again, each to a staging name and renamed into place
//! as the publication does, by as many threads as `run-all` runs outputs at once.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;

/// What one floor run reads and writes, loaded before the clock starts.
pub struct FloorWork {
    inputs: Vec<PathBuf>,
    documents: Vec<Vec<u8>>,
    into: PathBuf,
}

impl FloorWork {
    /// The objects under each of `input_prefixes` of the folder `bucket`, and every file
    /// the batch wrote under `written`; the floor writes into `into`.
    pub fn gather(
        bucket: &Path,
        input_prefixes: &[String],
        written: &Path,
        into: PathBuf,
    ) -> anyhow::Result<Self> {
        let mut inputs = vec![];
        for prefix in input_prefixes {
            inputs.extend(files_below(&bucket.join(prefix))?);
        }
        inputs.sort();
        inputs.dedup();
        let documents = files_below(written)?
            .iter()
            .map(|path| std::fs::read(path).with_context(|| format!("reading {}", path.display())))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            inputs,
            documents,
            into,
        })
    }

    /// Bytes read and written by one run.
    pub fn bytes(&self) -> (u64, u64) {
        let read = self
            .inputs
            .iter()
            .filter_map(|p| p.metadata().ok())
            .map(|m| m.len())
            .sum();
        let written = self.documents.iter().map(|d| d.len() as u64).sum();
        (read, written)
    }

    /// One timed run on `threads` threads, in milliseconds.
    pub fn run(&self, threads: usize) -> anyhow::Result<f64> {
        if self.into.exists() {
            std::fs::remove_dir_all(&self.into)?;
        }
        std::fs::create_dir_all(&self.into)?;
        let next = AtomicUsize::new(0);
        let items = self.inputs.len() + self.documents.len();
        super::settle_writes();
        let started = Instant::now();
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads.max(1))
                .map(|_| {
                    scope.spawn(|| -> anyhow::Result<()> {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= items {
                                return Ok(());
                            }
                            self.item(i)?;
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .try_for_each(|w| w.join().expect("a floor thread panicked"))
        })?;
        Ok(started.elapsed().as_secs_f64() * 1000.0)
    }

    /// Reads input `i`, or writes document `i - inputs` staged and renamed.
    fn item(&self, i: usize) -> anyhow::Result<()> {
        if let Some(input) = self.inputs.get(i) {
            std::hint::black_box(std::fs::read(input)?);
            return Ok(());
        }
        let n = i - self.inputs.len();
        let staged = self.into.join(format!("{n}.staged"));
        std::fs::write(&staged, &self.documents[n])?;
        std::fs::rename(&staged, self.into.join(format!("{n}.json")))?;
        Ok(())
    }
}

/// Every file below `dir`, recursively.
fn files_below(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = vec![];
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_reads_every_input_and_writes_every_document() {
        let bucket = tempfile::tempdir().unwrap();
        let input = bucket.path().join("processed/a/edition=1");
        std::fs::create_dir_all(&input).unwrap();
        std::fs::write(input.join("a.csv"), "x;y\n1;2\n").unwrap();
        let written = bucket.path().join("intermediate/out");
        std::fs::create_dir_all(&written).unwrap();
        std::fs::write(written.join("01.json"), "{}").unwrap();
        std::fs::write(written.join("02.json"), "{\"a\":1}").unwrap();
        let into = bucket.path().join("floor");
        let work = FloorWork::gather(
            bucket.path(),
            &[
                "processed/a/edition=1/".to_string(),
                "processed/a/".to_string(),
            ],
            &written,
            into.clone(),
        )
        .unwrap();
        assert_eq!(work.bytes(), (8, 9));
        work.run(3).unwrap();
        let mut out: Vec<u64> = files_below(&into)
            .unwrap()
            .iter()
            .map(|p| p.metadata().unwrap().len())
            .collect();
        out.sort();
        assert_eq!(
            out,
            vec![2, 7],
            "two documents renamed into place, nothing staged"
        );
    }
}
