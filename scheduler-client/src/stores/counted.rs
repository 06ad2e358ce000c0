//! A store that counts the bytes its reads return, for `bydelsfakta_input_bytes_read_total`
//! ([`bydelsfakta_queries::metrics`]). The inputs are read by DataFusion's CSV scan, where
//! the plan runs (an executor, or this process), through the store of the runtime; this
//! layer is the one place that sees those bytes on every engine. A read is counted when
//! its answer arrives, by the range it covers; `head` requests and the pipeline's own
//! bookkeeping are not input reads. Being that place, it also keeps the errors of reads
//! readable across a Ballista task failure ([`ReadFailure`]). Everything else passes
//! through untouched.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

use bydelsfakta_queries::error::ReadFailure;
use bydelsfakta_queries::metrics;

#[derive(Debug)]
pub struct CountedStore {
    inner: Arc<dyn ObjectStore>,
}

impl CountedStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self { inner }
    }
}

impl fmt::Display for CountedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait::async_trait]
impl ObjectStore for CountedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let head = options.head;
        let mut result = self
            .inner
            .get_opts(location, options)
            .await
            .map_err(ReadFailure::wrap)?;
        if !head {
            metrics::object_read(location.as_ref(), result.range.end - result.range.start);
        }
        if let GetResultPayload::Stream(stream) = result.payload {
            result.payload = GetResultPayload::Stream(stream.map_err(ReadFailure::wrap).boxed());
        }
        Ok(result)
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        let parts = self
            .inner
            .get_ranges(location, ranges)
            .await
            .map_err(ReadFailure::wrap)?;
        let bytes = parts.iter().map(|part| part.len() as u64).sum();
        metrics::object_read(location.as_ref(), bytes);
        Ok(parts)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    use super::*;

    fn input_bytes() -> u64 {
        let (text, _) = metrics::text();
        text.lines()
            .find_map(|line| line.strip_prefix("bydelsfakta_input_bytes_read_total "))
            .map_or(0, |value| value.parse().unwrap())
    }

    /// Other tests of this binary read through counted stores too: the count grows by at
    /// least what these reads return, and the head request and the bookkeeping add nothing
    /// when nothing else reads (checked by the cluster test, which owns its processes).
    #[tokio::test]
    async fn reads_count_their_bytes() {
        let store = CountedStore::new(Arc::new(InMemory::new()));
        let input = Path::from("processed/a/edition=1/a.csv");
        store.put(&input, "a;b\n1;2\n".into()).await.unwrap();
        let before = input_bytes();
        store.get(&input).await.unwrap().bytes().await.unwrap();
        store.get_range(&input, 0..3).await.unwrap();
        store.get_ranges(&input, &[0..1, 4..6]).await.unwrap();
        store.head(&input).await.unwrap();
        assert!(input_bytes() - before >= 8 + 3 + 3);
    }
}
