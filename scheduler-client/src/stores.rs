//! Object stores at the edge: a bucket URL becomes a store registered on the runtime.

use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::local::LocalFileSystem;

use crate::error::Result;
use bydelsfakta_queries::Error as QueryError;
use bydelsfakta_queries::bucket::Bucket;

/// Registers the store that serves `bucket` on `runtime` (idempotent).
pub fn register_bucket(runtime: &Arc<RuntimeEnv>, bucket: &Bucket) -> Result<()> {
    let url = bucket.store_url();
    if runtime.object_store(&url).is_ok() && bucket.scheme() == "file" {
        return Ok(());
    }
    match bucket.scheme() {
        "file" => {
            runtime.register_object_store(url.as_ref(), Arc::new(LocalFileSystem::new()));
            Ok(())
        }
        other => Err(QueryError::Bucket {
            url: bucket.url().into(),
            problem: format!(
                "the '{other}' scheme is not supported yet; use file:///absolute/folder"
            ),
        }
        .into()),
    }
}
