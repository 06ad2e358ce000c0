//! A local folder's calls with a time limit. An S3 call ends within object_store's request
//! and retry timeouts ([`super::settings`]); a file system call has no limit of its own, and
//! a hung mount (NFS, a FUSE-mounted bucket) would hold a run forever. Every call of a
//! [`BoundedStore`] answers within its limit or fails with [`Unanswered`], which names the
//! call and the key.
//!
//! A write that was given up keeps running on a task of its own, as the file system call it
//! makes cannot be stopped, so it may still land; the publication protocol stops writing
//! when it meets one (docs/publication.md). Reads are bounded step by step: an object's
//! bytes are read in chunks on the blocking pool, each within the limit, instead of through
//! the open file object_store hands out (which DataFusion's CSV scan would read on a runtime
//! thread, unbounded); each item of a listing arrives within the limit.

use std::fmt;
use std::future::Future;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
    RenameOptions, UploadPart,
};

use super::faults::Operation;
use bydelsfakta_queries::error::Unanswered;

/// The name errors give the store: it wraps a local folder.
const STORE: &str = "LocalFileSystem";

/// How much of an object one bounded read takes. The CSV scan decodes a chunk as it
/// comes, so chunks in flight are memory the unbounded file read did not need: at 1 MiB a
/// `run-all` at 8x peaked 27 MiB higher, at 256 KiB 15 MiB higher, at 64 KiB as before,
/// each about 5% slower than reading the open file (docs/speed.md).
const CHUNK: u64 = 64 << 10;

/// Deletes of one `delete_stream` under way at once, as object_store's local store does.
const DELETES_AT_ONCE: usize = 10;

#[derive(Debug)]
pub struct BoundedStore {
    inner: Arc<dyn ObjectStore>,
    limit: Duration,
    /// Put in front of a key in errors: `/` for a store rooted there, so that an error
    /// names the file as the operator knows it.
    root: Arc<str>,
}

impl BoundedStore {
    pub fn new(inner: Arc<dyn ObjectStore>, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            root: "".into(),
        }
    }

    /// Errors name keys as files under `root`.
    pub fn keys_under(self, root: &str) -> Self {
        Self {
            root: root.into(),
            ..self
        }
    }

    fn limit(&self) -> Limit {
        Limit {
            time: self.limit,
            root: Arc::clone(&self.root),
        }
    }
}

/// What a call is bounded by, and how its errors name keys; cheap to move into the
/// `'static` futures and streams of a call.
#[derive(Debug, Clone)]
struct Limit {
    time: Duration,
    root: Arc<str>,
}

impl Limit {
    fn unanswered(&self, operation: Operation, key: &Path) -> object_store::Error {
        let may_land = !matches!(
            operation,
            Operation::Get | Operation::Head | Operation::List
        );
        object_store::Error::Generic {
            store: STORE,
            source: Box::new(Unanswered {
                operation: operation.name(),
                key: format!("{}{key}", self.root),
                limit: self.time,
                may_land,
            }),
        }
    }
}

impl fmt::Display for BoundedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

fn failed(source: impl std::error::Error + Send + Sync + 'static) -> object_store::Error {
    object_store::Error::Generic {
        store: STORE,
        source: Box::new(source),
    }
}

/// `call`'s answer within `limit`. The call runs on a task of its own, so that one given
/// up still finishes (or not) as the file system call under it does, and the caller is
/// told that it may.
async fn answer<T: Send + 'static>(
    limit: &Limit,
    operation: Operation,
    key: &Path,
    call: impl Future<Output = object_store::Result<T>> + Send + 'static,
) -> object_store::Result<T> {
    match tokio::time::timeout(limit.time, tokio::spawn(call)).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(panicked)) => Err(failed(panicked)),
        Err(_) => Err(limit.unanswered(operation, key)),
    }
}

/// `stream` with each of its items (and its end) within `limit`; it ends after the first
/// item that does not come.
fn bounded_items<T: Send + 'static>(
    stream: BoxStream<'static, object_store::Result<T>>,
    limit: Limit,
    operation: Operation,
    key: Path,
) -> BoxStream<'static, object_store::Result<T>> {
    futures::stream::unfold(Some(stream), move |stream| {
        let (key, limit) = (key.clone(), limit.clone());
        async move {
            let mut stream = stream?;
            match tokio::time::timeout(limit.time, stream.next()).await {
                Ok(Some(item)) => Some((item, Some(stream))),
                Ok(None) => None,
                Err(_) => Some((Err(limit.unanswered(operation, &key)), None)),
            }
        }
    })
    .boxed()
}

/// The bytes of `range` of an open file, read in chunks on the blocking pool, each within
/// `limit`.
fn file_chunks(
    file: std::fs::File,
    range: Range<u64>,
    limit: Limit,
    key: Path,
) -> BoxStream<'static, object_store::Result<Bytes>> {
    let first = (file, range.start, true);
    futures::stream::try_unfold(first, move |(mut file, at, first)| {
        let (key, limit) = (key.clone(), limit.clone());
        let end = range.end;
        async move {
            if at >= end {
                return Ok(None);
            }
            let length = (end - at).min(CHUNK);
            let read = tokio::task::spawn_blocking(move || {
                if first {
                    file.seek(SeekFrom::Start(at))?;
                }
                let mut chunk = vec![0; length as usize];
                file.read_exact(&mut chunk)?;
                Ok::<_, std::io::Error>((file, Bytes::from(chunk)))
            });
            match tokio::time::timeout(limit.time, read).await {
                Ok(Ok(Ok((file, chunk)))) => Ok(Some((chunk, (file, at + length, false)))),
                Ok(Ok(Err(e))) => Err(failed(ChunkReadFailed { key, source: e })),
                Ok(Err(panicked)) => Err(failed(panicked)),
                Err(_) => Err(limit.unanswered(Operation::Get, &key)),
            }
        }
    })
    .boxed()
}

#[derive(Debug, thiserror::Error)]
#[error("reading '{key}': {source}")]
struct ChunkReadFailed {
    key: Path,
    source: std::io::Error,
}

#[async_trait::async_trait]
impl ObjectStore for BoundedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let operation = Operation::of_put(&opts.mode);
        let (inner, key) = (Arc::clone(&self.inner), location.clone());
        let call = async move { inner.put_opts(&key, payload, opts).await };
        answer(&self.limit(), operation, location, call).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let (inner, key) = (Arc::clone(&self.inner), location.clone());
        let call = async move { inner.put_multipart_opts(&key, opts).await };
        let upload = answer(&self.limit(), Operation::Put, location, call).await?;
        Ok(Box::new(BoundedUpload {
            inner: upload,
            limit: self.limit(),
            key: location.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let operation = Operation::of_get(&options);
        let (inner, key) = (Arc::clone(&self.inner), location.clone());
        let call = async move { inner.get_opts(&key, options).await };
        let mut got = answer(&self.limit(), operation, location, call).await?;
        let key = location.clone();
        got.payload = match got.payload {
            GetResultPayload::File(file, _) => {
                GetResultPayload::Stream(file_chunks(file, got.range.clone(), self.limit(), key))
            }
            GetResultPayload::Stream(stream) => {
                GetResultPayload::Stream(bounded_items(stream, self.limit(), operation, key))
            }
        };
        Ok(got)
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        let (inner, key, ranges) = (Arc::clone(&self.inner), location.clone(), ranges.to_vec());
        let call = async move { inner.get_ranges(&key, &ranges).await };
        answer(&self.limit(), Operation::Get, location, call).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let (inner, limit) = (Arc::clone(&self.inner), self.limit());
        locations
            .map_ok(move |path| {
                let (inner, limit) = (Arc::clone(&inner), limit.clone());
                async move {
                    let key = path.clone();
                    let call = async move { inner.delete(&key).await };
                    answer(&limit, Operation::Delete, &path, call).await?;
                    Ok(path)
                }
            })
            .try_buffered(DELETES_AT_ONCE)
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let key = prefix.cloned().unwrap_or_default();
        bounded_items(self.inner.list(prefix), self.limit(), Operation::List, key)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let key = prefix.cloned().unwrap_or_default();
        let listing = self.inner.list_with_offset(prefix, offset);
        bounded_items(listing, self.limit(), Operation::List, key)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let (inner, prefix) = (Arc::clone(&self.inner), prefix.cloned());
        let key = prefix.clone().unwrap_or_default();
        let call = async move { inner.list_with_delimiter(prefix.as_ref()).await };
        answer(&self.limit(), Operation::List, &key, call).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let (inner, source, target) = (Arc::clone(&self.inner), from.clone(), to.clone());
        let call = async move { inner.copy_opts(&source, &target, options).await };
        answer(&self.limit(), Operation::Copy, to, call).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        let (inner, source, target) = (Arc::clone(&self.inner), from.clone(), to.clone());
        let call = async move { inner.rename_opts(&source, &target, options).await };
        answer(&self.limit(), Operation::Rename, to, call).await
    }
}

/// A multipart upload whose parts, completion and abort each answer within the limit.
#[derive(Debug)]
struct BoundedUpload {
    inner: Box<dyn MultipartUpload>,
    limit: Limit,
    key: Path,
}

#[async_trait::async_trait]
impl MultipartUpload for BoundedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let part = self.inner.put_part(data);
        let (limit, key) = (self.limit.clone(), self.key.clone());
        Box::pin(async move { answer(&limit, Operation::Put, &key, part).await })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        tokio::time::timeout(self.limit.time, self.inner.complete())
            .await
            .unwrap_or_else(|_| Err(self.limit.unanswered(Operation::Put, &self.key)))
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        tokio::time::timeout(self.limit.time, self.inner.abort())
            .await
            .unwrap_or_else(|_| Err(self.limit.unanswered(Operation::Delete, &self.key)))
    }
}

#[cfg(test)]
mod tests {
    use object_store::local::LocalFileSystem;

    use super::*;
    use crate::stores::faults::{Action, Faults, FaultyStore, Rule};

    const LIMIT: Duration = Duration::from_millis(200);
    const HELD: Duration = Duration::from_millis(800);

    /// A local folder whose `nth` call of `operation` is held for [`HELD`], bounded by
    /// [`LIMIT`].
    fn held_at(folder: &tempfile::TempDir, operation: Operation, nth: u64) -> BoundedStore {
        let local = LocalFileSystem::new_with_prefix(folder.path()).unwrap();
        let faults = Faults {
            rules: vec![Rule {
                operation,
                nth,
                action: Action::Delay(HELD),
            }],
            ..Faults::default()
        };
        BoundedStore::new(Arc::new(FaultyStore::new(Arc::new(local), faults)), LIMIT)
    }

    /// `e` is an unanswered `operation` of `key`, which may still land if it writes.
    fn assert_unanswered(e: &object_store::Error, operation: &str, key: &str) {
        assert!(Unanswered::caused(e), "{e}");
        let text = e.to_string();
        assert!(
            text.contains(&format!(
                "{operation} of '{key}' did not answer within 0.2 s"
            )),
            "{text}"
        );
        let write = !["get", "head", "list"].contains(&operation);
        assert_eq!(text.contains("it may still land"), write, "{text}");
    }

    #[tokio::test]
    async fn a_held_write_is_given_up_at_the_limit_and_still_lands() {
        let folder = tempfile::tempdir().unwrap();
        let store = held_at(&folder, Operation::Put, 1);
        let key = Path::from("out/00.json");
        let e = store.put(&key, "{}".into()).await.unwrap_err();
        assert_unanswered(&e, "put", "out/00.json");
        assert!(
            store.head(&key).await.is_err(),
            "landed before the hold ended"
        );
        tokio::time::sleep(HELD * 2).await;
        let landed = store.get(&key).await.unwrap().bytes().await.unwrap();
        assert_eq!(landed.as_ref(), b"{}");
    }

    #[tokio::test]
    async fn held_reads_listings_moves_and_deletes_fail_naming_the_call() {
        let folder = tempfile::tempdir().unwrap();
        let key = Path::from("in/a.csv");
        std::fs::create_dir_all(folder.path().join("in")).unwrap();
        std::fs::write(folder.path().join("in/a.csv"), "a;b\n").unwrap();

        let e = held_at(&folder, Operation::Get, 1)
            .get(&key)
            .await
            .unwrap_err();
        assert_unanswered(&e, "get", "in/a.csv");
        let listing = held_at(&folder, Operation::List, 1)
            .list(Some(&Path::from("in")))
            .try_collect::<Vec<_>>()
            .await;
        assert_unanswered(&listing.unwrap_err(), "list", "in");
        let to = Path::from("in/b.csv");
        let e = held_at(&folder, Operation::Copy, 1)
            .copy(&key, &to)
            .await
            .unwrap_err();
        assert_unanswered(&e, "copy", "in/b.csv");
        let e = held_at(&folder, Operation::Rename, 1)
            .rename(&to, &key)
            .await
            .unwrap_err();
        assert_unanswered(&e, "rename", "in/a.csv");
        let e = held_at(&folder, Operation::Delete, 1)
            .delete(&key)
            .await
            .unwrap_err();
        assert_unanswered(&e, "delete", "in/a.csv");
    }

    /// Reads go in chunks on the blocking pool instead of through the open file, and give
    /// the same bytes, whole or by range, across chunk boundaries.
    #[tokio::test]
    async fn an_object_read_in_chunks_is_the_object() {
        let folder = tempfile::tempdir().unwrap();
        let content: Vec<u8> = (0..(2 * CHUNK + 12_345)).map(|i| (i % 251) as u8).collect();
        std::fs::write(folder.path().join("big.csv"), &content).unwrap();
        let local = LocalFileSystem::new_with_prefix(folder.path()).unwrap();
        let store = BoundedStore::new(Arc::new(local), LIMIT);
        let key = Path::from("big.csv");
        let got = store.get(&key).await.unwrap();
        assert!(matches!(got.payload, GetResultPayload::Stream(_)));
        assert_eq!(got.bytes().await.unwrap().as_ref(), content.as_slice());
        let range = CHUNK - 7..2 * CHUNK + 9;
        let part = store.get_range(&key, range.clone()).await.unwrap();
        let range = range.start as usize..range.end as usize;
        assert_eq!(part.as_ref(), &content[range]);
        let e = store.get(&Path::from("missing.csv")).await.unwrap_err();
        assert!(matches!(e, object_store::Error::NotFound { .. }), "{e}");
    }
}
