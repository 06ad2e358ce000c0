//! The stores the suite runs on, the sets it publishes, and what it reads back.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_queries::document::Document;
use bydelsfakta_queries::publication::records::{
    DocumentEntry, Manifest, PublishSettings, RunRecord,
};
use bydelsfakta_queries::publication::{Publication, Published, Recovered, publish, recover};
use bydelsfakta_scheduler_client::stores::settings::StoreSettings;
use bydelsfakta_tests::s3::{MemoryS3, S3Server};

/// The documents of the new set, and of the set before it (`04` disappears, `03` is new).
pub const NEW: [&str; 4] = ["00", "01", "02", "03"];
pub const OLD: [&str; 4] = ["00", "01", "02", "04"];

const S3_BUCKET: &str = "suite";
pub const S3_KEY: (&str, &str) = ("suite-key", "suite-secret");

/// A store to publish in, and the bucket it serves.
#[derive(Clone)]
pub struct Backend {
    pub name: &'static str,
    pub store: Arc<dyn ObjectStore>,
    pub bucket: Bucket,
    /// The folder of a local bucket, to look for files the store does not list.
    pub folder: Option<PathBuf>,
    /// What must live as long as the backend (its folder, its server).
    _keep: Arc<dyn std::any::Any + Send + Sync>,
    cases: Arc<AtomicUsize>,
}

impl Backend {
    pub fn local() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bucket = Bucket::parse(&format!("file://{}", dir.path().display())).unwrap();
        Self {
            name: "local folder",
            store: Arc::new(LocalFileSystem::new()),
            bucket,
            folder: Some(dir.path().to_path_buf()),
            _keep: Arc::new(dir),
            cases: Arc::default(),
        }
    }

    /// An S3 client of object_store against the loopback S3 server, signed requests and all.
    pub async fn s3() -> Self {
        Self::s3_over(MemoryS3::default()).await
    }

    /// The same, serving `memory` (which the caller keeps to inject faults into).
    pub async fn s3_over(memory: MemoryS3) -> Self {
        let server = S3Server::start(memory, &[S3_KEY]).await;
        let store = s3_client(&server.endpoint);
        Self {
            name: "S3",
            store: Arc::new(store),
            bucket: Bucket::parse(&format!("s3://{S3_BUCKET}")).unwrap(),
            folder: None,
            _keep: Arc::new(server),
            cases: Arc::default(),
        }
    }

    /// An S3 client with `settings` against a loopback server of its own, and that server
    /// (to inject faults into).
    pub async fn s3_with(settings: StoreSettings) -> (Self, Arc<S3Server>) {
        let server = Arc::new(S3Server::start(MemoryS3::default(), &[S3_KEY]).await);
        let store = settings
            .apply(s3_builder(&server.endpoint))
            .build()
            .unwrap();
        let backend = Self {
            name: "S3",
            store: Arc::new(store),
            bucket: Bucket::parse(&format!("s3://{S3_BUCKET}")).unwrap(),
            folder: None,
            _keep: server.clone(),
            cases: Arc::default(),
        };
        (backend, server)
    }

    /// Every object under the bucket key prefix `under` (none if it cannot be listed).
    pub async fn listed(&self, under: &str) -> Vec<ObjectMeta> {
        let folder = self.bucket.path(under);
        self.store
            .list(Some(&folder))
            .try_collect()
            .await
            .unwrap_or_default()
    }

    /// An output prefix no case has used.
    pub fn fresh_prefix(&self) -> String {
        let case = self.cases.fetch_add(1, Ordering::SeqCst);
        format!("case-{case}/edition=1/lambda_invoker/")
    }
}

/// object_store's S3 client for the bucket of the loopback server at `endpoint`.
pub fn s3_client(endpoint: &str) -> object_store::aws::AmazonS3 {
    s3_builder(endpoint).build().unwrap()
}

fn s3_builder(endpoint: &str) -> AmazonS3Builder {
    AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_bucket_name(S3_BUCKET)
        .with_access_key_id(S3_KEY.0)
        .with_secret_access_key(S3_KEY.1)
        .with_region("us-east-1")
        .with_allow_http(true)
}

pub fn documents(names: &[&str], text: &str) -> Vec<Document> {
    names
        .iter()
        .map(|name| Document {
            file_name: format!("{name}.json"),
            body: format!("{{\"{name}\": \"{text}\"}}"),
        })
        .collect()
}

fn run(run_id: &str) -> RunRecord {
    RunRecord {
        run_id: run_id.into(),
        function: "suite".into(),
        dataset_type: "status".into(),
        engine: "embedded".into(),
        started_at: "2026-12-03T00:00:00.000Z".into(),
        inputs: vec![],
    }
}

/// Publishes the documents `names` with the text `text` as run `run_id`.
pub async fn publish_documents(
    store: &dyn ObjectStore,
    backend: &Backend,
    prefix: &str,
    names: &[&str],
    text: &str,
    run_id: &str,
    settings: PublishSettings,
) -> bydelsfakta_queries::Result<Published> {
    let run = run(run_id);
    let publication = Publication {
        bucket: &backend.bucket,
        prefix,
        output_dataset: "suite-output",
        published_date: "2026-12-03",
        run: &run,
        settings,
    };
    publish(store, &publication, documents(names, text)).await
}

/// Publishes the new set's documents with the text `text` as run `run_id`.
pub async fn publish_set(
    store: &dyn ObjectStore,
    backend: &Backend,
    prefix: &str,
    text: &str,
    run_id: &str,
    settings: PublishSettings,
) -> bydelsfakta_queries::Result<Published> {
    publish_documents(store, backend, prefix, &NEW, text, run_id, settings).await
}

/// `bydelsfakta recover` of one prefix, without faults; it takes over a crashed
/// publisher's lease once it expires.
pub async fn recover_prefix(backend: &Backend, prefix: &str) -> Recovered {
    let settings = PublishSettings {
        lease_ttl: std::time::Duration::from_secs(60),
        wait: std::time::Duration::from_secs(20),
        deadline_ms: None,
    };
    recover(backend.store.as_ref(), &backend.bucket, prefix, &settings)
        .await
        .unwrap_or_else(|e| panic!("recover {prefix}: {e}"))
}

/// What the output prefix holds before the new set is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Nothing: the first publication.
    First,
    /// A set published by us, with its manifest.
    Replace,
    /// Documents written before manifests existed (by the original, say).
    Legacy,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [Scenario::First, Scenario::Replace, Scenario::Legacy];

    pub async fn prepare(self, backend: &Backend, prefix: &str) {
        match self {
            Scenario::First => {}
            Scenario::Replace => {
                let settings = PublishSettings::default();
                publish_documents(
                    backend.store.as_ref(),
                    backend,
                    prefix,
                    &OLD,
                    "old",
                    "r0",
                    settings,
                )
                .await
                .unwrap();
            }
            Scenario::Legacy => {
                for doc in documents(&OLD, "legacy") {
                    let path = backend.bucket.path(&format!("{prefix}{}", doc.file_name));
                    backend.store.put(&path, doc.body.into()).await.unwrap();
                }
            }
        }
    }
}

/// Everything under an output prefix: the objects the store lists, and for a local
/// folder, every file and folder on disk.
#[derive(Debug)]
pub struct State {
    objects: BTreeMap<String, Bytes>,
    files: Option<Vec<String>>,
}

impl State {
    pub async fn read(backend: &Backend, prefix: &str) -> Self {
        let listed = backend.listed(prefix).await;
        let mut objects = BTreeMap::new();
        for meta in listed {
            let key = backend.bucket.key(&meta.location);
            let relative = key.strip_prefix(prefix).unwrap_or(&key).to_string();
            let body = backend.store.get(&meta.location).await.unwrap();
            objects.insert(relative, body.bytes().await.unwrap());
        }
        let files = backend.folder.as_ref().map(|root| {
            let mut found = vec![];
            walk(&root.join(prefix), "", &mut found);
            found
        });
        Self { objects, files }
    }

    /// Whether a lease object is there.
    pub fn holds_a_lease(&self) -> bool {
        self.objects
            .keys()
            .any(|key| key.starts_with("_publication/lease/"))
    }

    /// The documents and the manifest: what a reader of the prefix sees.
    pub fn set(&self) -> BTreeMap<String, Bytes> {
        self.objects
            .iter()
            .filter(|(key, _)| !key.contains('/') && key.ends_with(".json"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn manifest(&self) -> Option<Manifest> {
        let bytes = self.objects.get("_manifest.json")?;
        Some(serde_json::from_slice(bytes).expect("a manifest"))
    }

    pub fn manifest_run(&self) -> Option<String> {
        self.manifest().map(|m| m.run_id)
    }

    /// The new set, complete: its documents with `text`, and its manifest listing them.
    pub fn assert_new_complete(&self, text: &str, run_id: &str) {
        let expected = documents(&NEW, text);
        let mut names: Vec<String> = expected.iter().map(|d| d.file_name.clone()).collect();
        names.push("_manifest.json".into());
        let set = self.set();
        assert_eq!(set.keys().cloned().collect::<Vec<_>>(), names, "{self:?}");
        for doc in &expected {
            assert_eq!(
                set[&doc.file_name],
                doc.body.as_bytes(),
                "{}",
                doc.file_name
            );
        }
        let manifest = self.manifest().unwrap();
        assert_eq!(manifest.run_id, run_id);
        let entries: Vec<DocumentEntry> = expected.iter().map(DocumentEntry::of).collect();
        assert_eq!(manifest.documents, entries);
    }

    /// Nothing but the set: no bookkeeping object, and on a local folder no other file,
    /// no temporary, no folder.
    pub fn assert_no_leftovers(&self, what: &str) {
        let set: Vec<String> = self.set().into_keys().collect();
        let objects: Vec<String> = self.objects.keys().cloned().collect();
        assert_eq!(objects, set, "{what}: objects besides the set");
        if let Some(files) = &self.files {
            assert_eq!(files, &set, "{what}: files besides the set");
        }
    }
}

/// Every file and folder below `dir`, relative, folders with a trailing `/`, sorted.
fn walk(dir: &std::path::Path, relative: &str, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = format!("{relative}{}", entry.file_name().to_string_lossy());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.push(format!("{name}/"));
            walk(&entry.path(), &format!("{name}/"), found);
        } else {
            found.push(name);
        }
    }
    found.sort();
}
