//! `bench --against BINARY`: this build and another one, alternately on the same buckets,
//! as ratios of the two. Machines differ, and one machine differs from sitting to sitting
//! by 10% or more, so two builds compare only within one run, pair by pair.
//!
//! Both binaries are first copied afresh: a process's peak memory counts the pages of its
//! binary it touched, and a binary file that was just read whole (by `perf report`, say)
//! gave a peak 14 MiB lower than a fresh copy of the same build.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// One batch of each build in one round: the whole process's wall and CPU milliseconds
/// and its peak memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub wall_ms: f64,
    pub cpu_ms: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
}

/// This build against `binary` at one scale.
#[derive(Debug, Clone)]
pub struct Against {
    pub binary: PathBuf,
    /// (this build, the other) per round.
    pub pairs: Vec<(Measured, Measured)>,
}

impl Against {
    /// The report's line for `scale`: this build's wall and CPU as the median of the
    /// rounds' ratios, and both peaks (medians).
    pub fn report(&self, scale: usize) -> String {
        let wall = median_ratio(self.pairs.iter().map(|(a, b)| (a.wall_ms, b.wall_ms)));
        let cpu = median_ratio(
            self.pairs
                .iter()
                .filter_map(|(a, b)| Some((a.cpu_ms?, b.cpu_ms?))),
        );
        let peak = |side: fn(&(Measured, Measured)) -> Option<u64>| {
            // Bytes as f64 are exact far beyond any memory.
            let peaks: Vec<f64> = self
                .pairs
                .iter()
                .filter_map(side)
                .map(|b| b as f64)
                .collect();
            median(peaks).map_or("unknown".to_string(), |b| {
                format!("{} MiB", b as u64 / (1024 * 1024))
            })
        };
        let ratio = |r: Option<f64>| r.map_or("unknown".to_string(), |r| format!("{r:.3}x"));
        format!(
            "ours {scale}x against {}: this build's run-all process {} the wall and {} the CPU (median of {} alternating pairs); peak RSS {} against {}\n",
            self.binary.display(),
            ratio(wall),
            ratio(cpu),
            self.pairs.len(),
            peak(|(a, _)| a.peak_rss_bytes),
            peak(|(_, b)| b.peak_rss_bytes),
        )
    }
}

/// The median of `a / b` over the pairs, if there are any.
pub fn median_ratio(pairs: impl Iterator<Item = (f64, f64)>) -> Option<f64> {
    median(pairs.map(|(a, b)| a / b).collect())
}

/// The bench's median ([`super::middle`]) of `values`, if there are any.
fn median(values: Vec<f64>) -> Option<f64> {
    (!values.is_empty()).then(|| super::middle(values))
}

/// The two builds' copies; removed when dropped, as a release build with its symbols is
/// some 200 MB, held in memory when the bench folder is in `/dev/shm`.
#[derive(Debug)]
pub struct Copies {
    folder: PathBuf,
    pub this: PathBuf,
    pub other: PathBuf,
}

impl Drop for Copies {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// Fresh copies of this build and of `other` in `dir/binaries`, made the same way.
pub fn fresh_copies(this: &Path, other: &Path, dir: &Path) -> anyhow::Result<Copies> {
    let folder = dir.join("binaries");
    // Removed first, so that each copy is a new file whatever was there.
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let copy = |from: &Path, name: &str| -> anyhow::Result<PathBuf> {
        let to = folder.join(name);
        std::fs::copy(from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        Ok(to)
    };
    let (this, other) = (copy(this, "this")?, copy(other, "against")?);
    Ok(Copies {
        folder,
        this,
        other,
    })
}

/// The CPU time (user and system) of this process's children that have been waited for,
/// in milliseconds: the difference around one child is that child's.
pub fn children_cpu_ms() -> Option<f64> {
    // SAFETY: `getrusage` only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return None;
    }
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    Some(ms(usage.ru_utime) + ms(usage.ru_stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(wall_ms: f64, cpu_ms: f64, mib: u64) -> Measured {
        Measured {
            wall_ms,
            cpu_ms: Some(cpu_ms),
            peak_rss_bytes: Some(mib * 1024 * 1024),
        }
    }

    #[test]
    fn the_ratio_is_the_median_of_the_pairs_ratios() {
        // The medians of the sides (100 and 100) would say 1.0; the pairs say 0.9.
        let pairs = [(90.0, 100.0), (100.0, 200.0), (180.0, 100.0)];
        assert_eq!(median_ratio(pairs.into_iter()), Some(0.9));
        assert_eq!(median_ratio(std::iter::empty()), None);
    }

    #[test]
    fn the_report_gives_both_ratios_and_both_peaks() {
        let against = Against {
            binary: PathBuf::from("/tmp/old"),
            pairs: vec![
                (measured(90.0, 160.0, 130), measured(100.0, 200.0, 140)),
                (measured(100.0, 190.0, 132), measured(100.0, 200.0, 138)),
                (measured(95.0, 200.0, 131), measured(100.0, 200.0, 150)),
            ],
        };
        assert_eq!(
            against.report(1),
            "ours 1x against /tmp/old: this build's run-all process 0.950x the wall and 0.950x the CPU (median of 3 alternating pairs); peak RSS 131 MiB against 140 MiB\n"
        );
    }

    #[test]
    fn a_waited_child_adds_its_cpu_time() {
        let before = children_cpu_ms().unwrap();
        // A child that spins for a moment of CPU.
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(children_cpu_ms().unwrap() > before);
    }

    #[test]
    fn copies_are_new_files_of_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"this").unwrap();
        std::fs::write(&b, b"other").unwrap();
        let copies = fresh_copies(&a, &b, dir.path()).unwrap();
        assert_eq!(std::fs::read(&copies.this).unwrap(), b"this");
        assert_eq!(std::fs::read(&copies.other).unwrap(), b"other");
        // Again over the first copies: replaced, not appended to.
        std::fs::write(&a, b"new").unwrap();
        let again = fresh_copies(&a, &b, dir.path()).unwrap();
        assert_eq!(std::fs::read(&again.this).unwrap(), b"new");
        let folder = dir.path().join("binaries");
        drop(again);
        assert!(!folder.exists(), "the copies go when the bench is done");
    }
}
