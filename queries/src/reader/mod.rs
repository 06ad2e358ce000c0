//! Reads the one CSV object under an input prefix into a typed DataFrame (docs/inputs.md).
//!
//! 1. [`single_object`]: list the prefix (S3 prefix semantics): no object or more than one is
//!    an error, and in a local bucket the object must lie inside the bucket (no symlink out)
//!    and every entry under the prefix must be readable (no link that loops or leads nowhere).
//! 2. [`header`]: read the first line (64 KiB at most) and check it against the catalog: an
//!    explicit schema maps columns by position, so a file with other columns must fail here,
//!    naming what differs.
//! 3. [`typing`]: scan with DataFusion's CSV reader (`;`, header), every column as a string
//!    with pandas' missing-value spellings as missing (`udfs::pandas_missing`), probe each
//!    number column (`udfs::number_probe`) and check the geography ids
//!    (`udfs::district_id_problem`), then cast each column to its kind; `aar` becomes the
//!    integer column `date`; `__row` keeps the file's line order.
//! 4. [`csv_errors`]: what the CSV reader says about a bad row becomes an error naming the
//!    dataset, the object, the line and the column (docs/deviations.md D6), on every engine.
//! 5. [`lines`]: the reader and the probe count records, so a bad row's or cell's error is
//!    built with its record's number; the object is read again, only then, to name the line
//!    of the file where that record starts (blank lines and quoted line breaks counted).
//!
//! Where the plans run decides how: for a cluster, the probe and the casts are plans that
//! run where the scan runs; embedded, the file is read into memory once per batch and
//! probed and cast there, column by column, with the same probe and the same cast kernel.

pub mod csv_errors;
mod header;
mod lines;
mod single_object;
pub mod typed_record;
mod typing;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::RecordBatch;
use datafusion::common::TableReference;
use datafusion::datasource::{MemTable, provider_as_source};
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::*;
use tokio::sync::OnceCell;

use crate::bucket::Bucket;
use crate::catalog;
use crate::error::{Error, Result};
use crate::publication::records::InputObject;
pub use single_object::locate_single_object;
use typed_record::TypedRecord;
use typing::{typed_in_memory, typed_scan};

/// Runs plans where the engine runs them: the reader's small queries over an input (the
/// probe, a bad cell's value) go to the same place as the documents' plan, so that a client
/// of a cluster never reads the data itself.
#[async_trait::async_trait]
pub trait PlanExecutor: Send + Sync {
    async fn collect(&self, plan: Arc<dyn ExecutionPlan>) -> Result<Vec<RecordBatch>>;

    async fn collect_frame(&self, frame: DataFrame) -> Result<Vec<RecordBatch>> {
        self.collect(frame.create_physical_plan().await?).await
    }
}

/// An input as read: its typed frame, the object, and how it was typed when that is new
/// (to record once the run succeeds, see [`typed_record`]).
pub struct ReadInput {
    pub frame: DataFrame,
    pub object: InputObject,
    pub new_record: Option<TypedRecord>,
}

/// Reads input `dataset_id` from the single object under `prefix` of `bucket`.
///
/// With a cache, the typed table is read into memory once and shared by every plan that
/// names the same object; without one, the plan scans the object where it runs.
pub async fn read_input(
    ctx: &SessionContext,
    executor: &dyn PlanExecutor,
    bucket: &Bucket,
    dataset_id: &str,
    prefix: &str,
    cache: Option<&InputCache>,
) -> Result<ReadInput> {
    let dataset = catalog::input_dataset(dataset_id)
        .ok_or_else(|| Error::UnknownDataset(dataset_id.into()))?;
    let store = ctx.runtime_env().object_store(bucket.store_url())?;
    let mut object = locate_single_object(store.as_ref(), bucket, dataset_id, prefix).await?;
    let Some(cache) = cache else {
        let (frame, rows, new_record) = typed_scan(ctx, executor, bucket, dataset, &object)
            .await
            .map_err(|e| e.reading(dataset.id, &object.key))?;
        object.rows = Some(rows);
        return Ok(ReadInput {
            frame,
            object,
            new_record,
        });
    };
    let (frame, rows) = read_cached(ctx, bucket, dataset, &object.key, cache)
        .await
        .map_err(|e| e.reading(dataset.id, &object.key))?;
    object.rows = Some(rows);
    Ok(ReadInput {
        frame,
        object,
        new_record: None,
    })
}

/// Reads the object `key` as input `dataset` into `cache`, once; its frame and rows.
async fn read_cached(
    ctx: &SessionContext,
    bucket: &Bucket,
    dataset: &'static catalog::InputDataset,
    key: &str,
    cache: &InputCache,
) -> Result<(DataFrame, u64)> {
    let dataset_id = dataset.id;
    let url = bucket.object_url(key);
    let cell = cache.cell(&url, dataset_id, key);
    let (table, rows) = cell
        .get_or_try_init(|| async {
            let started = std::time::Instant::now();
            let batch = typed_in_memory(ctx, bucket, dataset, key).await?;
            tracing::debug!(
                dataset = dataset_id,
                rows = batch.num_rows(),
                ms = started.elapsed().as_secs_f64() * 1000.0,
                "input read into memory"
            );
            let rows = batch.num_rows() as u64;
            let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
            Ok::<_, Error>((Arc::new(table), rows))
        })
        .await?;
    // Named by its object, so that plans over different inputs never compare equal (the
    // shared frames of a batch are found by plan).
    let scan = LogicalPlanBuilder::scan(
        TableReference::bare(url.as_str()),
        provider_as_source(table.clone()),
        None,
    )?
    .build()?;
    Ok((DataFrame::new(ctx.state(), scan), *rows))
}

/// Typed input tables in memory with their rows, by object URL, for the plans of one batch
/// of runs. The platform writes each edition under a new key and never rewrites one, so the
/// URL is the identity; the cache lives as long as its engine (one command), or until its
/// batch forgets a dataset no later run reads ([`InputCache::forget_dataset`]).
#[derive(Debug, Default)]
pub struct InputCache {
    tables: Mutex<HashMap<String, CacheEntry>>,
}

/// One object's place in the cache: its dataset and key, and its table once read.
#[derive(Debug)]
struct CacheEntry {
    dataset: &'static str,
    key: String,
    table: Arc<OnceCell<CachedTable>>,
}

/// A typed table in memory and its rows.
type CachedTable = (Arc<MemTable>, u64);

/// An object [`InputCache::forget_dataset`] forgot: the URL its scans name it by, and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgottenObject {
    pub url: String,
    pub key: String,
}

impl InputCache {
    fn cell(&self, url: &str, dataset: &'static str, key: &str) -> Arc<OnceCell<CachedTable>> {
        let mut tables = self.tables.lock().expect("input cache lock");
        let entry = tables.entry(url.to_string()).or_insert_with(|| CacheEntry {
            dataset,
            key: key.to_string(),
            table: Arc::default(),
        });
        entry.table.clone()
    }

    /// Forgets every object of input dataset `dataset`, so that its table is freed once no
    /// plan uses it, and returns them: the frames built from them are to be forgotten too.
    /// A later read of one reads it again.
    pub fn forget_dataset(&self, dataset: &str) -> Vec<ForgottenObject> {
        let mut tables = self.tables.lock().expect("input cache lock");
        tables
            .extract_if(|_, entry| entry.dataset == dataset)
            .map(|(url, entry)| ForgottenObject {
                url,
                key: entry.key,
            })
            .collect()
    }

    /// How many objects the cache holds (read or being read).
    pub fn len(&self) -> usize {
        self.tables.lock().expect("input cache lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgetting_a_dataset_forgets_its_objects_only() {
        let cache = InputCache::default();
        let first = cache.cell("file:///b/x/1.csv", "x", "x/1.csv");
        assert!(
            Arc::ptr_eq(&first, &cache.cell("file:///b/x/1.csv", "x", "x/1.csv")),
            "one object, one place"
        );
        cache.cell("file:///b/x/2.csv", "x", "x/2.csv");
        cache.cell("file:///b/y/1.csv", "y", "y/1.csv");
        let mut gone = cache.forget_dataset("x");
        gone.sort_by(|a, b| a.key.cmp(&b.key));
        let keys: Vec<&str> = gone.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["x/1.csv", "x/2.csv"]);
        assert_eq!(gone[0].url, "file:///b/x/1.csv");
        assert_eq!(cache.len(), 1, "the other dataset's object stays");
        assert!(cache.forget_dataset("x").is_empty());
        assert!(
            !Arc::ptr_eq(&first, &cache.cell("file:///b/x/1.csv", "x", "x/1.csv")),
            "a forgotten object is read again when asked for"
        );
    }
}
