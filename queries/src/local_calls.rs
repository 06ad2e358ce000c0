//! The file system calls the pipeline makes on a local bucket itself, beside its object
//! store: the check that a bucket folder argument is a folder, the link checks of an input
//! and of an output prefix, the sweep of a killed write's temporaries, the removal of
//! emptied folders. A hung mount (NFS, a FUSE-mounted
//! bucket) would hold such a call forever, so each runs on the blocking pool and answers
//! within the process's local call limit, as the store's own calls do
//! (`scheduler-client/src/stores/bounded.rs`), or fails with [`Unanswered`].
//!
//! The limit is the process's `--local-call-timeout`: the stores set it when they build a
//! local folder's store ([`set_limit`]); until then it is the default, 30 s.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result, Unanswered};

/// The store name errors give, as the bounded store's: the calls are a local folder's.
const STORE: &str = "LocalFileSystem";

static LIMIT_MS: AtomicU64 = AtomicU64::new(30_000);

/// Bounds every later call of this process by `limit`.
pub fn set_limit(limit: Duration) {
    let ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX).max(1);
    LIMIT_MS.store(ms, Ordering::Relaxed);
}

pub fn limit() -> Duration {
    Duration::from_millis(LIMIT_MS.load(Ordering::Relaxed))
}

/// `call`'s answer within the limit. Given up, the call keeps running on its thread (a
/// file system call cannot be stopped) and the error says whether it `may_land` (it
/// writes). `operation` and `path` name it in the error.
pub fn bounded<T: Send + 'static>(
    operation: &'static str,
    path: &std::path::Path,
    may_land: bool,
    call: impl FnOnce() -> T + Send + 'static,
) -> impl Future<Output = Result<T>> + 'static {
    bounded_by(limit(), operation, path, may_land, call)
}

fn bounded_by<T: Send + 'static>(
    limit: Duration,
    operation: &'static str,
    path: &std::path::Path,
    may_land: bool,
    call: impl FnOnce() -> T + Send + 'static,
) -> impl Future<Output = Result<T>> + 'static {
    let key = path.display().to_string();
    async move {
        match tokio::time::timeout(limit, tokio::task::spawn_blocking(call)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(failed)) => std::panic::resume_unwind(failed.into_panic()),
            Err(_) => Err(Error::ObjectStore(object_store::Error::Generic {
                store: STORE,
                source: Box::new(Unanswered {
                    operation,
                    key,
                    limit,
                    may_land,
                }),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_that_does_not_answer_is_given_up_at_the_limit() {
        let path = std::path::Path::new("/mnt/bucket/out");
        assert_eq!(bounded("check", path, false, || 7).await.unwrap(), 7);
        let (landed, lands) = std::sync::mpsc::channel();
        let limit = Duration::from_millis(50);
        let held = bounded_by(limit, "sweep", path, true, move || {
            std::thread::sleep(Duration::from_millis(300));
            landed.send(()).unwrap();
        })
        .await
        .unwrap_err();
        assert_eq!(
            held.to_string(),
            "Generic LocalFileSystem error: sweep of '/mnt/bucket/out' did not answer within 0.05 s; it may still land"
        );
        assert!(Unanswered::caused(&held));
        // It goes on, and lands later.
        lands.recv_timeout(Duration::from_secs(10)).unwrap();
    }
}
