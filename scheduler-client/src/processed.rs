//! The processed datasets of a bucket: every object under
//! `processed/<confidentiality>/<dataset-id>/version=<v>/edition=<e>/`, grouped by dataset and
//! ordered by version (numerically) and edition. `run-all` takes the latest edition of each
//! input from here, `sql` makes tables of them. An edition that cannot be listed (a link
//! that loops, in a local bucket) is listed all the same: only what reads it fails.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use futures::future::BoxFuture;
use object_store::{ObjectMeta, ObjectStore};

use bydelsfakta_queries::bucket::Bucket;

/// One edition of a dataset: where its objects lie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edition {
    pub confidentiality: String,
    pub version: String,
    pub edition: String,
    /// `processed/<confidentiality>/<id>/version=<v>/edition=<e>/`
    pub prefix: String,
    /// The objects directly in the folder, as the bucket's listing found them, sorted by
    /// key; `None` for a folder that could not be listed (a link that loops, in a local
    /// bucket), whose reader lists it again and names the problem.
    pub objects: Option<Vec<ObjectMeta>>,
}

impl Edition {
    /// The dataset's folder above the `version=` partitions.
    pub fn dataset_prefix(&self, id: &str) -> String {
        format!("processed/{}/{id}/", self.confidentiality)
    }

    fn order_key(&self) -> (u64, &str, &str) {
        // Versions are numbers (`version=10` is newer than `version=9`); editions are
        // timestamps `YYYYMMDDTHHMMSS`, which sort as text.
        (
            self.version.parse().unwrap_or(0),
            &self.version,
            &self.edition,
        )
    }
}

/// A dataset and its editions, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedDataset {
    pub id: String,
    pub editions: Vec<Edition>,
}

impl ProcessedDataset {
    pub fn latest(&self) -> &Edition {
        self.editions
            .last()
            .expect("a dataset is listed with an edition")
    }
}

/// Every dataset under `processed/` of `bucket`, by id.
pub async fn processed_datasets(
    store: &dyn ObjectStore,
    bucket: &Bucket,
) -> bydelsfakta_queries::Result<Vec<ProcessedDataset>> {
    // Each edition folder with the objects directly in it.
    let mut folders: BTreeMap<String, Option<Vec<ObjectMeta>>> = BTreeMap::new();
    for (folder, object) in edition_folders(store, bucket, "processed".into()).await? {
        let objects = folders.entry(folder).or_insert_with(|| Some(vec![]));
        match (objects.as_mut(), object) {
            (Some(objects), Some(object)) => objects.push(object),
            // A folder that could not be listed.
            (_, None) => *objects = None,
            (None, Some(_)) => {}
        }
    }
    let mut datasets: BTreeMap<String, Vec<Edition>> = BTreeMap::new();
    for (folder, mut objects) in folders {
        if let Some(objects) = objects.as_mut() {
            objects.sort_by(|a, b| a.location.cmp(&b.location));
        }
        let parts: Vec<&str> = folder.split('/').collect();
        let [_, confidentiality, id, version, edition] = parts.as_slice() else {
            continue;
        };
        let (Some(v), Some(e)) = (
            version.strip_prefix("version="),
            edition.strip_prefix("edition="),
        ) else {
            continue;
        };
        let edition = Edition {
            confidentiality: confidentiality.to_string(),
            version: v.to_string(),
            edition: e.to_string(),
            prefix: format!("{folder}/"),
            objects,
        };
        datasets.entry(id.to_string()).or_default().push(edition);
    }
    Ok(datasets
        .into_iter()
        .map(|(id, mut editions)| {
            editions.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
            ProcessedDataset { id, editions }
        })
        .collect())
}

/// How many segments an edition folder's key has:
/// `processed/<confidentiality>/<id>/version=<v>/edition=<e>`.
const EDITION_DEPTH: usize = 5;

/// An edition folder's key, and an object directly in it (none for a folder that could not
/// be listed).
type FolderObject = (String, Option<ObjectMeta>);

/// The folders (keys) at the edition level below `folder`, each with an object directly
/// in it, by one listing. When that listing fails in a local bucket (a link that loops
/// fails it), the folders below are listed one by one, so that the failure stays in its
/// own edition: an edition folder that cannot be listed is still an edition (with no
/// object), and a run that reads it names what is wrong with it
/// (`reader::locate_single_object`); the other datasets are as listed.
fn edition_folders<'a>(
    store: &'a dyn ObjectStore,
    bucket: &'a Bucket,
    folder: String,
) -> BoxFuture<'a, bydelsfakta_queries::Result<Vec<FolderObject>>> {
    Box::pin(async move {
        let listed = store.list(Some(&bucket.path(&folder)));
        let error = match listed.try_collect::<Vec<_>>().await {
            Ok(objects) => {
                return Ok(objects
                    .into_iter()
                    .filter_map(|meta| {
                        let folder = edition_of(&bucket.key(&meta.location))?;
                        Some((folder, Some(meta)))
                    })
                    .collect());
            }
            Err(e) => e,
        };
        // Only a local bucket's listing fails on one entry; another store's is the store's.
        if bucket.local_folder("").is_none() {
            return Err(error.into());
        }
        let depth = folder.split('/').count();
        if depth >= EDITION_DEPTH {
            tracing::warn!(folder = %folder, "cannot be listed: {error}");
            return Ok(vec![(folder, None)]);
        }
        // A folder whose entries cannot be listed either fails as the listing did.
        let Ok(below) = store.list_with_delimiter(Some(&bucket.path(&folder))).await else {
            return Err(error.into());
        };
        let mut folders = vec![];
        for prefix in below.common_prefixes {
            folders.extend(edition_folders(store, bucket, bucket.key(&prefix)).await?);
        }
        Ok(folders)
    })
}

/// The edition folder of an object's key: the key without its last segment, when that is
/// the object's name in an edition folder.
fn edition_of(key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split('/').collect();
    (parts.len() == EDITION_DEPTH + 1).then(|| parts[..EDITION_DEPTH].join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edition(version: &str, edition: &str) -> Edition {
        Edition {
            confidentiality: "green".into(),
            version: version.into(),
            edition: edition.into(),
            prefix: String::new(),
            objects: None,
        }
    }

    /// A link that loops in one dataset's edition fails neither the listing nor the other
    /// datasets: its edition is still listed (a run that reads it names the problem).
    #[tokio::test]
    async fn a_link_that_loops_stays_in_its_own_edition() {
        let dir = tempfile::tempdir().unwrap();
        for (dataset, edition) in [("a", "1"), ("b", "1"), ("b", "2")] {
            let folder = dir.path().join(format!(
                "processed/green/{dataset}/version=1/edition={edition}"
            ));
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join(format!("{dataset}.csv")), "x\n1\n").unwrap();
        }
        let looped = dir
            .path()
            .join("processed/green/b/version=1/edition=2/b.csv");
        std::fs::remove_file(&looped).unwrap();
        std::os::unix::fs::symlink("b.csv", &looped).unwrap();
        let bucket = Bucket::folder(dir.path()).unwrap();
        let store = object_store::local::LocalFileSystem::new();
        assert!(
            store
                .list(Some(&bucket.path("processed")))
                .try_collect::<Vec<_>>()
                .await
                .is_err(),
            "the store's listing fails on the loop"
        );
        let datasets = processed_datasets(&store, &bucket).await.unwrap();
        let latest: Vec<(&str, &str)> = datasets
            .iter()
            .map(|d| (d.id.as_str(), d.latest().prefix.as_str()))
            .collect();
        assert_eq!(
            latest,
            [
                ("a", "processed/green/a/version=1/edition=1/"),
                ("b", "processed/green/b/version=1/edition=2/")
            ]
        );
        assert_eq!(datasets[1].editions.len(), 2);
    }

    #[test]
    fn versions_order_numerically_then_editions() {
        let mut editions = [
            edition("10", "20200101T000000"),
            edition("9", "20250101T000000"),
            edition("10", "20190101T000000"),
        ];
        editions.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        let order: Vec<_> = editions
            .iter()
            .map(|e| (e.version.as_str(), e.edition.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("9", "20250101T000000"),
                ("10", "20190101T000000"),
                ("10", "20200101T000000")
            ]
        );
    }
}
