//! Publishing an output's documents on a store that has no multi-object transactions (S3,
//! a local folder), so that a reader never loses the previous set to a failure and a crash
//! never leaves a mixed set behind once the next publisher or `bydelsfakta recover` has run.
//! The protocol is the one in `docs/publication.md`, with its step numbers; in short, under
//! a lease:
//!
//! 1. recover an interrupted publication (its journal) and sweep leftovers;
//! 2. stop if the manifest already names this run with these very documents (a task that
//!    ran twice): nothing is written;
//! 3. stage the new documents under `_publication/runs/<run>/staged/`;
//! 4. back up every document there now (and the manifest) under `…/backup/`;
//! 5. write the journal: from here on documents change;
//! 6. delete the manifest, move the staged documents into place, delete the documents the
//!    new set no longer has;
//! 7. write the new manifest: the publication is complete (the commit point);
//! 8. delete the journal and the run's folder, release the lease.
//!
//! An error in steps 3 to 7 rolls back: the backups are copied back byte for byte, the new
//! documents that had no predecessor are deleted, the previous manifest is restored. A
//! crash is recovered the same way from the journal, unless the manifest of the journal's
//! run is already there, which completes it (only the clean-up was missing).

pub mod clock;
pub mod lease;
pub mod records;
pub mod site;

use std::collections::HashSet;

use bytes::Bytes;
use tracing::{info, warn};

use crate::bucket::Bucket;
use crate::document::Document;
use crate::error::{Error, Result};
use lease::Lease;
use records::{DocumentEntry, Journal, Manifest, PublishSettings, RunRecord, now_rfc3339};
use site::{MANIFEST, Site};

use object_store::ObjectStore;

/// One publication: which output, by which run, and the settings of its lease.
#[derive(Debug, Clone)]
pub struct Publication<'a> {
    pub bucket: &'a Bucket,
    pub prefix: &'a str,
    pub output_dataset: &'a str,
    pub published_date: &'a str,
    pub run: &'a RunRecord,
    pub settings: PublishSettings,
}

/// What a publication did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub documents: usize,
    pub bytes: u64,
    /// The same run had already published this set (a task that ran twice): nothing was
    /// written this time.
    pub already_published: bool,
}

/// Publishes `documents` as the complete set of the output prefix; see the module doc.
pub async fn publish(
    store: &dyn ObjectStore,
    publication: &Publication<'_>,
    documents: Vec<Document>,
) -> Result<Published> {
    let site = Site::new(store, publication.bucket, publication.prefix);
    let run_id = publication.run.run_id.as_str();
    refuse_past_deadline(&site, publication, "before it took the lease")?;
    let result = match Lease::acquire(&site, run_id, &publication.settings).await {
        Ok(lease) => {
            site.hold(lease).await;
            let result = publish_under_lease(&site, publication, documents).await;
            release_unless_unanswered(&site).await;
            result
        }
        Err(e) => Err(e),
    };
    // A failure that changed nothing still names the output it failed.
    result.map_err(|e| match e {
        e @ (Error::Write { .. }
        | Error::RecoveryNeeded { .. }
        | Error::Recovery { .. }
        | Error::PublicationInProgress { .. }
        | Error::PastDeadline { .. }
        | Error::LeaseLost { .. }) => e,
        other => Error::Write {
            dataset: publication.output_dataset.into(),
            prefix: site.prefix.clone(),
            source: Box::new(other),
        },
    })
}

/// `PastDeadline` at `step` once the publication's deadline has passed.
fn refuse_past_deadline(
    site: &Site<'_>,
    publication: &Publication<'_>,
    step: &'static str,
) -> Result<()> {
    match publication.settings.past_deadline() {
        true => Err(Error::PastDeadline {
            prefix: site.prefix.clone(),
            run_id: publication.run.run_id.clone(),
            step,
        }),
        false => Ok(()),
    }
}

/// What recovery found and did at one output prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// No interrupted publication and no leftovers.
    Clean,
    /// Objects of publications that never started changing documents were deleted.
    Swept { objects: usize },
    /// An interrupted publication was undone: the previous documents are back.
    RolledBack { run_id: String },
    /// An interrupted publication had written its manifest: only its clean-up was missing.
    Completed { run_id: String },
}

impl std::fmt::Display for Recovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recovered::Clean => write!(f, "nothing to recover"),
            Recovered::Swept { objects } => {
                write!(f, "deleted {objects} leftover object(s) of unfinished runs")
            }
            Recovered::RolledBack { run_id } => write!(
                f,
                "rolled back the interrupted publication of run {run_id}: the previous documents are restored"
            ),
            Recovered::Completed { run_id } => write!(
                f,
                "completed the interrupted publication of run {run_id}: its manifest was written"
            ),
        }
    }
}

/// Recovers the output prefix `prefix` of `bucket` under a lease of its own.
pub async fn recover(
    store: &dyn ObjectStore,
    bucket: &Bucket,
    prefix: &str,
    settings: &PublishSettings,
) -> Result<Recovered> {
    let site = Site::new(store, bucket, prefix);
    let run_id = format!("recover-{}", uuid::Uuid::now_v7());
    site.hold(Lease::acquire(&site, &run_id, settings).await?)
        .await;
    let result = recover_under_lease(&site).await;
    release_unless_unanswered(&site).await;
    result
}

/// The output prefixes under `under` (a bucket key prefix; empty for the whole bucket) that
/// hold a publication's bookkeeping: an interrupted one, or one that runs now.
pub async fn find_bookkeeping(
    store: &dyn ObjectStore,
    bucket: &Bucket,
    under: &str,
) -> Result<Vec<String>> {
    let site = Site::new(store, bucket, under);
    let folder = if under.trim_matches('/').is_empty() {
        String::new()
    } else {
        site.prefix.clone()
    };
    let mut prefixes: Vec<String> = site
        .list(&folder)
        .await?
        .into_iter()
        .filter_map(|(key, _)| {
            let at = site::bookkeeping_start(&key)?;
            Some(key[..at].to_string())
        })
        .collect();
    prefixes.sort();
    prefixes.dedup();
    Ok(prefixes)
}

/// Releases the lease, unless a call did not answer: releasing would let the next
/// publisher in while that call may still land (after the next publisher's writes).
async fn release_unless_unanswered(site: &Site<'_>) {
    let Some(lease) = site.let_go().await else {
        return;
    };
    if site.met_unanswered() {
        warn!(
            prefix = %site.prefix,
            run = %lease.run_id(),
            "left the lease to expire: a store call did not answer and may still land"
        );
        return;
    }
    let run_id = lease.run_id().to_string();
    if let Err(e) = lease.release(site).await {
        // It expires; the next publisher takes it over.
        warn!(prefix = %site.prefix, run = %run_id, "could not release the lease: {e}");
    }
    site.remove_empty_folders().await;
}

async fn publish_under_lease(
    site: &Site<'_>,
    publication: &Publication<'_>,
    documents: Vec<Document>,
) -> Result<Published> {
    let recovered = recover_under_lease(site).await?;
    if recovered != Recovered::Clean {
        info!(prefix = %site.prefix, "before publishing: {recovered}");
    }
    let entries: Vec<DocumentEntry> = documents.iter().map(DocumentEntry::of).collect();
    let previous_manifest = read_manifest(site).await?;
    if let Some(Some(manifest)) = &previous_manifest
        && manifest.run_id == publication.run.run_id
        && manifest.documents == entries
    {
        return Ok(Published {
            documents: entries.len(),
            bytes: manifest.bytes(),
            already_published: true,
        });
    }
    let mut progress = Progress::Nothing;
    let outcome = change_documents(
        site,
        publication,
        documents,
        &entries,
        previous_manifest.is_some(),
        &mut progress,
    )
    .await;
    let run_id = publication.run.run_id.as_str();
    match outcome {
        Ok(()) => {
            if let Err(e) = clean_up(site, run_id).await {
                // The set is complete; the next publisher or `recover` sweeps the rest.
                warn!(prefix = %site.prefix, "published, but the clean-up failed: {e}");
            }
            let bytes = entries.iter().map(|e| e.size).sum();
            crate::metrics::published(entries.len(), bytes);
            Ok(Published {
                documents: entries.len(),
                bytes,
                already_published: false,
            })
        }
        // The new holder of the lease recovers from this run's journal, if it wrote one;
        // touching the documents now could undo its work. Only the run's own staged
        // documents and backups can go, and only while no journal of this run needs them.
        Err(lost @ Error::LeaseLost { .. }) => {
            if let Progress::Nothing = progress
                && let Err(e) = delete_run_folder(site, run_id).await
            {
                warn!(prefix = %site.prefix, "lost the lease; left this run's folder: {e}");
            }
            Err(lost)
        }
        // The call may still land, and overtake whatever this run wrote after it: a
        // rollback could be undone by a late move, a clean-up by a late stage. So nothing
        // more is written; the next holder of the lease recovers from the journal.
        Err(cause) if site.met_unanswered() => Err(match progress {
            Progress::Journaled(_) => Error::RecoveryNeeded {
                dataset: publication.output_dataset.into(),
                prefix: site.prefix.clone(),
                source: Box::new(cause),
                rollback:
                    "a store call did not answer and may still land, so nothing more was written"
                        .into(),
            },
            Progress::Nothing => Error::Write {
                dataset: publication.output_dataset.into(),
                prefix: site.prefix.clone(),
                source: Box::new(cause),
            },
        }),
        // Refused before any document changed: only the run's own folder goes, and the
        // refusal is the error, as it was before the lease.
        Err(refused @ Error::PastDeadline { .. }) if !site.met_unanswered() => {
            if let Err(e) = clean_up(site, run_id).await {
                warn!(prefix = %site.prefix, "refused at the deadline, but the clean-up failed: {e}");
            }
            Err(refused)
        }
        Err(cause) => {
            let undone = match progress {
                Progress::Journaled(journal) => roll_back(site, &journal).await,
                Progress::Nothing => Ok(()),
            };
            let undone = match undone {
                Ok(()) => clean_up(site, run_id).await.or_else(|e| {
                    // Only leftovers in the bookkeeping: the documents are as they were.
                    warn!(prefix = %site.prefix, "rolled back, but the clean-up failed: {e}");
                    Ok(())
                }),
                Err(e) => Err(e),
            };
            Err(match undone {
                Ok(()) => Error::Write {
                    dataset: publication.output_dataset.into(),
                    prefix: site.prefix.clone(),
                    source: Box::new(cause),
                },
                Err(rollback) => Error::RecoveryNeeded {
                    dataset: publication.output_dataset.into(),
                    prefix: site.prefix.clone(),
                    source: Box::new(cause),
                    rollback: format!("restoring them failed too ({rollback})"),
                },
            })
        }
    }
}

/// How far a publication got, for its rollback.
enum Progress {
    /// No document changed yet: only the run's own folder has to go.
    Nothing,
    /// The journal is written: documents may have changed.
    Journaled(Journal),
}

/// Steps 3 to 7 of the module doc (step 2 is the caller's).
async fn change_documents(
    site: &Site<'_>,
    publication: &Publication<'_>,
    documents: Vec<Document>,
    entries: &[DocumentEntry],
    had_manifest: bool,
    progress: &mut Progress,
) -> Result<()> {
    let run_id = publication.run.run_id.as_str();
    let stage = documents
        .into_iter()
        .map(|d| site.put_request(site.staged(run_id, &d.file_name), Bytes::from(d.body)))
        .collect();
    site.each(stage).await?;

    let previous = site.documents().await?;
    let mut backups: Vec<_> = previous
        .iter()
        .map(|name| site.copy_request(site.document(name), site.backup(run_id, name)))
        .collect();
    if had_manifest {
        backups.push(site.copy_request(site.manifest(), site.backup(run_id, MANIFEST)));
    }
    site.each(backups).await?;

    let journal = Journal {
        format: Journal::FORMAT.into(),
        run_id: run_id.into(),
        output_dataset: publication.output_dataset.into(),
        documents: entries.to_vec(),
        previous: previous.clone(),
        previous_manifest: had_manifest,
    };
    // Past this point documents change, and a publication stopped halfway leaves a mixed
    // set until the next publisher recovers it: one that may not finish is not begun.
    refuse_past_deadline(site, publication, "before it changed a document")?;
    site.check_lease().await?;
    // Taken as written before the call: a put whose answer was lost may have landed, and
    // rolling back a journal whose documents never changed restores them as they are.
    let text = to_json(&journal);
    *progress = Progress::Journaled(journal);
    match site.create(&site.journal(), text.clone()).await {
        Ok(()) => {}
        // This run's own journal when S3 retried a create that had landed (`lease.rs`).
        Err(object_store::Error::AlreadyExists { .. })
            if site.read(&site.journal()).await?.as_deref() == Some(text.as_slice()) => {}
        // Another publisher's journal: this run lost its lease after the check, and the
        // documents are the other's to change.
        Err(object_store::Error::AlreadyExists { .. }) => {
            *progress = Progress::Nothing;
            return Err(Error::LeaseLost {
                prefix: site.prefix.clone(),
                run_id: run_id.into(),
            });
        }
        Err(e) => return Err(e.into()),
    }

    if had_manifest {
        // From here on a reader finds no manifest until the set is complete.
        site.delete_all([site.manifest()]).await?;
    }
    let moves = entries
        .iter()
        .map(|e| site.move_request(site.staged(run_id, &e.name), site.document(&e.name)))
        .collect();
    site.each(moves).await?;
    let new: HashSet<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let removed: Vec<String> = previous
        .into_iter()
        .filter(|name| !new.contains(name.as_str()))
        .collect();
    site.delete_all(removed.iter().map(|name| site.document(name)))
        .await?;

    let run = publication.run;
    let manifest = Manifest {
        format: Manifest::FORMAT.into(),
        run_id: run.run_id.clone(),
        function: run.function.clone(),
        dataset_type: run.dataset_type.clone(),
        output_dataset: publication.output_dataset.into(),
        output_prefix: site.prefix.clone(),
        published_date: publication.published_date.into(),
        writer: concat!("bydelsfakta ", env!("CARGO_PKG_VERSION")).into(),
        engine: run.engine.clone(),
        started_at: run.started_at.clone(),
        published_at: now_rfc3339(),
        inputs: run.inputs.clone(),
        documents: entries.to_vec(),
        removed,
    };
    site.check_lease().await?;
    site.put(&site.manifest(), to_json(&manifest)).await?;
    Ok(())
}

/// Step 1: finishes whatever an earlier holder of the lease left.
async fn recover_under_lease(site: &Site<'_>) -> Result<Recovered> {
    let mut leftovers = bookkeeping_objects(site).await?;
    leftovers.extend(site.remove_local_temporaries().await?);
    if leftovers.is_empty() {
        return Ok(Recovered::Clean);
    }
    let recovered = match site.read(&site.journal()).await? {
        None => Recovered::Swept {
            objects: leftovers.len(),
        },
        Some(bytes) => {
            let journal: Journal = serde_json::from_slice(&bytes).map_err(|e| Error::Recovery {
                prefix: site.prefix.clone(),
                problem: format!("the journal cannot be read ({e}); nothing was changed"),
            })?;
            site.check_lease().await?;
            let manifest = read_manifest(site).await?.flatten();
            if manifest.is_some_and(|m| m.run_id == journal.run_id) {
                Recovered::Completed {
                    run_id: journal.run_id,
                }
            } else {
                roll_back(site, &journal)
                    .await
                    .map_err(|e| Error::Recovery {
                        prefix: site.prefix.clone(),
                        problem: format!(
                            "the interrupted publication of run {} could not be rolled back ({e}); its journal is kept for the next try",
                            journal.run_id
                        ),
                    })?;
                Recovered::RolledBack {
                    run_id: journal.run_id,
                }
            }
        }
    };
    info!(prefix = %site.prefix, "{recovered}");
    site.delete_all([site.journal()]).await?;
    site.delete_all(bookkeeping_objects(site).await?).await?;
    Ok(recovered)
}

/// Puts the previous set back as the journal recorded it. Idempotent: a rollback that
/// fails half-way is run again, from the start, by the next holder of the lease.
async fn roll_back(site: &Site<'_>, journal: &Journal) -> Result<()> {
    let run_id = journal.run_id.as_str();
    let backups = site.entries(&site.backups(run_id)).await?;
    let current = site.entries(&site.prefix).await?;
    let mut previous: Vec<&str> = journal.previous.iter().map(String::as_str).collect();
    if journal.previous_manifest {
        previous.push(MANIFEST);
    }
    let mut restores = vec![];
    for name in &previous {
        let Some(backup) = backups.get(*name) else {
            return Err(Error::Recovery {
                prefix: site.prefix.clone(),
                problem: format!(
                    "the backup of {name} (run {run_id}) is missing; nothing was restored"
                ),
            });
        };
        // A document that is still the one backed up stays (on a local folder, renaming a
        // hard link over its twin would leave the temporary name behind).
        if backup.is_none() || current.get(*name) != Some(backup) {
            restores.push(site.copy_request(site.backup(run_id, name), site.document(name)));
        }
    }
    site.each(restores).await?;
    let added = journal
        .documents
        .iter()
        .map(|e| e.name.as_str())
        .chain(std::iter::once(MANIFEST))
        .filter(|name| !previous.contains(name) && current.contains_key(*name))
        .map(|name| site.document(name));
    site.delete_all(added).await?;
    site.delete_all([site.journal()]).await?;
    crate::metrics::rolled_back();
    Ok(())
}

/// Step 8: the journal first (the publication is then over), then the run's folder; the
/// caller releases the lease.
async fn clean_up(site: &Site<'_>, run_id: &str) -> Result<()> {
    site.delete_all([site.journal()]).await?;
    delete_run_folder(site, run_id).await
}

async fn delete_run_folder(site: &Site<'_>, run_id: &str) -> Result<()> {
    let folder: Vec<String> = site
        .list(&site.run_folder(run_id))
        .await?
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    Ok(site.delete_all(folder).await?)
}

/// Every bookkeeping object except the leases.
async fn bookkeeping_objects(site: &Site<'_>) -> Result<Vec<String>> {
    let leases = site.leases();
    Ok(site
        .list(&site.bookkeeping())
        .await?
        .into_iter()
        .map(|(key, _)| key)
        .filter(|key| !key.starts_with(&leases))
        .collect())
}

/// The manifest beside the documents, if there is one: `Some(None)` when it cannot be
/// read as a manifest (it is backed up and replaced like any other).
async fn read_manifest(site: &Site<'_>) -> Result<Option<Option<Manifest>>> {
    let Some(bytes) = site.read(&site.manifest()).await? else {
        return Ok(None);
    };
    Ok(Some(
        serde_json::from_slice(&bytes)
            .inspect_err(|e| warn!(prefix = %site.prefix, "unreadable manifest: {e}"))
            .ok(),
    ))
}

/// The manifest's text: indented, as people read it.
fn to_json<T: serde::Serialize>(record: &T) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(record).expect("records serialize");
    text.push(b'\n');
    text
}

#[cfg(test)]
mod tests;
