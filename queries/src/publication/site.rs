//! Where one output's publication happens: the output prefix in its store, the names of
//! the bookkeeping objects beside the documents, and the store calls the protocol makes.
//!
//! ```text
//! <prefix>00.json … 15.json                      the documents (the website looks them up by key)
//! <prefix>_manifest.json                         the completion record of the last publication
//! <prefix>_publication/lease/<generation>.json  who publishes now (one publisher at a time)
//! <prefix>_publication/journal.json              a publication that has started changing documents
//! <prefix>_publication/runs/<run>/staged/<doc>   the new documents before they move into place
//! <prefix>_publication/runs/<run>/backup/<doc>   the previous documents (and manifest) it replaces
//! ```
//!
//! Every bookkeeping name starts with `_`, so the website's lookups of `<district>.json`
//! never meet one.
//!
//! A call that does not answer may still land later (docs/publication.md, "One
//! publication, step by step"), so once a site has met one it makes no write at all:
//! whatever step the publisher or `recover` is in, nothing it would write can be
//! overtaken, and the caller leaves the lease to expire instead of releasing it
//! ([`Site::met_unanswered`]).
//!
//! Once the publisher holds the prefix's lease ([`Site::hold`]), no write starts unless
//! half the lease is left: below that, the lease is checked and renewed first (or the
//! write is refused with `LeaseLostError` when another publisher has it). A store call
//! ends within half the lease (docs/publication.md, "Settings"), so a write that starts
//! lands while the lease still holds, however long the step it belongs to takes.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt, stream};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::lease::Lease;
use crate::bucket::Bucket;
use crate::error::{PUBLICATION_STORE, Unanswered};
use crate::local_calls;

/// The completion record's name, beside the documents.
pub const MANIFEST: &str = "_manifest.json";
/// The folder of everything else the protocol keeps while it works.
pub const BOOKKEEPING: &str = "_publication/";

/// Where a bucket key's bookkeeping folder starts (the length of its output prefix), when
/// the key lies in one.
pub fn bookkeeping_start(key: &str) -> Option<usize> {
    key.find(&format!("/{BOOKKEEPING}"))
        .map(|i| i + 1)
        .or_else(|| key.starts_with(BOOKKEEPING).then_some(0))
}

/// How many objects are written, copied, moved or deleted at once. On S3 each request is a
/// round trip of tens of milliseconds, so one at a time would keep a 16-document output
/// waiting on dozens of them; on a local folder the requests overlap on tokio's blocking pool.
pub const CONCURRENT_REQUESTS: usize = 16;

/// One output prefix in its store.
pub struct Site<'a> {
    pub store: &'a dyn ObjectStore,
    pub bucket: &'a Bucket,
    /// The output prefix, ending in `/`.
    pub prefix: String,
    /// What the first call that did not answer said; from then on nothing is written.
    unanswered: OnceLock<String>,
    /// The lease the writes are made under, once taken; a write waits here while the
    /// lease is renewed.
    lease: tokio::sync::Mutex<Option<Lease>>,
}

impl<'a> Site<'a> {
    pub fn new(store: &'a dyn ObjectStore, bucket: &'a Bucket, prefix: &str) -> Self {
        let prefix = format!("{}/", prefix.trim_end_matches('/'));
        Self {
            store,
            bucket,
            prefix,
            unanswered: OnceLock::new(),
            lease: tokio::sync::Mutex::new(None),
        }
    }

    /// Makes every later write wait for `lease` to be in force: see the module doc.
    pub async fn hold(&self, lease: Lease) {
        *self.lease.lock().await = Some(lease);
    }

    /// Gives back the lease [`Site::hold`] took, to release it; writes are no longer fenced.
    pub async fn let_go(&self) -> Option<Lease> {
        self.lease.lock().await.take()
    }

    /// Checks that the held lease is still in force and renews it when half its time is
    /// gone ([`Lease::check`]); nothing to check before the lease is held.
    pub async fn check_lease(&self) -> crate::error::Result<()> {
        match self.lease.lock().await.as_mut() {
            Some(lease) => lease.check(self).await,
            None => Ok(()),
        }
    }

    /// Whether a call did not answer: it may still land, so the caller must not release
    /// the lease (the next publisher would start while it can land).
    pub fn met_unanswered(&self) -> bool {
        self.unanswered.get().is_some()
    }

    /// Notes a call that did not answer.
    fn watch<T, E: std::error::Error + 'static>(&self, outcome: Result<T, E>) -> Result<T, E> {
        if let Err(e) = &outcome
            && Unanswered::caused(e)
        {
            let _first = self.unanswered.set(e.to_string());
        }
        outcome
    }

    /// A write may start only while every call so far answered, and while the lease held
    /// (if any) has half its time left, renewed first if need be.
    async fn may_write(&self, operation: &'static str, key: &str) -> object_store::Result<()> {
        self.all_answered(operation, key)?;
        let mut held = self.lease.lock().await;
        match held.as_mut() {
            Some(lease) if lease.needs_renewal() => {
                lease
                    .check(self)
                    .await
                    .map_err(|e| object_store::Error::Generic {
                        store: PUBLICATION_STORE,
                        source: Box::new(e),
                    })
            }
            _ => Ok(()),
        }
    }

    /// Whether every call so far answered: the lease's own writes need no more.
    fn all_answered(&self, operation: &'static str, key: &str) -> object_store::Result<()> {
        match self.unanswered.get() {
            None => Ok(()),
            Some(earlier) => Err(object_store::Error::Generic {
                store: PUBLICATION_STORE,
                source: Box::new(Withheld {
                    operation,
                    key: key.to_string(),
                    earlier: earlier.clone(),
                }),
            }),
        }
    }

    pub fn document(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub fn manifest(&self) -> String {
        self.document(MANIFEST)
    }

    pub fn bookkeeping(&self) -> String {
        self.document(BOOKKEEPING)
    }

    pub fn journal(&self) -> String {
        format!("{}journal.json", self.bookkeeping())
    }

    pub fn leases(&self) -> String {
        format!("{}lease/", self.bookkeeping())
    }

    pub fn run_folder(&self, run_id: &str) -> String {
        format!("{}runs/{run_id}/", self.bookkeeping())
    }

    pub fn staged(&self, run_id: &str, name: &str) -> String {
        format!("{}staged/{name}", self.run_folder(run_id))
    }

    pub fn backups(&self, run_id: &str) -> String {
        format!("{}backup/", self.run_folder(run_id))
    }

    pub fn backup(&self, run_id: &str, name: &str) -> String {
        format!("{}{name}", self.backups(run_id))
    }

    fn path(&self, key: &str) -> Path {
        self.bucket.path(key)
    }

    pub async fn put(&self, key: &str, body: impl Into<Bytes>) -> object_store::Result<()> {
        self.may_write("put", key).await?;
        self.put_now(key, body).await
    }

    /// A put that does not wait for the lease: the lease's own renewal, made while
    /// [`Site::may_write`] holds it.
    pub(super) async fn put_now(
        &self,
        key: &str,
        body: impl Into<Bytes>,
    ) -> object_store::Result<()> {
        self.all_answered("put", key)?;
        let payload = PutPayload::from(body.into());
        self.watch(self.store.put(&self.path(key), payload).await.map(drop))
    }

    /// Writes `key` only if nothing is there (S3's `If-None-Match: *`, a hard link on a
    /// local folder): `AlreadyExists` tells the caller someone else was first.
    pub async fn create(&self, key: &str, body: impl Into<Bytes>) -> object_store::Result<()> {
        self.may_write("create", key).await?;
        let options = PutOptions::from(PutMode::Create);
        let payload = PutPayload::from(body.into());
        self.watch(
            self.store
                .put_opts(&self.path(key), payload, options)
                .await
                .map(drop),
        )
    }

    /// The bytes of `key`, or `None` when there is no such object.
    pub async fn read(&self, key: &str) -> object_store::Result<Option<Bytes>> {
        let read = match self.store.get(&self.path(key)).await {
            Ok(got) => got.bytes().await.map(Some),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        };
        self.watch(read)
    }

    /// Every object under `folder` (a key ending in `/`), recursively, by key.
    pub async fn list(&self, folder: &str) -> object_store::Result<Vec<(String, ObjectMeta)>> {
        let listed = self
            .store
            .list(Some(&self.path(folder)))
            .try_collect()
            .await;
        let listed: Vec<ObjectMeta> = match self.watch(listed) {
            Ok(listed) => listed,
            Err(object_store::Error::NotFound { .. }) => vec![],
            Err(e) => return Err(e),
        };
        Ok(listed
            .into_iter()
            .map(|meta| (self.bucket.key(&meta.location), meta))
            .collect())
    }

    /// The names of the documents directly under the prefix: `.json` objects whose name does
    /// not start with `_`. Anything else there is not ours and is left alone.
    pub async fn documents(&self) -> object_store::Result<Vec<String>> {
        let entries = self.entries(&self.prefix).await?;
        Ok(entries
            .into_keys()
            .filter(|name| is_document(name))
            .collect())
    }

    /// The objects directly in `folder` (a key ending in `/`), by name, with their entity
    /// tags: equal tags mean equal bytes (S3: the content's digest, which a copy keeps; a
    /// local folder: the inode, which a hard link shares).
    pub async fn entries(
        &self,
        folder: &str,
    ) -> object_store::Result<BTreeMap<String, Option<String>>> {
        let folder = self.path(folder);
        let listed = self.store.list_with_delimiter(Some(&folder)).await;
        let listed = match self.watch(listed) {
            Ok(listed) => listed.objects,
            Err(object_store::Error::NotFound { .. }) => vec![],
            Err(e) => return Err(e),
        };
        // Only what lies directly in the folder, whatever the store's listing returned.
        Ok(listed
            .into_iter()
            .filter_map(|meta| {
                let mut parts = meta.location.prefix_match(&folder)?;
                let name = parts.next()?.as_ref().to_string();
                parts.next().is_none().then_some((name, meta.e_tag))
            })
            .collect())
    }

    /// Runs `requests`, [`CONCURRENT_REQUESTS`] at a time, and waits for every one of them
    /// (a request dropped half-way may still complete on the blocking pool after a later
    /// step has run); the first error, if any, or the first of a call that did not answer
    /// (the others may be writes it withheld).
    pub async fn each(&self, requests: Vec<Request<'_>>) -> object_store::Result<()> {
        let outcomes: Vec<_> = stream::iter(requests)
            .buffered(CONCURRENT_REQUESTS)
            .collect()
            .await;
        let mut errors: Vec<object_store::Error> =
            outcomes.into_iter().filter_map(Result::err).collect();
        match errors.iter().position(|e| Unanswered::caused(e)) {
            Some(unanswered) => Err(errors.swap_remove(unanswered)),
            None if errors.is_empty() => Ok(()),
            None => Err(errors.swap_remove(0)),
        }
    }

    pub fn put_request(&self, key: String, body: Bytes) -> Request<'_> {
        async move { self.put(&key, body).await }.boxed()
    }

    pub fn copy_request(&self, from: String, to: String) -> Request<'_> {
        async move {
            self.may_write("copy", &to).await?;
            self.watch(self.store.copy(&self.path(&from), &self.path(&to)).await)
        }
        .boxed()
    }

    /// A move: a rename on a file system, a copy and a delete on S3.
    pub fn move_request(&self, from: String, to: String) -> Request<'_> {
        async move {
            self.may_write("move", &to).await?;
            self.watch(self.store.rename(&self.path(&from), &self.path(&to)).await)
        }
        .boxed()
    }

    /// A delete that also succeeds when the object is already gone.
    pub fn delete_request(&self, key: String) -> Request<'_> {
        async move {
            self.may_write("delete", &key).await?;
            match self.watch(self.store.delete(&self.path(&key)).await) {
                Err(object_store::Error::NotFound { .. }) => Ok(()),
                other => other,
            }
        }
        .boxed()
    }

    pub async fn delete_all(
        &self,
        keys: impl IntoIterator<Item = String>,
    ) -> object_store::Result<()> {
        let requests = keys.into_iter().map(|k| self.delete_request(k)).collect();
        self.each(requests).await
    }

    /// On a local folder, deletes the temporary files (`<name>#<n>`) that a put or copy
    /// killed half-way leaves beside the documents and in the bookkeeping (the store lists
    /// none of them); returns their names. In the lease folder another publisher's
    /// conditional put may be under way, so only temporaries older than
    /// [`ABANDONED_LEASE_WRITE`] go there. Only called by the lease's holder; bounded as
    /// the store's calls are ([`local_calls`]).
    pub async fn remove_local_temporaries(&self) -> crate::error::Result<Vec<String>> {
        let Some(folder) = self.bucket.local_folder(&self.prefix) else {
            return Ok(vec![]);
        };
        self.may_write("sweep", &self.prefix).await?;
        let swept =
            local_calls::bounded("sweep of temporaries", &folder.clone(), true, move || {
                sweep_temporaries(folder)
            });
        self.watch(swept.await)
    }

    /// A local folder keeps the folders that the bookkeeping's objects lived in; remove the
    /// ones that are empty now (stores have no folders, so there is nothing to do there).
    pub async fn remove_empty_folders(&self) {
        if let Some(folder) = self.bucket.local_folder(&self.bookkeeping()) {
            let removal = local_calls::bounded(
                "removal of empty folders",
                &folder.clone(),
                true,
                move || remove_empty_below(&folder, FOLDER_DEPTH),
            );
            if let Err(e) = removal.await {
                tracing::warn!(prefix = %self.prefix, "{e}");
            }
        }
    }
}

/// [`Site::remove_local_temporaries`] in `folder`, the output prefix's.
fn sweep_temporaries(folder: std::path::PathBuf) -> Vec<String> {
    let mut removed = vec![];
    let mut folders = vec![(folder, 0, Place::Prefix)];
    while let Some((folder, depth, place)) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                // Below the prefix, only the bookkeeping is ours.
                let inner = match place {
                    Place::Prefix if format!("{name}/") == BOOKKEEPING => Place::Bookkeeping,
                    Place::Prefix => continue,
                    Place::Bookkeeping if depth == 1 && name == "lease" => Place::Leases,
                    other => other,
                };
                if depth < FOLDER_DEPTH {
                    folders.push((path, depth + 1, inner));
                }
            } else if is_temporary(&name)
                && (place != Place::Leases || is_abandoned(&entry))
                && std::fs::remove_file(&path).is_ok()
            {
                removed.push(path.display().to_string());
            }
        }
    }
    removed
}

/// A write not made because an earlier call of the same publication did not answer.
#[derive(Debug, thiserror::Error)]
#[error(
    "{operation} of '{key}' not made: an earlier call did not answer and may still land ({earlier})"
)]
pub struct Withheld {
    operation: &'static str,
    key: String,
    earlier: String,
}

/// Whether an object directly under the prefix is one of the website's documents.
pub fn is_document(name: &str) -> bool {
    name.ends_with(".json") && !name.starts_with('_')
}

/// object_store's local folder writes `<name>#<n>` and renames it into place; such a name
/// is never listed as an object.
fn is_temporary(name: &str) -> bool {
    name.rsplit_once('#')
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A lease is a few hundred bytes written in one call: a temporary of the lease folder
/// this old was left by a process killed inside the write, not by one still writing.
pub const ABANDONED_LEASE_WRITE: Duration = Duration::from_secs(60);

/// Where below the prefix a folder is, for what may be deleted in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Prefix,
    Bookkeeping,
    Leases,
}

fn is_abandoned(entry: &std::fs::DirEntry) -> bool {
    entry
        .metadata()
        .and_then(|m| m.modified())
        .is_ok_and(|at| at.elapsed().is_ok_and(|age| age >= ABANDONED_LEASE_WRITE))
}

pub type Request<'a> = BoxFuture<'a, object_store::Result<()>>;

/// How deep the bookkeeping's folders go (`runs/<run>/staged/`), with room to spare.
const FOLDER_DEPTH: usize = 6;

/// Removes `folder` and the folders below it, `depth` levels deep, that hold no file;
/// another process's file keeps its folder (a non-empty folder is never removed).
fn remove_empty_below(folder: &std::path::Path, depth: usize) {
    if depth > 0
        && let Ok(entries) = std::fs::read_dir(folder)
    {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_below(&entry.path(), depth - 1);
            }
        }
    }
    let _ = std::fs::remove_dir(folder);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_are_named_by_digits() {
        assert!(is_temporary("00.json#12"));
        assert!(!is_temporary("00.json#x1"));
        assert!(!is_temporary("00.json"));
        assert!(!is_temporary("a#"));
    }
}
