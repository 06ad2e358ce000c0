//! Object stores at the edge. Every role (client, scheduler, executors) resolves bucket URLs
//! through the same registry: `file://` is the local file system, `s3://<bucket>` an S3
//! client configured from the standard `AWS_*` environment (credentials, region,
//! `AWS_ENDPOINT_URL` and `AWS_ALLOW_HTTP` for MinIO and other S3-protocol servers), with
//! the timeouts and retries of [`StoreSettings`]; a local folder's calls are bounded by its
//! call timeout ([`BoundedStore`]). One client per bucket is built on first
//! use and kept. Credentials never travel with a job: each process reads its own
//! environment (or role). With `BYDELSFAKTA_FAULTS` set, every store is wrapped in a
//! [`FaultyStore`] (fault-injection tests of real processes). Every store counts the input
//! bytes it reads ([`CountedStore`], for `/metrics`).

pub mod bounded;
pub mod counted;
pub mod faults;
pub mod named;
pub mod settings;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use datafusion::common::DataFusionError;
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use url::Url;

use crate::error::Result;
use bounded::BoundedStore;
use bydelsfakta_queries::Error as QueryError;
use bydelsfakta_queries::bucket::Bucket;
use counted::CountedStore;
use faults::{Faults, FaultyStore};
use named::NamedStore;
use settings::StoreSettings;

/// How this process builds its stores.
#[derive(Debug, Clone)]
struct StoreConfig {
    settings: StoreSettings,
    faults: Option<Faults>,
}

static CONFIG: OnceLock<std::result::Result<StoreConfig, String>> = OnceLock::new();

fn config_from_env(settings: Option<StoreSettings>) -> std::result::Result<StoreConfig, String> {
    let settings = match settings {
        Some(settings) => settings,
        None => StoreSettings::from_env()?,
    };
    // The file system calls made beside the store are bounded alike.
    bydelsfakta_queries::local_calls::set_limit(settings.local_call_timeout);
    // A publication checks its lease against them.
    bydelsfakta_queries::publication::lease::set_longest_call(settings.longest_call());
    Ok(StoreConfig {
        settings,
        faults: Faults::from_env()?,
    })
}

/// Sets this process's store settings (the CLI, from its flags) before any store is built;
/// without it, they come from the environment on first use.
pub fn configure(settings: StoreSettings) -> std::result::Result<(), String> {
    CONFIG
        .set(config_from_env(Some(settings)))
        .map_err(|_| "the stores were configured twice".to_string())?;
    check_config()
}

/// Whether this process's store settings are valid (a bad variable is named), so that a
/// server fails when it starts rather than at its first task.
pub fn check_config() -> std::result::Result<(), String> {
    config().map(drop)
}

fn config() -> std::result::Result<&'static StoreConfig, String> {
    CONFIG
        .get_or_init(|| config_from_env(None))
        .as_ref()
        .map_err(Clone::clone)
}

/// The stores of every bucket this process has touched, by `scheme://bucket`.
#[derive(Debug, Default)]
pub struct BucketStores {
    stores: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

fn store_key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default())
}

impl BucketStores {
    fn build(url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        let config = config().map_err(DataFusionError::Configuration)?;
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "file" => Arc::new(LocalFileSystem::new()),
            "s3" => {
                let bucket = url.host_str().ok_or_else(|| {
                    DataFusionError::Configuration(format!("{url}: an s3 URL names its bucket"))
                })?;
                let builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                let endpoint = builder
                    .get_config_value(&AmazonS3ConfigKey::Endpoint)
                    .unwrap_or_else(|| {
                        let region = builder
                            .get_config_value(&AmazonS3ConfigKey::Region)
                            .unwrap_or_else(|| "us-east-1".into());
                        format!("https://s3.{region}.amazonaws.com")
                    });
                let store = config
                    .settings
                    .apply(builder)
                    .build()
                    .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;
                Arc::new(NamedStore::new(Arc::new(store), bucket, &endpoint))
            }
            other => {
                return Err(DataFusionError::Configuration(format!(
                    "{url}: the '{other}' scheme is not supported; use s3://<bucket> or file:///<folder>"
                )));
            }
        };
        let store = match &config.faults {
            Some(faults) => Arc::new(FaultyStore::announcing(store, faults.clone())),
            None => store,
        };
        // Outside the faults, so that a held call is given up as a hung file system's is.
        let store = match url.scheme() {
            "file" => {
                let limit = config.settings.local_call_timeout;
                Arc::new(BoundedStore::new(store, limit).keys_under("/"))
            }
            _ => store,
        };
        Ok(Arc::new(CountedStore::new(store)))
    }
}

impl ObjectStoreRegistry for BucketStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        let mut stores = self.stores.write().expect("store registry lock");
        stores.insert(store_key(url), store)
    }

    fn deregister_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        let mut stores = self.stores.write().expect("store registry lock");
        stores.remove(&store_key(url)).ok_or_else(|| {
            DataFusionError::Internal(format!("no object store registered for {url}"))
        })
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        let key = store_key(url);
        if let Some(store) = self.stores.read().expect("store registry lock").get(&key) {
            return Ok(store.clone());
        }
        let store = Self::build(url)?;
        let mut stores = self.stores.write().expect("store registry lock");
        Ok(stores.entry(key).or_insert(store).clone())
    }
}

/// A runtime whose object stores come from [`BucketStores`].
pub fn runtime_builder() -> RuntimeEnvBuilder {
    RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(BucketStores::default()))
}

/// A runtime that serves `bucket`, checked up front so that a bad bucket URL fails before
/// any plan is built.
pub fn runtime_for(bucket: &Bucket) -> Result<Arc<RuntimeEnv>> {
    let runtime = runtime_builder().build_arc()?;
    runtime
        .object_store(bucket.store_url())
        .map_err(|e| QueryError::Bucket {
            url: bucket.url().into(),
            problem: e.to_string(),
        })?;
    Ok(runtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_store_per_bucket_is_built_and_kept() {
        let stores = BucketStores::default();
        let a = stores
            .get_store(&Url::parse("file:///tmp").unwrap())
            .unwrap();
        let b = stores
            .get_store(&Url::parse("file:///var").unwrap())
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let s3 = stores
            .get_store(&Url::parse("s3://bucket-one/key").unwrap())
            .unwrap();
        let again = stores
            .get_store(&Url::parse("s3://bucket-one").unwrap())
            .unwrap();
        assert!(Arc::ptr_eq(&s3, &again));
        assert!(s3.to_string().contains("bucket-one"), "{s3}");
    }

    #[test]
    fn other_schemes_are_refused_naming_the_url() {
        let err = BucketStores::default()
            .get_store(&Url::parse("gs://bucket").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("gs://bucket") && err.contains("not supported"),
            "{err}"
        );
    }
}
