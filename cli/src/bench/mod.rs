//! `bench`: every output on the sample bucket and on synthesized buckets at larger scales,
//! each batch in a fresh `run-all` process (so that its peak memory is its own), against
//! the original's reference timings.
//!
//! The original's figures (the fixtures' `reference-timings.md`) are one process per
//! output, the handler call alone; ours are one process per batch, the whole `run-all`
//! (listing, reading, planning, running, writing) timed from inside, engine start excluded.
//!
//! Each scale also measures the batch's I/O floor ([`io_floor`]); with `--scheduler` or
//! `--engine standalone`, that path side by side with embedded ([`side_by_side`]); and
//! with `--against`, this build against another one ([`against`]).

pub mod against;
mod child;
pub mod io_floor;
pub mod side_by_side;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::demo::copy_dir;
use against::{Against, Measured, children_cpu_ms, fresh_copies};
use bydelsfakta_queries::functions;
use bydelsfakta_scheduler_client::logging;
use io_floor::FloorWork;
use side_by_side::{Distributed, EventTimes, SideBySide, embedded_flags, event_process};

/// The original's timings shipped beside the sample bucket.
pub const REFERENCE_TIMINGS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/reference-timings.md"
);

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Sub-district multipliers; 1 is the sample itself.
    pub scales: Vec<usize>,
    pub seed: u64,
    /// Runs per scale; the median is reported.
    pub repeat: usize,
    /// Where the scaled buckets go (kept for later runs).
    pub dir: PathBuf,
    pub sample: PathBuf,
    /// The outputs the original's timings cover, and the scales they were taken at: each
    /// of those scales also runs a batch of just these outputs, the like-for-like figure.
    pub original_outputs: Vec<String>,
    pub original_scales: Vec<usize>,
    /// The path to measure side by side with embedded, if any.
    pub distributed: Option<Distributed>,
    /// Another build to run alternately with this one, if any.
    pub against: Option<PathBuf>,
}

/// One `run-all` process: per-output milliseconds, the batch's wall time and peak memory.
#[derive(Debug, Clone)]
struct BatchRun {
    outputs: HashMap<String, f64>,
    wall_ms: f64,
    /// The whole process, timed from outside.
    process_ms: f64,
    /// The process's user and system CPU time.
    cpu_ms: Option<f64>,
    peak_rss_bytes: Option<u64>,
}

impl BatchRun {
    fn measured(&self) -> Measured {
        Measured {
            wall_ms: self.process_ms,
            cpu_ms: self.cpu_ms,
            peak_rss_bytes: self.peak_rss_bytes,
        }
    }
}

/// The median of the repeats at one scale.
#[derive(Debug, Clone)]
pub struct ScaleResult {
    pub scale: usize,
    pub outputs: HashMap<String, f64>,
    pub wall_ms: f64,
    /// The whole `run-all` process, timed from outside.
    pub process_ms: f64,
    pub peak_rss_bytes: Option<u64>,
    /// The batch of the original's outputs alone, where the original has timings.
    pub original_only_wall_ms: Option<f64>,
    /// The batch's I/O floor.
    pub floor: Option<Floor>,
    /// The distributed path against embedded.
    pub side_by_side: Option<SideBySide>,
    /// This build against another one.
    pub against: Option<Against>,
}

/// The I/O floor of a batch: median ms, bytes read and written.
#[derive(Debug, Clone)]
pub struct Floor {
    pub ms: f64,
    pub read_bytes: u64,
    pub written_bytes: u64,
}

/// The original's seconds per output dataset: scale 1 with the production pins (pandas
/// 1.0.1), and scale 4 (pandas 1.5.3, the only scale-4 figures there are).
#[derive(Debug, Clone, Default)]
pub struct Reference {
    pub scale1: HashMap<String, f64>,
    pub scale4: HashMap<String, f64>,
}

impl Reference {
    /// The output datasets the timings cover.
    pub fn outputs(&self) -> Vec<String> {
        self.scale1.keys().cloned().collect()
    }

    /// The scales the timings were taken at.
    pub fn scales(&self) -> Vec<usize> {
        [(1, &self.scale1), (4, &self.scale4)]
            .into_iter()
            .filter(|(_, timings)| !timings.is_empty())
            .map(|(scale, _)| scale)
            .collect()
    }

    /// Reads the markdown table of `reference-timings.md`.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reference timings {}", path.display()))?;
        let mut reference = Self::default();
        for line in text.lines().filter(|l| l.starts_with("| ")) {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            let [function, dataset_type, _, _, s4, _, s1_production] = cells[..] else {
                continue;
            };
            let Some(output) = functions::by_name(function)
                .and_then(|f| f.dataset_type(dataset_type).ok())
                .map(|t| t.output_dataset.to_string())
            else {
                continue;
            };
            if let (Ok(s1), Ok(s4)) = (s1_production.parse(), s4.parse()) {
                reference.scale1.insert(output.clone(), s1);
                reference.scale4.insert(output, s4);
            }
        }
        anyhow::ensure!(
            !reference.scale1.is_empty(),
            "no timings found in {}",
            path.display()
        );
        Ok(reference)
    }
}

/// Where the bench keeps its buckets unless told: a memory-backed folder where the
/// system has one (the original's reference ran against moto's in-memory S3, so a disk's
/// file creation would be measured on our side only), else the working directory.
pub fn default_bench_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.join("bydelsfakta-bench")
    } else {
        PathBuf::from("./bydelsfakta-bench")
    }
}

/// Prepares each scale's bucket and runs the batches.
pub fn run_bench(options: &BenchOptions) -> anyhow::Result<Vec<ScaleResult>> {
    let exe = std::env::current_exe().context("locating the bydelsfakta binary")?;
    // Against another build, both run from fresh copies made alike (kept until the end).
    let copies = options
        .against
        .as_ref()
        .map(|other| fresh_copies(&exe, other, &options.dir))
        .transpose()?;
    let exe = copies.as_ref().map_or(exe, |copies| copies.this.clone());
    let other = copies.as_ref().map(|copies| copies.other.clone());
    let embedded = embedded_flags();
    let mut results = vec![];
    for &scale in &options.scales {
        let bucket = options.dir.join(format!("scale-{scale}"));
        if !bucket.join("processed").exists() {
            logging::note(&format!(
                "preparing the {scale}x bucket in {}",
                bucket.display()
            ));
            if scale == 1 {
                copy_dir(&options.sample, &bucket)?;
            } else {
                crate::synth::synthesize(&options.sample, &bucket, scale, options.seed)?;
            }
        }
        let events_dir = options.dir.join(format!("events-{scale}"));
        let events = side_by_side::write_events(&bucket, &events_dir)?;
        let floor_dir = options.dir.join(format!("floor-{scale}"));
        let compare = options.original_scales.contains(&scale);
        let (mut runs, mut original_only, mut floors) = (vec![], vec![], vec![]);
        let (mut distributed_runs, mut embedded_events, mut distributed_events) =
            (vec![], EventTimes::default(), EventTimes::default());
        let mut floor_bytes = (0, 0);
        let mut pairs = vec![];
        for round in 1..=options.repeat {
            logging::note(&format!("{scale}x: run {round} of {}", options.repeat));
            let edition = format!("bench-{round}");
            // The other build first in every second round, so that neither always runs
            // on a machine the other has just warmed (or heated).
            let other_first = match &other {
                Some(other) if round % 2 == 0 => {
                    Some(batch(other, &embedded, &bucket, &edition, &[])?)
                }
                _ => None,
            };
            runs.push(batch(&exe, &embedded, &bucket, &edition, &[])?);
            // The floor right after the batch, of what the batch read and wrote.
            let work = FloorWork::gather(
                &bucket,
                &events.input_prefixes,
                &bucket.join("intermediate"),
                floor_dir.clone(),
            )?;
            floor_bytes = work.bytes();
            floors.push(work.run(crate::run_all::default_jobs())?);
            if let Some(other) = &other {
                let theirs = match other_first {
                    Some(run) => run,
                    None => batch(other, &embedded, &bucket, &edition, &[])?,
                };
                let ours = runs.last().expect("just pushed").measured();
                pairs.push((ours, theirs.measured()));
            }
            if compare {
                let edition = format!("bench-original-{round}");
                original_only.push(batch(
                    &exe,
                    &embedded,
                    &bucket,
                    &edition,
                    &options.original_outputs,
                )?);
            }
            if let Some(distributed) = &options.distributed {
                distributed_runs.push(batch(&exe, &distributed.flags, &bucket, &edition, &[])?);
                for (output, event) in &events.files {
                    embedded_events.add(output, event_process(&exe, &embedded, &bucket, event)?);
                    distributed_events.add(
                        output,
                        event_process(&exe, &distributed.flags, &bucket, event)?,
                    );
                }
            }
        }
        std::fs::remove_dir_all(&floor_dir).ok();
        let mut result = median(scale, runs.clone());
        result.original_only_wall_ms = (!original_only.is_empty())
            .then(|| middle(original_only.iter().map(|r| r.wall_ms).collect()));
        result.floor = Some(Floor {
            ms: middle(floors),
            read_bytes: floor_bytes.0,
            written_bytes: floor_bytes.1,
        });
        result.side_by_side = options.distributed.as_ref().map(|distributed| SideBySide {
            label: distributed.label(),
            run_all_embedded_ms: result.process_ms,
            run_all_distributed_ms: middle(distributed_runs.iter().map(|r| r.process_ms).collect()),
            embedded: embedded_events.medians(),
            distributed: distributed_events.medians(),
            executors_peak_rss_bytes: (!distributed.executor_pids.is_empty()).then(|| {
                distributed
                    .executor_pids
                    .iter()
                    .filter_map(|pid| peak_rss_of(*pid))
                    .sum()
            }),
        });
        result.against = options.against.as_ref().map(|binary| Against {
            binary: binary.clone(),
            pairs,
        });
        results.push(result);
    }
    Ok(results)
}

/// Writes every dirty page out (`sync`) before a timed step, so that no step waits on
/// the write-back of the one before it: on a disk bucket, a floor right after a batch
/// otherwise took anything from 49 to 936 ms for the same bytes. What a step writes
/// itself stays in the page cache, as it does for a real run; a memory-backed bucket has
/// nothing to write back. Where `sync` cannot run, or takes longer than
/// [`SETTLE_LIMIT`] (a hung mount), the step runs as it is.
pub fn settle_writes() {
    let Ok(mut sync) = Command::new("sync").spawn() else {
        return;
    };
    let started = std::time::Instant::now();
    while let Ok(None) = sync.try_wait() {
        if started.elapsed() >= SETTLE_LIMIT {
            // Not waited for: a `sync` stuck in the kernel outlives even SIGKILL.
            let _ = sync.kill();
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// How long a step waits for [`settle_writes`].
const SETTLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// One `run-all` process with `flags` on `bucket`, of `outputs` (all when empty).
fn batch(
    exe: &Path,
    flags: &[String],
    bucket: &Path,
    edition: &str,
    outputs: &[String],
) -> anyhow::Result<BatchRun> {
    // Each batch writes into an empty output tree, as the first run did.
    let written = bucket.join("intermediate");
    if written.exists() {
        std::fs::remove_dir_all(&written)
            .with_context(|| format!("clearing {}", written.display()))?;
    }
    let mut command = Command::new(exe);
    command
        .args(flags)
        .args(["run-all", "--format", "json", "--edition"])
        .arg(edition)
        .arg("--bucket")
        .arg(bucket);
    if !outputs.is_empty() {
        command.arg("--output").arg(outputs.join(","));
    }
    settle_writes();
    let cpu_before = children_cpu_ms();
    let started = std::time::Instant::now();
    let output = child::output_within(&mut command, child::CHILD_LIMIT, "run-all")?;
    let process_ms = started.elapsed().as_secs_f64() * 1000.0;
    let cpu_ms = children_cpu_ms()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    if !output.status.success() {
        bail!(
            "{} run-all on {} failed: {}",
            flags.join(" "),
            bucket.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let report: Value = serde_json::from_slice(&output.stdout).context("run-all's report")?;
    let outputs = report["outputs"]
        .as_array()
        .context("run-all's report has no outputs")?
        .iter()
        .filter_map(|o| Some((o["output_dataset"].as_str()?.to_string(), o["ms"].as_f64()?)))
        .collect();
    Ok(BatchRun {
        outputs,
        wall_ms: report["wall_ms"].as_f64().unwrap_or(f64::NAN),
        process_ms,
        cpu_ms,
        peak_rss_bytes: report["peak_rss_bytes"].as_u64(),
    })
}

fn middle(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn median(scale: usize, runs: Vec<BatchRun>) -> ScaleResult {
    let outputs = runs[0]
        .outputs
        .keys()
        .map(|name| {
            let times = runs.iter().filter_map(|r| r.outputs.get(name).copied());
            (name.clone(), middle(times.collect()))
        })
        .collect();
    ScaleResult {
        scale,
        outputs,
        wall_ms: middle(runs.iter().map(|r| r.wall_ms).collect()),
        process_ms: middle(runs.iter().map(|r| r.process_ms).collect()),
        peak_rss_bytes: runs.iter().filter_map(|r| r.peak_rss_bytes).max(),
        original_only_wall_ms: None,
        floor: None,
        side_by_side: None,
        against: None,
    }
}

/// The report: one row per output (ours in ms, the original's in ms where known), then
/// the batch totals, the speed-up over the original and how time grows with the data.
pub fn report(results: &[ScaleResult], reference: &Reference) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let scales: Vec<usize> = results.iter().map(|r| r.scale).collect();
    let mut header = "| output dataset | original 1x".to_string();
    let mut rule = "|---|---:".to_string();
    for scale in &scales {
        if *scale == 4 {
            header.push_str(" | original 4x");
            rule.push_str("|---:");
        }
        let _ = write!(header, " | ours {scale}x");
        rule.push_str("|---:");
    }
    let _ = writeln!(out, "{header} |\n{rule}|");
    let names: Vec<&str> = functions::all()
        .iter()
        .flat_map(|f| f.types.iter().map(|t| t.output_dataset))
        .collect();
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    for name in &names {
        let mut line = format!(
            "| {name} | {}",
            ms(reference.scale1.get(*name).map(|s| s * 1000.0))
        );
        for result in results {
            if result.scale == 4 {
                let _ = write!(
                    line,
                    " | {}",
                    ms(reference.scale4.get(*name).map(|s| s * 1000.0))
                );
            }
            let _ = write!(line, " | {}", ms(result.outputs.get(*name).copied()));
        }
        let _ = writeln!(out, "{line} |");
    }
    let original1: f64 = names.iter().filter_map(|n| reference.scale1.get(*n)).sum();
    let original4: f64 = names.iter().filter_map(|n| reference.scale4.get(*n)).sum();
    let _ = writeln!(
        out,
        "\noriginal: {} outputs, {:.1} s at 1x (pandas 1.0.1), {:.1} s at 4x (pandas 1.5.3), one process per output",
        reference.scale1.len(),
        original1,
        original4
    );
    let base = results.iter().find(|r| r.scale == 1).map(|r| r.wall_ms);
    for result in results {
        let original = match result.scale {
            1 => Some(original1),
            4 => Some(original4),
            _ => None,
        };
        let _ = write!(
            out,
            "ours {}x: {} outputs, batch {:.0} ms (sum of per-output times {:.0} ms), peak RSS {}",
            result.scale,
            result.outputs.len(),
            result.wall_ms,
            result.outputs.values().sum::<f64>(),
            result
                .peak_rss_bytes
                .map_or("unknown".into(), |b| format!("{} MiB", b / (1024 * 1024)))
        );
        if let Some(original) = original {
            let _ = write!(
                out,
                ", {:.1}x faster than the original",
                original * 1000.0 / result.wall_ms
            );
        }
        if let Some(base) = base.filter(|_| result.scale != 1) {
            let _ = write!(out, ", {:.1}x the 1x time", result.wall_ms / base);
        }
        out.push('\n');
        if let Some(floor) = &result.floor {
            let _ = writeln!(
                out,
                "ours {}x: I/O floor {:.0} ms (read {:.1} MB of inputs, wrote {:.1} MB staged and renamed); run-all process {:.0} ms = {:.1}x the floor",
                result.scale,
                floor.ms,
                floor.read_bytes as f64 / 1e6,
                floor.written_bytes as f64 / 1e6,
                result.process_ms,
                result.process_ms / floor.ms
            );
        }
        if let Some(side) = &result.side_by_side {
            out.push_str(&side.report(result.scale));
        }
        if let Some(against) = &result.against {
            out.push_str(&against.report(result.scale));
        }
        if let (Some(original), Some(ms)) = (original, result.original_only_wall_ms) {
            let _ = writeln!(
                out,
                "ours {}x, the original's {} outputs alone: batch {ms:.0} ms, {:.1}x faster than the original",
                result.scale,
                reference.scale1.len(),
                original * 1000.0 / ms
            );
        }
    }
    out
}

/// The peak resident memory of this process so far (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    peak_rss_in("/proc/self/status")
}

/// The peak resident memory of process `pid` so far.
pub fn peak_rss_of(pid: u32) -> Option<u64> {
    peak_rss_in(&format!("/proc/{pid}/status"))
}

fn peak_rss_in(status: &str) -> Option<u64> {
    let status = std::fs::read_to_string(status).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_table_maps_to_output_datasets() {
        let reference = Reference::read(Path::new(REFERENCE_TIMINGS)).unwrap();
        let original: usize = functions::all().iter().map(|f| f.types.len()).sum();
        assert!(reference.scale1.len() >= 78.min(original));
        assert_eq!(reference.scale1["alder-distribusjon-status"], 0.566);
        assert_eq!(reference.scale4["alder-distribusjon-status"], 1.715);
        assert_eq!(reference.scales(), vec![1, 4]);
        assert_eq!(reference.outputs().len(), reference.scale1.len());
    }

    #[test]
    fn the_median_of_three_runs_is_the_middle_one() {
        let run = |ms: f64, rss: u64| BatchRun {
            outputs: HashMap::from([("a".to_string(), ms)]),
            wall_ms: ms * 2.0,
            process_ms: ms * 3.0,
            cpu_ms: Some(ms * 4.0),
            peak_rss_bytes: Some(rss),
        };
        let result = median(1, vec![run(30.0, 5), run(10.0, 9), run(20.0, 7)]);
        assert_eq!(result.outputs["a"], 20.0);
        assert_eq!(result.wall_ms, 40.0);
        assert_eq!(result.process_ms, 60.0);
        assert_eq!(result.peak_rss_bytes, Some(9));
    }

    #[test]
    fn peak_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_bytes().unwrap() > 1024 * 1024);
        }
    }
}
