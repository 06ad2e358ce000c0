//! `bydelsfakta lineage`: which input editions produced the documents of an output, and
//! when, read from the manifests that publications write last beside their documents
//! (`<prefix>_manifest.json`, `queries::publication`).
//!
//! A publication in progress backs the manifest up in its bookkeeping folder and deletes it
//! before it moves the new documents in, so lineage reads only the manifests beside
//! documents, and one that is gone by the time it is read is not a publication (yet).

use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};

use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_queries::publication::records::Manifest;
use bydelsfakta_queries::publication::site::bookkeeping_start;

use crate::error::Result;
use crate::stores::runtime_for;

const MANIFEST_NAME: &str = "_manifest.json";

/// The manifests of `target`: an output dataset id (`husholdningstyper-status`), whose
/// every published prefix is found anywhere in the bucket, or a key prefix containing `/`
/// (an output prefix, or a folder above several). Newest publication first.
pub async fn lineage(bucket: &Bucket, target: &str) -> Result<Vec<Manifest>> {
    let store = runtime_for(bucket)?.object_store(bucket.store_url())?;
    let by_prefix = target.contains('/');
    // The bucket's root (a local bucket's store is the whole file system), or the prefix.
    let under = bucket.path(if by_prefix { target } else { "" });
    let segment = format!("/{target}/");
    let keys: Vec<String> = store
        .list(Some(&under))
        .map_ok(|meta| bucket.key(&meta.location))
        .try_filter(|key| {
            let wanted = key.ends_with(MANIFEST_NAME)
                && bookkeeping_start(key).is_none()
                && (by_prefix || key.contains(&segment));
            std::future::ready(wanted)
        })
        .try_collect()
        .await
        .map_err(bydelsfakta_queries::Error::from)?;
    let mut manifests = vec![];
    for key in keys {
        let Some(manifest) = read_manifest(store.as_ref(), bucket, &key).await? else {
            continue;
        };
        if by_prefix || manifest.output_dataset == target {
            manifests.push(manifest);
        }
    }
    manifests.sort_by(|a, b| b.published_at.cmp(&a.published_at));
    Ok(manifests)
}

/// The manifest at `key`, or `None` when a publication deleted it since it was listed.
async fn read_manifest(
    store: &dyn ObjectStore,
    bucket: &Bucket,
    key: &str,
) -> Result<Option<Manifest>> {
    let got = match store.get(&bucket.path(key)).await {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(bydelsfakta_queries::Error::from(e).into()),
    };
    let bytes = got
        .bytes()
        .await
        .map_err(bydelsfakta_queries::Error::from)?;
    let manifest = serde_json::from_slice(&bytes).map_err(|e| crate::Error::Manifest {
        key: key.to_string(),
        problem: e.to_string(),
    })?;
    Ok(Some(manifest))
}

/// For people: each publication, its inputs and its documents.
pub fn to_text(manifests: &[Manifest]) -> String {
    let mut text = String::new();
    for manifest in manifests {
        text.push_str(&format!(
            "{} ({} {}) published {} by run {} ({}, started {})\n",
            manifest.output_prefix,
            manifest.function,
            manifest.dataset_type,
            manifest.published_at,
            manifest.run_id,
            manifest.writer,
            manifest.started_at,
        ));
        text.push_str("  from\n");
        for input in &manifest.inputs {
            text.push_str(&format!(
                "    {} version {} edition {}: {} ({} bytes{})\n",
                input.dataset,
                input.version.as_deref().unwrap_or("-"),
                input.edition.as_deref().unwrap_or("-"),
                input.key,
                input.size,
                match input.rows {
                    Some(rows) => format!(", {rows} rows"),
                    None => String::new(),
                },
            ));
        }
        text.push_str(&format!(
            "  wrote {} documents ({} bytes): {}\n",
            manifest.documents.len(),
            manifest.bytes(),
            manifest
                .documents
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    text
}
