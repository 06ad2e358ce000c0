//! An S3 store whose errors say which bucket and which endpoint they are about, and say
//! "no credentials" when that is what went wrong. object_store's own messages name a
//! request URL at best, and when no credentials are set it asks the instance metadata
//! service (`169.254.169.254`), whose refusal names neither the bucket nor the cause.
//!
//! Only `Generic` errors are reworded: `NotFound`, `AlreadyExists`, `Precondition` and
//! the rest keep their variant, which the reader and the publication protocol match on.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

/// The address the S3 clients ask for credentials when none are configured, and the
/// paths they ask there (`AWS_METADATA_ENDPOINT` may move the address).
const INSTANCE_METADATA: &str = "169.254.169.254";
const METADATA_PATHS: [&str; 2] = ["/latest/api/token", "/latest/meta-data/"];

#[derive(Debug)]
pub struct NamedStore {
    inner: Arc<dyn ObjectStore>,
    /// What every error starts with: `S3 bucket 'name' at https://endpoint`.
    place: Arc<str>,
}

impl NamedStore {
    pub fn new(inner: Arc<dyn ObjectStore>, bucket: &str, endpoint: &str) -> Self {
        Self {
            inner,
            place: format!("S3 bucket '{bucket}' at {endpoint}").into(),
        }
    }
}

/// `e` with the bucket and the endpoint in front, or as missing credentials.
fn explain(place: &str, e: object_store::Error) -> object_store::Error {
    match e {
        object_store::Error::Generic { store, source } => {
            let text = source.to_string();
            let asked_for_credentials = text.contains(INSTANCE_METADATA)
                || METADATA_PATHS.iter().any(|path| text.contains(path));
            let source = if asked_for_credentials {
                format!(
                    "{place}: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a role provides them (the instance metadata service gave none: {text})"
                )
            } else {
                format!("{place}: {text}")
            };
            object_store::Error::Generic {
                store,
                source: source.into(),
            }
        }
        other => other,
    }
}

impl fmt::Display for NamedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.place, self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for NamedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let result = self.inner.put_opts(location, payload, opts).await;
        result.map_err(|e| explain(&self.place, e))
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let result = self.inner.put_multipart_opts(location, opts).await;
        result.map_err(|e| explain(&self.place, e))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let result = self.inner.get_opts(location, options).await;
        result.map_err(|e| explain(&self.place, e))
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        let result = self.inner.get_ranges(location, ranges).await;
        result.map_err(|e| explain(&self.place, e))
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let place = Arc::clone(&self.place);
        self.inner
            .delete_stream(locations)
            .map(move |r| r.map_err(|e| explain(&place, e)))
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let place = Arc::clone(&self.place);
        self.inner
            .list(prefix)
            .map(move |r| r.map_err(|e| explain(&place, e)))
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let result = self.inner.list_with_delimiter(prefix).await;
        result.map_err(|e| explain(&self.place, e))
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let result = self.inner.copy_opts(from, to, options).await;
        result.map_err(|e| explain(&self.place, e))
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        let result = self.inner.rename_opts(from, to, options).await;
        result.map_err(|e| explain(&self.place, e))
    }
}

#[cfg(test)]
mod tests {
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    use super::*;

    #[test]
    fn generic_errors_name_the_bucket_and_missing_credentials_say_so() {
        let e = explain(
            "S3 bucket 'b' at http://s3",
            object_store::Error::Generic {
                store: "S3",
                source: "Error performing GET http://s3/b in 20s - timed out".into(),
            },
        );
        assert!(
            e.to_string()
                .contains("S3 bucket 'b' at http://s3: Error performing GET"),
            "{e}"
        );
        let e = explain(
            "S3 bucket 'b' at http://s3",
            object_store::Error::Generic {
                store: "S3",
                source: "Error performing PUT http://169.254.169.254/latest/api/token - 403".into(),
            },
        );
        assert!(
            e.to_string()
                .contains("no S3 credentials: set AWS_ACCESS_KEY_ID"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn other_errors_keep_their_kind() {
        let store = NamedStore::new(Arc::new(InMemory::new()), "b", "http://s3");
        let e = store.get(&Path::from("missing")).await.unwrap_err();
        assert!(matches!(e, object_store::Error::NotFound { .. }), "{e}");
    }
}
