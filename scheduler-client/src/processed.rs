//! The processed datasets of a bucket: every object under
//! `processed/<confidentiality>/<dataset-id>/version=<v>/edition=<e>/`, grouped by dataset and
//! ordered by version (numerically) and edition. `run-all` takes the latest edition of each
//! input from here, `sql` makes tables of them.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use object_store::ObjectStore;

use bydelsfakta_queries::bucket::Bucket;

/// One edition of a dataset: where its objects lie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edition {
    pub confidentiality: String,
    pub version: String,
    pub edition: String,
    /// `processed/<confidentiality>/<id>/version=<v>/edition=<e>/`
    pub prefix: String,
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
    let objects: Vec<_> = store
        .list(Some(&bucket.path("processed")))
        .try_collect()
        .await?;
    let mut datasets: BTreeMap<String, Vec<Edition>> = BTreeMap::new();
    for meta in objects {
        let key = bucket.key(&meta.location);
        let parts: Vec<&str> = key.split('/').collect();
        let [_, confidentiality, id, version, edition, _file] = parts.as_slice() else {
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
            prefix: parts[..5].join("/") + "/",
        };
        let editions = datasets.entry(id.to_string()).or_default();
        if !editions.contains(&edition) {
            editions.push(edition);
        }
    }
    Ok(datasets
        .into_iter()
        .map(|(id, mut editions)| {
            editions.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
            ProcessedDataset { id, editions }
        })
        .collect())
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
        }
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
