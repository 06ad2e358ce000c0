//! Reads the one CSV object under an input prefix into a typed DataFrame (00-common §1.3, §2).
//!
//! 1. List the prefix (S3 prefix semantics): no object or more than one is an error.
//! 2. Read the header and check it against the catalog: an explicit schema maps columns by
//!    position, so a file with other columns must fail here, naming what differs.
//! 3. Scan with DataFusion's CSV reader (`;`, header, pandas' missing-value spellings), every
//!    column as a string, and probe each number column in one small aggregate: does it parse,
//!    has it a missing cell or a decimal (then it is float, as pandas would make it)?
//! 4. Cast each column to its kind; `aar` becomes the integer column `date`; `__row` keeps the
//!    file's line order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::common::TableReference;
use datafusion::datasource::{MemTable, provider_as_source};
use datafusion::functions::regex::expr_fn::regexp_like;
use datafusion::functions_aggregate::expr_fn::min;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::*;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::sync::OnceCell;

use crate::bucket::Bucket;
use crate::catalog::{self, Kind, YEAR_COLUMN};
use crate::error::{Error, Result};
use bydelsfakta_udfs::geo;
use bydelsfakta_udfs::number_probe::PROBE_FIELDS;
use bydelsfakta_udfs::plan::c;

/// pandas' default missing-value spellings (`read_csv` `na_values`), plus the empty cell.
pub const PANDAS_NA: &str = "^(|#N/A|#N/A N/A|#NA|-1\\.#IND|-1\\.#QNAN|-NaN|-nan|1\\.#IND|1\\.#QNAN|<NA>|N/A|NA|NULL|NaN|n/a|nan|null)$";

const INTEGER: &str = "^[+-]?[0-9]+$";

/// The key of the single object under `prefix`, with S3 prefix semantics (`a/b` also
/// matches `a/bc/...`).
pub async fn locate_single_object(
    store: &dyn ObjectStore,
    bucket: &Bucket,
    dataset: &str,
    prefix: &str,
) -> Result<String> {
    let (dir, partial) = match prefix.rfind('/') {
        Some(i) => (&prefix[..i], &prefix[i + 1..]),
        None => ("", prefix),
    };
    let listed: Vec<_> = store
        .list(Some(&bucket.path(dir)))
        .try_collect()
        .await
        .or_else(|e| match e {
            object_store::Error::NotFound { .. } => Ok(vec![]),
            e => Err(e),
        })?;
    let mut keys: Vec<String> = listed
        .iter()
        .map(|meta| bucket.key(&meta.location))
        .filter(|key| {
            let rest = key.strip_prefix(dir).unwrap_or(key).trim_start_matches('/');
            rest.starts_with(partial)
        })
        .collect();
    keys.sort();
    match keys.len() {
        0 => Err(Error::EmptyPrefix {
            dataset: dataset.into(),
            prefix: prefix.into(),
        }),
        1 => Ok(keys.remove(0)),
        _ => Err(Error::MultipleFiles {
            dataset: dataset.into(),
            prefix: prefix.into(),
            objects: keys,
        }),
    }
}

async fn read_header(store: &dyn ObjectStore, path: &Path) -> Result<Vec<String>> {
    let meta = store.head(path).await?;
    let mut end = meta.size.min(64 * 1024);
    loop {
        let bytes = store.get_range(path, 0..end).await?;
        let text = String::from_utf8_lossy(&bytes);
        if let Some(line) = text
            .lines()
            .next()
            .filter(|_| text.contains('\n') || end == meta.size)
        {
            let line = line.trim_start_matches('\u{feff}').trim_end_matches('\r');
            return Ok(line
                .split(';')
                .map(|c| c.trim_matches('"').to_string())
                .collect());
        }
        if end == meta.size {
            return Ok(vec![]);
        }
        end = meta.size.min(end * 4);
    }
}

fn check_header(dataset: &catalog::InputDataset, file: &str, found: &[String]) -> Result<()> {
    let expected = dataset.column_names();
    let header_error = |problem: String| Error::Header {
        dataset: dataset.id.into(),
        file: file.into(),
        problem,
        expected: expected.clone(),
        found: found.to_vec(),
    };
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = found.iter().find(|c| !seen.insert(c.as_str())) {
        return Err(header_error(format!("column '{dup}' appears twice")));
    }
    let missing: Vec<&str> = expected
        .iter()
        .filter(|c| !found.contains(c))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(header_error(format!(
            "missing columns [{}]",
            missing.join(", ")
        )));
    }
    if dataset.exact_order && found != expected.as_slice() {
        return Err(header_error(
            "the columns must be exactly these, in this order".into(),
        ));
    }
    Ok(())
}

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

/// The one row of an aggregate without groups (a distributed run may add empty batches).
fn single_row(batches: &[RecordBatch]) -> &RecordBatch {
    batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .expect("an aggregate without groups yields one row")
}

/// What the probe found about one number column.
struct Probe {
    missing: i64,
    non_integer: i64,
    first_unparsable_row: Option<i64>,
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
) -> Result<DataFrame> {
    let dataset = catalog::input_dataset(dataset_id)
        .ok_or_else(|| Error::UnknownDataset(dataset_id.into()))?;
    let store = ctx.runtime_env().object_store(bucket.store_url())?;
    let key = locate_single_object(store.as_ref(), bucket, dataset_id, prefix).await?;
    let Some(cache) = cache else {
        return typed_input(ctx, executor, bucket, dataset, &key, false).await;
    };
    let url = bucket.object_url(&key);
    let cell = cache.cell(&url);
    let table = cell
        .get_or_try_init(|| async {
            let started = std::time::Instant::now();
            let frame = typed_input(ctx, executor, bucket, dataset, &key, true).await?;
            let schema = frame.schema().inner().clone();
            let batches = frame.collect().await?;
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            tracing::debug!(
                dataset = dataset_id,
                rows,
                ms = started.elapsed().as_secs_f64() * 1000.0,
                "input read into memory"
            );
            Ok::<_, Error>(Arc::new(MemTable::try_new(schema, vec![batches])?))
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
    Ok(DataFrame::new(ctx.state(), scan))
}

/// Typed input tables in memory, by object URL, for the plans of one batch of runs. The
/// platform writes each edition under a new key and never rewrites one, so the URL is the
/// identity; the cache lives as long as its engine (one command).
#[derive(Debug, Default)]
pub struct InputCache {
    tables: Mutex<HashMap<String, Arc<OnceCell<Arc<MemTable>>>>>,
}

impl InputCache {
    fn cell(&self, url: &str) -> Arc<OnceCell<Arc<MemTable>>> {
        let mut tables = self.tables.lock().expect("input cache lock");
        tables.entry(url.to_string()).or_default().clone()
    }
}

async fn typed_input(
    ctx: &SessionContext,
    executor: &dyn PlanExecutor,
    bucket: &Bucket,
    dataset: &catalog::InputDataset,
    key: &str,
    in_memory: bool,
) -> Result<DataFrame> {
    let dataset_id = dataset.id;
    let store = ctx.runtime_env().object_store(bucket.store_url())?;
    let header = read_header(store.as_ref(), &bucket.path(key)).await?;
    check_header(dataset, key, &header)?;

    let schema = Schema::new(
        header
            .iter()
            .map(|name| Field::new(name, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    );
    let options = CsvReadOptions::new()
        .delimiter(b';')
        .has_header(true)
        .schema(&schema)
        .file_extension("")
        .null_regex(Some(PANDAS_NA.to_string()));
    let raw = ctx
        .read_csv(bucket.object_url(key), options)
        .await?
        .window(vec![row_number().alias(geo::ROW)])?;
    // In memory, the probe and the cast read the parsed strings instead of parsing again.
    let raw = if in_memory {
        ctx.read_batches(raw.collect().await?)?
    } else {
        raw
    };

    // Columns the catalog declares as text stay strings; all others are probed.
    let candidates: Vec<&String> = header
        .iter()
        .filter(|h| dataset.kind_of(h) != Some(Kind::Text))
        .collect();
    let probes = probe(executor, &raw, &candidates).await?;

    let mut columns = vec![];
    for name in &header {
        let declared = dataset.kind_of(name);
        let expr = match (declared, probes.iter().find(|(n, _)| n == name)) {
            (Some(Kind::Text), _) | (_, None) => c(name),
            (_, Some((_, p))) => {
                if let Some(row) = p.first_unparsable_row {
                    if declared.is_none() {
                        // An extra column that is not numeric: a string, as pandas infers.
                        columns.push(c(name));
                        continue;
                    }
                    let value = cell_value(executor, &raw, name, row).await?;
                    return Err(cell_error(
                        dataset_id,
                        key,
                        row,
                        name,
                        "not a number",
                        value,
                    ));
                }
                let float = p.missing > 0 || p.non_integer > 0;
                if name == YEAR_COLUMN {
                    if float {
                        let row = first_bad_year(executor, &raw).await?;
                        let value = cell_value(executor, &raw, name, row).await?;
                        return Err(cell_error(
                            dataset_id,
                            key,
                            row,
                            name,
                            "not a whole year",
                            value,
                        ));
                    }
                    columns.push(cast(c(name), DataType::Int64).alias(geo::DATE));
                    continue;
                }
                let kind = if float {
                    DataType::Float64
                } else {
                    DataType::Int64
                };
                cast(c(name), kind).alias(name.as_str())
            }
        };
        columns.push(expr);
    }
    columns.push(cast(c(geo::ROW), DataType::Int64).alias(geo::ROW));
    Ok(raw.select(columns)?)
}

fn cell_error(
    dataset: &str,
    file: &str,
    row: i64,
    column: &str,
    problem: &'static str,
    value: String,
) -> Error {
    Error::Cell {
        dataset: dataset.into(),
        file: file.into(),
        // Line 1 is the header; data row n is line n + 1.
        line: row as u64 + 1,
        column: column.into(),
        problem,
        value,
    }
}

async fn probe(
    executor: &dyn PlanExecutor,
    raw: &DataFrame,
    columns: &[&String],
) -> Result<Vec<(String, Probe)>> {
    if columns.is_empty() {
        return Ok(vec![]);
    }
    let row = cast(c(geo::ROW), DataType::Int64);
    let aggregates = columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            bydelsfakta_udfs::number_probe()
                .call(vec![c(name), row.clone()])
                .alias(format!("__p{i}"))
        })
        .collect();
    let batches = executor
        .collect_frame(raw.clone().aggregate(vec![], aggregates)?)
        .await?;
    let batch = single_row(&batches);
    Ok(columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let found = batch.column(i).as_struct();
            let [missing, non_integer, first_unparsable_row] = PROBE_FIELDS.map(|field| {
                let a = found
                    .column_by_name(field)
                    .expect("number_probe's fields")
                    .as_primitive::<Int64Type>();
                (!a.is_null(0)).then(|| a.value(0))
            });
            (
                name.to_string(),
                Probe {
                    missing: missing.unwrap_or(0),
                    non_integer: non_integer.unwrap_or(0),
                    first_unparsable_row,
                },
            )
        })
        .collect())
}

async fn first_bad_year(executor: &dyn PlanExecutor, raw: &DataFrame) -> Result<i64> {
    let v = c(YEAR_COLUMN);
    let bad = raw
        .clone()
        .filter(
            v.clone()
                .is_null()
                .or(not(regexp_like(v, lit(INTEGER), None))),
        )?
        .aggregate(vec![], vec![min(cast(c(geo::ROW), DataType::Int64))])?;
    let batches = executor.collect_frame(bad).await?;
    Ok(single_row(&batches)
        .column(0)
        .as_primitive::<Int64Type>()
        .value(0))
}

async fn cell_value(
    executor: &dyn PlanExecutor,
    raw: &DataFrame,
    column: &str,
    row: i64,
) -> Result<String> {
    let cell = raw
        .clone()
        .filter(cast(c(geo::ROW), DataType::Int64).eq(lit(row)))?
        .select(vec![c(column)])?;
    let batches = executor.collect_frame(cell).await?;
    let value = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| {
            let a = b.column(0).as_string::<i32>();
            if a.is_null(0) {
                String::new()
            } else {
                a.value(0).to_string()
            }
        })
        .unwrap_or_default();
    Ok(value)
}
