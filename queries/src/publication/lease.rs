//! One publisher at a time per output prefix.
//!
//! A lease is an object `_publication/lease/<generation>.json` created with a conditional
//! put (`PutMode::Create`: S3's `If-None-Match: *`, a hard link on a local folder), so of
//! two publishers that try the same generation exactly one succeeds: the key is the
//! generation alone, so that they try the same key. The lease in force is the highest
//! generation. It names its run and holder and when it expires; the holder renews it while
//! it works, before any write that would start on less than half of it (`site.rs`). A
//! lease whose holder is known to be dead (a process of this machine that no longer runs)
//! or that has expired is taken over by creating the next generation, again with a
//! conditional put, so two publishers that both see a stale lease still cannot both win.
//! Nothing is ever overwritten except by its own holder, and nothing is deleted before the
//! next generation is won, so no conditional delete is needed.
//!
//! A holder checks that its lease is still the highest, and still its own record, before
//! each step that changes the documents and before any write made on less than half the
//! lease (fencing); one that was paused past its expiry and overtaken stops there. Once its
//! lease has expired by its own clock, a holder also reads the record, not only the key
//! listed, because a generation is used again once every lease is released (the next
//! publisher finds none and starts at 1).
//!
//! S3 retries a request that was answered with a server error, a conditional put included,
//! although the first try may have landed; the retry is then refused as if another
//! publisher had won. A create that is refused is therefore read back: the object this
//! publisher wrote is its own.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use super::clock::{self, Written};
use super::records::PublishSettings;
use super::site::Site;
use crate::error::{Error, Result};

/// How often a waiting publisher looks again, at most.
const MAX_POLL: Duration = Duration::from_millis(500);

/// The longest one store call of this process can take, in milliseconds: set when its
/// stores are configured ([`set_longest_call`]), 0 (nothing to check) until then.
static LONGEST_CALL_MS: AtomicU64 = AtomicU64::new(0);
static WARNED_SHORT: AtomicBool = AtomicBool::new(false);

/// Notes how long one store call of this process can take, its retries included.
pub fn set_longest_call(longest: Duration) {
    let ms = u64::try_from(longest.as_millis()).unwrap_or(u64::MAX);
    LONGEST_CALL_MS.store(ms, Ordering::Relaxed);
}

/// Whether a lease of `ttl` outlasts every write begun on half of it: a holder starts a
/// write with half its lease left (`site.rs`), so a call must end within half the lease
/// for its write to land while the lease holds. The problem, in words, if not.
pub fn outlasts_calls(ttl: Duration, longest_call: Duration) -> std::result::Result<(), String> {
    if ttl >= longest_call * 2 {
        return Ok(());
    }
    Err(format!(
        "a lease of {} s is shorter than twice the longest store call ({} s), so a write could land after the lease expired",
        ttl.as_secs_f64(),
        longest_call.as_secs_f64(),
    ))
}

/// An executor publishes under its client's lease with store timeouts of its own: it
/// says so (once) when they do not fit, as the client's own check cannot see them.
fn warn_if_short(ttl: Duration) {
    let longest = Duration::from_millis(LONGEST_CALL_MS.load(Ordering::Relaxed));
    if let Err(problem) = outlasts_calls(ttl, longest)
        && !WARNED_SHORT.swap(true, Ordering::Relaxed)
    {
        warn!("{problem}: raise the client's lease or lower this process's store timeouts");
    }
}

/// What a lease object says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub run_id: String,
    pub holder: Holder,
    /// Milliseconds since the Unix epoch, by the holder's clock.
    pub expires_at_ms: u64,
}

/// The process that holds a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Host name, boot id and PID namespace: processes that share these share a process
    /// table, so one can tell whether the other still runs.
    pub machine: Option<String>,
    pub pid: u32,
    /// The process's start time in clock ticks since boot (`/proc/<pid>/stat`), so that a
    /// new process that got the same PID is not taken for the holder.
    pub started: Option<u64>,
}

impl Holder {
    pub fn this_process() -> Self {
        let pid = std::process::id();
        Self {
            machine: machine(),
            pid,
            started: process_start(pid),
        }
    }

    /// Whether the holder is known not to run any more: it ran on this machine and its
    /// process is gone, a zombie, or another process. Elsewhere only expiry tells.
    pub fn is_known_dead(&self) -> bool {
        if self.machine.is_none() || self.machine != machine() {
            return false;
        }
        match (process_start(self.pid), self.started) {
            (Some(now), Some(then)) => now != then || is_zombie(self.pid),
            (None, _) => true,
            (Some(_), None) => false,
        }
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn machine() -> Option<String> {
    let host = read_trimmed("/proc/sys/kernel/hostname")?;
    let boot = read_trimmed("/proc/sys/kernel/random/boot_id")?;
    let pid_namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{host}/{boot}/{}", pid_namespace.display()))
}

/// The fields of `/proc/<pid>/stat` after the command name (which may hold spaces).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Field 22, `starttime`; the fields after the name start at field 3.
fn process_start(pid: u32) -> Option<u64> {
    stat_fields(pid)?.get(22 - 3)?.parse().ok()
}

fn is_zombie(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|f| matches!(f.first().map(String::as_str), Some("Z" | "X")))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A lease this process holds.
#[derive(Debug)]
pub struct Lease {
    key: String,
    record: LeaseRecord,
    ttl: Duration,
    /// When this process wrote the record now in the store, by its clock.
    written: Written,
}

/// A lease object found in the store.
struct Found {
    generation: u64,
    key: String,
    /// When the store stored it, by the bucket's clock.
    stamped: DateTime<Utc>,
}

impl Lease {
    /// Takes the lease of `site` for `run_id`, waiting up to `settings.wait` (and no
    /// later than its deadline) for another holder to finish; then fails with
    /// `PublicationInProgressError` naming the holder.
    pub async fn acquire(
        site: &Site<'_>,
        run_id: &str,
        settings: &PublishSettings,
    ) -> Result<Self> {
        warn_if_short(settings.lease_ttl);
        let started = tokio::time::Instant::now();
        let (wait, at_deadline) = match settings.time_left() {
            Some(left) if left < settings.wait => (left, true),
            _ => (settings.wait, false),
        };
        let mut poll = Duration::from_millis(20);
        loop {
            let leases = list(site).await?;
            let top = match leases.last() {
                None => None,
                Some(top) => Some((top, read(site, &top.key).await?)),
            };
            let generation = match top {
                None => 1,
                Some((top, Some(stale))) if !is_live(&stale) => {
                    warn!(
                        prefix = %site.prefix, holder = %stale.run_id,
                        "taking over a lease whose holder is gone or expired"
                    );
                    top.generation + 1
                }
                // A live holder, or one that let go between the listing and the read.
                Some((_, holder)) => {
                    let waited = started.elapsed();
                    if waited >= wait {
                        return Err(Error::PublicationInProgress {
                            prefix: site.prefix.clone(),
                            run_id: holder.map_or_else(|| "unknown".into(), |h| h.run_id),
                            waited_ms: waited.as_millis() as u64,
                            at_deadline,
                        });
                    }
                    debug!(prefix = %site.prefix, "waiting for the lease");
                    tokio::time::sleep(poll.min(wait - waited)).await;
                    poll = (poll * 2).min(MAX_POLL);
                    continue;
                }
            };
            let record = LeaseRecord {
                run_id: run_id.to_string(),
                holder: Holder::this_process(),
                expires_at_ms: now_ms() + settings.lease_ttl.as_millis() as u64,
            };
            let key = format!("{}{generation:010}.json", site.leases());
            let sent_ms = now_ms();
            let won = match site.create(&key, to_json(&record)).await {
                Ok(()) => true,
                // Someone else won this generation (the next look finds it and waits), or
                // this create landed and its answer was lost.
                Err(object_store::Error::AlreadyExists { .. }) => {
                    read(site, &key).await?.as_ref() == Some(&record)
                }
                Err(e) => return Err(e.into()),
            };
            if won {
                // Also when a lost answer was read back: the create landed after it was sent.
                let written = Written {
                    sent_ms,
                    answered_ms: now_ms(),
                };
                // The generations below are stale now; they go with the next release if
                // this delete fails.
                let older = leases.into_iter().map(|l| l.key);
                if let Err(e) = site.delete_all(older).await {
                    warn!(prefix = %site.prefix, "could not delete stale leases: {e}");
                }
                return Ok(Self {
                    key,
                    record,
                    ttl: settings.lease_ttl,
                    written,
                });
            }
        }
    }

    /// Whether the lease in force is this one: the highest generation, holding this run's
    /// and this holder's record. Until it expires by this holder's clock nobody can have
    /// taken it over (this holder runs), so the key is still its own object and the record
    /// is not read; once expired, the generation may have been taken over, every lease
    /// released, and the key used again by a later publisher.
    async fn is_held(&self, site: &Site<'_>, leases: &[Found]) -> Result<bool> {
        if leases.last().map(|l| l.key.as_str()) != Some(self.key.as_str()) {
            return Ok(false);
        }
        if now_ms() < self.record.expires_at_ms {
            return Ok(true);
        }
        Ok(read(site, &self.key).await?.is_some_and(|found| {
            found.run_id == self.record.run_id && found.holder == self.record.holder
        }))
    }

    pub fn run_id(&self) -> &str {
        &self.record.run_id
    }

    /// Whether half the lease's time is gone: a write must not start on what is left
    /// (a call may take half the lease), so the lease is checked and renewed first.
    pub fn needs_renewal(&self) -> bool {
        let left = self.record.expires_at_ms.saturating_sub(now_ms());
        u128::from(left) < self.ttl.as_millis() / 2
    }

    /// Checks that this lease is still the one in force, and renews it once half its time
    /// is gone. Called before every step that changes documents, and by the site before a
    /// write that would start on less than half the lease.
    pub async fn check(&mut self, site: &Site<'_>) -> Result<()> {
        let leases = list(site).await?;
        if !self.is_held(site, &leases).await? {
            return Err(Error::LeaseLost {
                prefix: site.prefix.clone(),
                run_id: self.record.run_id.clone(),
            });
        }
        if let Some(own) = leases.last() {
            clock::observe(&site.prefix, self.written, own.stamped);
        }
        if self.needs_renewal() {
            // Counted from before the put: the record may land as soon as it is sent. Kept
            // only once it has landed, so that a failed renewal is tried again.
            let sent_ms = now_ms();
            let renewed = LeaseRecord {
                expires_at_ms: sent_ms + self.ttl.as_millis() as u64,
                ..self.record.clone()
            };
            site.put_now(&self.key, to_json(&renewed)).await?;
            self.written = Written {
                sent_ms,
                answered_ms: now_ms(),
            };
            self.record = renewed;
            crate::metrics::lease_renewed();
        }
        Ok(())
    }

    /// Gives the lease up (with any stale generation below it). A lease lost to another
    /// publisher is left alone: its key may be the other's lease now.
    pub async fn release(self, site: &Site<'_>) -> Result<()> {
        let leases = list(site).await?;
        if !self.is_held(site, &leases).await? {
            return Ok(());
        }
        let mut keys: Vec<String> = leases
            .into_iter()
            .map(|l| l.key)
            .take_while(|k| *k != self.key)
            .collect();
        keys.push(self.key);
        Ok(site.delete_all(keys).await?)
    }
}

fn to_json(record: &LeaseRecord) -> Vec<u8> {
    serde_json::to_vec(record).expect("a lease record serializes")
}

fn is_live(record: &LeaseRecord) -> bool {
    record.expires_at_ms > now_ms() && !record.holder.is_known_dead()
}

/// The lease objects of `site`, lowest generation first.
async fn list(site: &Site<'_>) -> Result<Vec<Found>> {
    let mut found: Vec<Found> = site
        .list(&site.leases())
        .await?
        .into_iter()
        .filter_map(|(key, meta)| {
            let name = key.rsplit('/').next()?;
            // `<generation>.json`, or `<generation>-<run>.json` as earlier versions wrote it.
            let generation = name.split(['-', '.']).next()?.parse().ok()?;
            Some(Found {
                generation,
                key,
                stamped: meta.last_modified,
            })
        })
        .collect();
    found.sort_by(|a, b| (a.generation, &a.key).cmp(&(b.generation, &b.key)));
    Ok(found)
}

/// A lease object's record; one that cannot be read as a record is stale (it expired at
/// the epoch), so it can be taken over.
async fn read(site: &Site<'_>, key: &str) -> Result<Option<LeaseRecord>> {
    let Some(bytes) = site.read(key).await? else {
        return Ok(None);
    };
    Ok(Some(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        warn!(key, "unreadable lease record: {e}");
        LeaseRecord {
            run_id: "unknown".into(),
            holder: Holder {
                machine: None,
                pid: 0,
                started: None,
            },
            expires_at_ms: 0,
        }
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_outlasts_two_of_the_longest_calls() {
        let call = Duration::from_secs(30);
        outlasts_calls(Duration::from_secs(60), call).unwrap();
        let e = outlasts_calls(Duration::from_secs(59), call).unwrap_err();
        assert!(e.starts_with("a lease of 59 s is shorter than"), "{e}");
        assert!(e.contains("(30 s)"), "{e}");
        outlasts_calls(Duration::from_millis(150), Duration::ZERO).unwrap();
    }

    #[test]
    fn this_process_is_alive_and_a_finished_one_is_dead() {
        let me = Holder::this_process();
        assert!(me.machine.is_some() && me.started.is_some(), "{me:?}");
        assert!(!me.is_known_dead());

        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let started = process_start(pid);
        child.wait().unwrap();
        let gone = Holder {
            pid,
            started,
            ..Holder::this_process()
        };
        assert!(gone.is_known_dead());

        // Another process with the holder's PID (as after PID reuse) is not the holder.
        let reused = Holder {
            started: me.started.map(|s| s + 1),
            ..me.clone()
        };
        assert!(reused.is_known_dead());
        // A holder on another machine is never judged from here.
        let elsewhere = Holder {
            machine: Some("elsewhere".into()),
            ..gone
        };
        assert!(!elsewhere.is_known_dead());
    }
}
