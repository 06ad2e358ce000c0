//! Reads the one CSV object under an input prefix into a typed DataFrame (00-common §1.3, §2).
//!
//! 1. List the prefix (S3 prefix semantics): no object or more than one is an error.
//! 2. Read the header and check it against the catalog: an explicit schema maps columns by
//!    position, so a file with other columns must fail here, naming what differs.
//! 3. Scan with DataFusion's CSV reader (`;`, header), every column as a string with pandas'
//!    missing-value spellings as missing (`udfs::pandas_missing`), and probe each number
//!    column (`udfs::number_probe`): does it parse, has it a missing cell or a decimal (then
//!    it is float, as pandas would make it)?
//! 4. Cast each column to its kind; `aar` becomes the integer column `date`; `__row` keeps the
//!    file's line order.
//!
//! Where the plans run decides how: for a cluster, the probe and the casts are plans that
//! run where the scan runs; embedded, the file is read into memory once per batch and
//! probed and cast there, column by column, with the same probe and the same cast kernel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch};
use datafusion::arrow::compute::{cast_with_options, concat_batches};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::TableReference;
use datafusion::common::format::DEFAULT_CAST_OPTIONS;
use datafusion::datasource::{MemTable, provider_as_source};
use datafusion::error::DataFusionError;
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
use crate::publication::records::InputObject;
use bydelsfakta_udfs::geo;
use bydelsfakta_udfs::number_probe::NumberKind;
use bydelsfakta_udfs::plan::c;

/// The single object under `prefix`, with S3 prefix semantics (`a/b` also matches
/// `a/bc/...`).
pub async fn locate_single_object(
    store: &dyn ObjectStore,
    bucket: &Bucket,
    dataset: &str,
    prefix: &str,
) -> Result<InputObject> {
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
    let mut found: Vec<InputObject> = listed
        .into_iter()
        .map(|meta| {
            let key = bucket.key(&meta.location);
            InputObject::new(dataset, key, meta.size, meta.e_tag)
        })
        .filter(|object| {
            let key = &object.key;
            let rest = key.strip_prefix(dir).unwrap_or(key).trim_start_matches('/');
            rest.starts_with(partial)
        })
        .collect();
    match found.len() {
        0 => Err(Error::EmptyPrefix {
            dataset: dataset.into(),
            prefix: prefix.into(),
        }),
        1 => Ok(found.remove(0)),
        _ => {
            let mut objects: Vec<String> = found.into_iter().map(|o| o.key).collect();
            objects.sort();
            Err(Error::MultipleFiles {
                dataset: dataset.into(),
                prefix: prefix.into(),
                objects,
            })
        }
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

/// Reads input `dataset_id` from the single object under `prefix` of `bucket`; returns
/// the typed frame and the object it read.
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
) -> Result<(DataFrame, InputObject)> {
    let dataset = catalog::input_dataset(dataset_id)
        .ok_or_else(|| Error::UnknownDataset(dataset_id.into()))?;
    let store = ctx.runtime_env().object_store(bucket.store_url())?;
    let object = locate_single_object(store.as_ref(), bucket, dataset_id, prefix).await?;
    let frame = read_object(ctx, executor, bucket, dataset, &object.key, cache).await?;
    Ok((frame, object))
}

/// Reads the object `key` as input `dataset`, through the cache if there is one.
async fn read_object(
    ctx: &SessionContext,
    executor: &dyn PlanExecutor,
    bucket: &Bucket,
    dataset: &'static catalog::InputDataset,
    key: &str,
    cache: Option<&InputCache>,
) -> Result<DataFrame> {
    let dataset_id = dataset.id;
    let Some(cache) = cache else {
        return typed_scan(ctx, executor, bucket, dataset, key).await;
    };
    let url = bucket.object_url(key);
    let cell = cache.cell(&url);
    let table = cell
        .get_or_try_init(|| async {
            let started = std::time::Instant::now();
            let batch = typed_in_memory(ctx, bucket, dataset, key).await?;
            tracing::debug!(
                dataset = dataset_id,
                rows = batch.num_rows(),
                ms = started.elapsed().as_secs_f64() * 1000.0,
                "input read into memory"
            );
            Ok::<_, Error>(Arc::new(MemTable::try_new(
                batch.schema(),
                vec![vec![batch]],
            )?))
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

/// The object's header, checked, and a scan of its cells as strings, in file order.
async fn text_scan(
    ctx: &SessionContext,
    bucket: &Bucket,
    dataset: &catalog::InputDataset,
    key: &str,
) -> Result<(Vec<String>, DataFrame)> {
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
        .file_extension("");
    let cells: Vec<Expr> = header
        .iter()
        .map(|name| {
            bydelsfakta_udfs::pandas_missing()
                .call(vec![c(name)])
                .alias(name)
        })
        .collect();
    let scan = ctx
        .read_csv(bucket.object_url(key), options)
        .await?
        .select(cells)?;
    Ok((header, scan))
}

/// What one column becomes, from the catalog and (for number columns) the probe.
enum ColumnType {
    Text,
    Number(DataType),
    /// `aar`, as the integer column `date`.
    Year,
}

impl ColumnType {
    /// The typed column's name and type, for the text column `name`.
    fn output<'n>(&self, name: &'n str) -> (&'n str, DataType) {
        match self {
            ColumnType::Text => (name, DataType::Utf8),
            ColumnType::Number(data_type) => (name, data_type.clone()),
            ColumnType::Year => (geo::DATE, DataType::Int64),
        }
    }
}

/// A column that cannot be typed, at the first row that shows it.
struct BadColumn {
    row: i64,
    problem: &'static str,
}

impl BadColumn {
    /// The error naming the input, line, column and the cell's `value`.
    fn error(self, dataset: &str, file: &str, column: &str, value: String) -> Error {
        Error::Cell {
            dataset: dataset.into(),
            file: file.into(),
            // Line 1 is the header; data row n is line n + 1.
            line: self.row as u64 + 1,
            column: column.into(),
            problem: self.problem,
            value,
        }
    }
}

/// The original's typing (00-common §2): declared text stays text; a number column with
/// a cell that does not parse fails (an extra, undeclared column stays text); one missing
/// cell or decimal makes a column float; the year must be whole.
fn column_type(
    dataset: &catalog::InputDataset,
    name: &str,
    probe: Option<&NumberKind>,
) -> std::result::Result<ColumnType, BadColumn> {
    let declared = dataset.kind_of(name);
    let Some(probe) = probe.filter(|_| declared != Some(Kind::Text)) else {
        return Ok(ColumnType::Text);
    };
    if let Some(row) = probe.first_unparsable_row {
        return match declared {
            None => Ok(ColumnType::Text),
            Some(_) => Err(BadColumn {
                row,
                problem: "not a number",
            }),
        };
    }
    let float = probe.missing > 0 || probe.non_integer > 0;
    if name == YEAR_COLUMN {
        return match probe.first_non_integer_row {
            Some(row) => Err(BadColumn {
                row,
                problem: "not a whole year",
            }),
            None => Ok(ColumnType::Year),
        };
    }
    Ok(ColumnType::Number(if float {
        DataType::Float64
    } else {
        DataType::Int64
    }))
}

/// The columns the probe looks at: all but those the catalog declares as text.
fn probed<'h>(dataset: &catalog::InputDataset, header: &'h [String]) -> Vec<&'h String> {
    header
        .iter()
        .filter(|h| dataset.kind_of(h) != Some(Kind::Text))
        .collect()
}

/// Embedded: the object read, probed and cast in memory.
async fn typed_in_memory(
    ctx: &SessionContext,
    bucket: &Bucket,
    dataset: &catalog::InputDataset,
    key: &str,
) -> Result<RecordBatch> {
    let (header, scan) = text_scan(ctx, bucket, dataset, key).await?;
    let schema = scan.schema().inner().clone();
    let text = concat_batches(&schema, &scan.collect().await?).map_err(DataFusionError::from)?;
    // One partition, so the batches are in file order: row n is data line n.
    let rows = Int64Array::from_iter_values(1..=text.num_rows() as i64);
    let numbers = probed(dataset, &header);
    let mut fields = vec![];
    let mut columns: Vec<ArrayRef> = vec![];
    for (i, name) in header.iter().enumerate() {
        let column = text.column(i);
        let (probe, integers) = if numbers.contains(&name) {
            let mut kind = NumberKind::default();
            let integers = kind.add_whole_numbers(column, &rows)?;
            (Some(kind), integers)
        } else {
            (None, None)
        };
        let (name, data_type) = match column_type(dataset, name, probe.as_ref()) {
            Ok(typed) => typed.output(name),
            Err(bad) => {
                let cells = column.as_string::<i32>();
                let at = (bad.row - 1) as usize;
                let value = cells.is_valid(at).then(|| cells.value(at).to_string());
                return Err(bad.error(dataset.id, key, name, value.unwrap_or_default()));
            }
        };
        fields.push(Field::new(name, data_type.clone(), true));
        // A whole number converts to the same float from its digits as from its integer.
        let source = match (&integers, &data_type) {
            (Some(integers), DataType::Int64 | DataType::Float64) => integers,
            _ => column,
        };
        columns.push(
            cast_with_options(source, &data_type, &DEFAULT_CAST_OPTIONS)
                .map_err(DataFusionError::from)?,
        );
    }
    fields.push(Field::new(geo::ROW, DataType::Int64, false));
    columns.push(Arc::new(rows));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(DataFusionError::from)?)
}

/// For a cluster: the scan, probe and casts as plans that run where the engine runs them.
async fn typed_scan(
    ctx: &SessionContext,
    executor: &dyn PlanExecutor,
    bucket: &Bucket,
    dataset: &catalog::InputDataset,
    key: &str,
) -> Result<DataFrame> {
    let (header, scan) = text_scan(ctx, bucket, dataset, key).await?;
    let raw = scan.window(vec![row_number().alias(geo::ROW)])?;
    let probes = probe(executor, &raw, &probed(dataset, &header)).await?;
    let mut columns = vec![];
    for name in &header {
        let probe = probes.iter().find(|(n, _)| n == name).map(|(_, p)| p);
        columns.push(match column_type(dataset, name, probe) {
            Ok(ColumnType::Text) => c(name),
            Ok(typed) => {
                let (output, data_type) = typed.output(name);
                cast(c(name), data_type).alias(output)
            }
            Err(bad) => {
                let value = cell_value(executor, &raw, name, bad.row).await?;
                return Err(bad.error(dataset.id, key, name, value));
            }
        });
    }
    columns.push(cast(c(geo::ROW), DataType::Int64).alias(geo::ROW));
    Ok(raw.select(columns)?)
}

/// The one row of an aggregate without groups (a distributed run may add empty batches).
fn single_row(batches: &[RecordBatch]) -> &RecordBatch {
    batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .expect("an aggregate without groups yields one row")
}

async fn probe(
    executor: &dyn PlanExecutor,
    raw: &DataFrame,
    columns: &[&String],
) -> Result<Vec<(String, NumberKind)>> {
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
            (
                name.to_string(),
                NumberKind::from_probe(batch.column(i).as_struct(), 0),
            )
        })
        .collect())
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
