//! `bench --scheduler df://...` (or `--engine standalone`): the distributed path and
//! embedded side by side in one invocation, on the same bucket. Each `run-all` batch and
//! each single event is a fresh `bydelsfakta` process timed from outside (start, connect,
//! plan, run, publish), and the two paths alternate, so that both see the same machine.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::run_all::{event_for, latest_input_prefixes};
use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_queries::functions;
use bydelsfakta_scheduler_client::engine::Engine;

/// The path measured against embedded, as `bydelsfakta` flags.
#[derive(Debug, Clone)]
pub struct Distributed {
    /// `--scheduler df://...` or `--engine standalone`.
    pub flags: Vec<String>,
    /// The executors' process ids, whose peak memory is reported (a remote cluster's
    /// cannot be read from here).
    pub executor_pids: Vec<u32>,
}

impl Distributed {
    /// How the report names it.
    pub fn label(&self) -> String {
        self.flags.join(" ")
    }
}

/// The flags of the embedded side.
pub fn embedded_flags() -> Vec<String> {
    vec!["--engine".into(), "embedded".into()]
}

/// The events of a bucket, as files, and the input prefixes they read.
pub struct BenchEvents {
    /// Output dataset and its event's file.
    pub files: Vec<(String, PathBuf)>,
    /// The latest edition's prefix of every input an output reads.
    pub input_prefixes: Vec<String>,
}

/// One pipeline event per output dataset, written as files for `run --event`, built as
/// `run-all` builds them from the latest edition of every input in `bucket`.
pub fn write_events(bucket: &Path, into: &Path) -> anyhow::Result<BenchEvents> {
    let prefixes = tokio::runtime::Handle::current().block_on(async {
        let at = Bucket::from_arg(&bucket.display().to_string()).await?;
        let engine = Engine::embedded(&at).await?;
        latest_input_prefixes(&engine, &at).await
    })?;
    std::fs::create_dir_all(into).with_context(|| format!("creating {}", into.display()))?;
    let mut events = vec![];
    let mut read = vec![];
    for function in functions::all() {
        read.extend(
            function
                .input_datasets()
                .into_iter()
                .filter_map(|id| prefixes.get(id).cloned()),
        );
        for ty in function.types {
            let path = into.join(format!("{}.json", ty.output_dataset));
            std::fs::write(&path, event_for(function, ty, &prefixes, "bench-events"))?;
            events.push((ty.output_dataset.to_string(), path));
        }
    }
    read.sort();
    read.dedup();
    Ok(BenchEvents {
        files: events,
        input_prefixes: read,
    })
}

/// One `run --event` process with `flags`, in milliseconds.
pub fn event_process(
    exe: &Path,
    flags: &[String],
    bucket: &Path,
    event: &Path,
) -> anyhow::Result<f64> {
    super::settle_writes();
    let started = Instant::now();
    let output = super::child::output_within(
        Command::new(exe)
            .args(flags)
            .args(["run", "--published-date", "2026-01-01", "--event"])
            .arg(event)
            .arg("--bucket")
            .arg(bucket),
        super::child::CHILD_LIMIT,
        "run",
    )?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if !output.status.success() {
        bail!(
            "{} run --event {} failed: {}",
            flags.join(" "),
            event.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(ms)
}

/// Per-event milliseconds of one path, the median over the rounds.
#[derive(Debug, Clone, Default)]
pub struct EventTimes(pub HashMap<String, Vec<f64>>);

impl EventTimes {
    pub fn add(&mut self, output: &str, ms: f64) {
        self.0.entry(output.to_string()).or_default().push(ms);
    }

    /// Each event's median.
    pub fn medians(&self) -> HashMap<String, f64> {
        self.0
            .iter()
            .map(|(name, times)| (name.clone(), super::middle(times.clone())))
            .collect()
    }
}

/// The `q` quantile (0..=1) of `values`, nearest rank.
pub fn quantile(values: impl IntoIterator<Item = f64>, q: f64) -> f64 {
    let mut values: Vec<f64> = values.into_iter().collect();
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// What one scale measured on both paths.
#[derive(Debug, Clone)]
pub struct SideBySide {
    pub label: String,
    /// `run-all` processes, median ms.
    pub run_all_embedded_ms: f64,
    pub run_all_distributed_ms: f64,
    /// Per event, median ms.
    pub embedded: HashMap<String, f64>,
    pub distributed: HashMap<String, f64>,
    /// The executors' peak resident memory, summed, when their processes are here.
    pub executors_peak_rss_bytes: Option<u64>,
}

impl SideBySide {
    /// The report's lines for this scale.
    pub fn report(&self, scale: usize) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let ratio = |d: f64, e: f64| d / e;
        let _ = writeln!(
            out,
            "{scale}x, {} against embedded (processes timed from outside):",
            self.label
        );
        let _ = writeln!(
            out,
            "| | embedded ms | {} ms | ratio |\n|---|---:|---:|---:|",
            self.label
        );
        let _ = writeln!(
            out,
            "| run-all, {} outputs | {:.0} | {:.0} | {:.1}x |",
            self.embedded.len(),
            self.run_all_embedded_ms,
            self.run_all_distributed_ms,
            ratio(self.run_all_distributed_ms, self.run_all_embedded_ms)
        );
        for (name, q) in [("event p50", 0.5), ("event p95", 0.95)] {
            let e = quantile(self.embedded.values().copied(), q);
            let d = quantile(self.distributed.values().copied(), q);
            let _ = writeln!(out, "| {name} | {e:.0} | {d:.0} | {:.1}x |", ratio(d, e));
        }
        if let Some((name, d)) = self.distributed.iter().max_by(|a, b| a.1.total_cmp(b.1)) {
            let e = self.embedded[name];
            let _ = writeln!(
                out,
                "| slowest event ({name}) | {e:.0} | {d:.0} | {:.1}x |",
                ratio(*d, e)
            );
        }
        let _ = writeln!(
            out,
            "executors' peak RSS: {}",
            self.executors_peak_rss_bytes.map_or(
                "not measured (pass --executor-pid)".into(),
                |b| format!("{} MiB", b / (1024 * 1024))
            )
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let values = (1..=20).map(f64::from);
        assert_eq!(quantile(values.clone(), 0.5), 10.0);
        assert_eq!(quantile(values.clone(), 0.95), 19.0);
        assert_eq!(quantile(values, 1.0), 20.0);
        assert_eq!(quantile([7.0], 0.95), 7.0);
    }

    #[test]
    fn the_report_shows_the_ratios() {
        let side = SideBySide {
            label: "--scheduler df://x".into(),
            run_all_embedded_ms: 1000.0,
            run_all_distributed_ms: 2500.0,
            embedded: HashMap::from([("a".into(), 50.0), ("b".into(), 100.0)]),
            distributed: HashMap::from([("a".into(), 200.0), ("b".into(), 300.0)]),
            executors_peak_rss_bytes: Some(300 * 1024 * 1024),
        };
        let report = side.report(1);
        assert!(
            report.contains("| run-all, 2 outputs | 1000 | 2500 | 2.5x |"),
            "{report}"
        );
        assert!(
            report.contains("| event p50 | 50 | 200 | 4.0x |"),
            "{report}"
        );
        assert!(
            report.contains("| slowest event (b) | 100 | 300 | 3.0x |"),
            "{report}"
        );
        assert!(report.contains("300 MiB"), "{report}");
    }
}
