//! Typing the CSV text as pandas' `read_csv` would (docs/contract.md §2), embedded in memory or
//! as plans for a cluster, with the same probe, the same rules and the same errors.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch};
use datafusion::arrow::compute::{cast_with_options, concat_batches};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::config::ConfigNonZeroUsize;
use datafusion::common::format::DEFAULT_CAST_OPTIONS;
use datafusion::common::{ScalarValue, TableReference};
use datafusion::error::DataFusionError;
use datafusion::functions_aggregate::expr_fn::{count, min};
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::*;

use super::PlanExecutor;
use super::csv_errors::locate_csv_error;
use super::header::{check_header, read_header};
use super::lines::{DELIMITER, at_file_line};
use super::typed_record::{self, RecordedType, TypedRecord};
use crate::bucket::Bucket;
use crate::catalog::{self, Kind, YEAR_COLUMN};
use crate::error::{Error, Result};
use crate::publication::records::InputObject;
use bydelsfakta_udfs::geo;
use bydelsfakta_udfs::number_probe::NumberKind;
use bydelsfakta_udfs::plan::c;

/// The object's header, checked, and a scan of its cells as strings, in file order.
async fn text_scan(
    ctx: &SessionContext,
    bucket: &Bucket,
    dataset: &catalog::InputDataset,
    key: &str,
) -> Result<(Vec<String>, DataFrame)> {
    let store = ctx.runtime_env().object_store(bucket.store_url())?;
    let header = read_header(store.as_ref(), &bucket.path(key), dataset.id, key).await?;
    check_header(dataset, key, &header)?;
    let schema = Schema::new(
        header
            .iter()
            .map(|name| Field::new(name, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    );
    let options = CsvReadOptions::new()
        .delimiter(DELIMITER)
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
    let url = bucket.object_url(key);
    let (state, listed) = ctx.read_csv(url.as_str(), options).await?.into_parts();
    // Named by its object, so that scans of different objects never compare equal (shared
    // frames are found by plan, and DataFusion compares scans by name).
    let LogicalPlan::TableScan(listed) = listed else {
        return Err(DataFusionError::Internal(format!("read_csv planned {listed}")).into());
    };
    let named =
        LogicalPlanBuilder::scan(TableReference::bare(url), listed.source, None)?.build()?;
    let scan = DataFrame::new(state, named).select(cells)?;
    Ok((header, scan))
}

/// What one column becomes, from the catalog and (for number columns) the probe.
#[derive(Debug, Clone)]
enum ColumnType {
    Text,
    /// A number column of whole numbers only, as pandas' int64.
    Integer,
    /// A number column with a decimal or a missing cell, as pandas' float64.
    Float,
    /// `aar`, as the integer column `date`.
    Year,
}

impl ColumnType {
    /// The typed column's name and type, for the text column `name`.
    fn output<'n>(&self, name: &'n str) -> (&'n str, DataType) {
        match self {
            ColumnType::Text => (name, DataType::Utf8),
            ColumnType::Integer => (name, DataType::Int64),
            ColumnType::Float => (name, DataType::Float64),
            ColumnType::Year => (geo::DATE, DataType::Int64),
        }
    }

    fn recorded(&self) -> RecordedType {
        match self {
            ColumnType::Text => RecordedType::Text,
            ColumnType::Integer => RecordedType::Int64,
            ColumnType::Float => RecordedType::Float64,
            ColumnType::Year => RecordedType::Year,
        }
    }

    fn from_recorded(recorded: RecordedType) -> Self {
        match recorded {
            RecordedType::Text => ColumnType::Text,
            RecordedType::Int64 => ColumnType::Integer,
            RecordedType::Float64 => ColumnType::Float,
            RecordedType::Year => ColumnType::Year,
        }
    }
}

/// A column that cannot be typed, at the first row that shows it (data row n is the
/// object's record n + 1, the header is record 1).
struct BadColumn {
    row: i64,
    problem: &'static str,
}

impl BadColumn {
    /// The error naming the input, the row's record as its line, the column and the cell's
    /// `value`; [`at_file_line`] makes the record the file's line.
    fn error(self, dataset: &str, file: &str, column: &str, value: String) -> Error {
        Error::Cell {
            dataset: dataset.into(),
            file: file.into(),
            // The header is record 1; data row n is record n + 1.
            line: self.row as u64 + 1,
            column: column.into(),
            problem: self.problem,
            value,
        }
    }
}

/// The original's typing (docs/contract.md §2): declared text stays text; a number column with
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
        return match probe.first_non_integer_row.or(probe.first_out_of_range_row) {
            Some(row) => Err(BadColumn {
                row,
                problem: "not a whole year",
            }),
            None => Ok(ColumnType::Year),
        };
    }
    if float {
        return Ok(ColumnType::Float);
    }
    // A column of whole numbers is a column of 64-bit integers, as pandas reads it; a
    // number beyond them cannot be one of the platform's counts (docs/deviations.md D6).
    match probe.first_out_of_range_row {
        Some(row) => Err(BadColumn {
            row,
            problem: "a whole number beyond 64 bits",
        }),
        None => Ok(ColumnType::Integer),
    }
}

/// The columns the probe looks at: all but those the catalog declares as text.
fn probed_columns<'h>(dataset: &catalog::InputDataset, header: &'h [String]) -> Vec<&'h String> {
    header
        .iter()
        .filter(|h| dataset.kind_of(h) != Some(Kind::Text))
        .collect()
}

/// Rows per batch of the CSV decoder when an object is read into memory.
const IN_MEMORY_CSV_BATCH_ROWS: usize = 1024;

/// `e`, naming the line of object `key` where the record it names starts (its line is a
/// record's number until then; see [`at_file_line`]).
async fn with_file_line(ctx: &SessionContext, bucket: &Bucket, key: &str, e: Error) -> Error {
    match ctx.runtime_env().object_store(bucket.store_url()) {
        Ok(store) => at_file_line(e, store.as_ref(), &bucket.path(key)).await,
        Err(_) => e,
    }
}

/// Embedded: the object read, probed and cast in memory.
pub async fn typed_in_memory(
    ctx: &SessionContext,
    bucket: &Bucket,
    dataset: &catalog::InputDataset,
    key: &str,
) -> Result<RecordBatch> {
    let (header, scan) = text_scan(ctx, bucket, dataset, key).await?;
    match typed_batch(dataset, key, &header, scan).await {
        Err(e) => Err(with_file_line(ctx, bucket, key, e).await),
        typed => typed,
    }
}

/// The cells of `scan` probed and cast in memory; an error names a record as its line.
async fn typed_batch(
    dataset: &catalog::InputDataset,
    key: &str,
    header: &[String],
    scan: DataFrame,
) -> Result<RecordBatch> {
    let schema = scan.schema().inner().clone();
    // The CSV decoder sets aside, and zeroes, room for a batch's rows times the columns
    // (8,192 rows by default: 8 MB for the 127 age columns, whatever the file's rows); the
    // batches are joined into one here, so small ones cost nothing later.
    let (mut state, plan) = scan.into_parts();
    state.config_mut().options_mut().execution.batch_size =
        ConfigNonZeroUsize::try_new(IN_MEMORY_CSV_BATCH_ROWS)?;
    let batches = DataFrame::new(state, plan)
        .collect()
        .await
        .map_err(|e| locate_csv_error(e.into(), dataset.id, key, header))?;
    let text = concat_batches(&schema, &batches).map_err(DataFusionError::from)?;
    if text.num_rows() == 0 {
        return Err(no_rows(dataset.id, key));
    }
    // One partition, so the batches are in file order: row n is data record n (record
    // n + 1 of the object, whose header is record 1).
    let rows = Int64Array::from_iter_values(1..=text.num_rows() as i64);
    check_ids_in_memory(dataset, key, header, &text)?;
    let numbers = probed_columns(dataset, header);
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
/// An object typed by an earlier run that succeeded is cast as its record says, with no
/// probe job; otherwise it is probed, and the record to write after this run's success is
/// returned beside the frame. The object's row count comes from the probe or the record.
pub async fn typed_scan(
    ctx: &SessionContext,
    executor: &dyn PlanExecutor,
    bucket: &Bucket,
    dataset: &catalog::InputDataset,
    object: &InputObject,
) -> Result<(DataFrame, u64, Option<TypedRecord>)> {
    let key = object.key.as_str();
    let (header, scan) = text_scan(ctx, bucket, dataset, key).await?;
    let raw = scan.window(vec![row_number().alias(geo::ROW)])?;
    let record_key = typed_record::record_key(dataset, object);
    if let Some(record_key) = &record_key {
        let store = ctx.runtime_env().object_store(bucket.store_url())?;
        if let Some(record) =
            typed_record::read_record(store.as_ref(), bucket, record_key, object, &header).await
        {
            let types = record
                .columns
                .iter()
                .map(|(name, recorded)| (name.as_str(), ColumnType::from_recorded(*recorded)));
            return Ok((cast_columns(&raw, types)?, record.rows, None));
        }
    }
    let (types, rows) = match probed_types(executor, &raw, dataset, key, &header).await {
        Ok(probed) => probed,
        Err(e) => return Err(with_file_line(ctx, bucket, key, e).await),
    };
    let record = record_key.map(|record_key| TypedRecord {
        record_key,
        object_key: object.key.clone(),
        e_tag: object.e_tag.clone().unwrap_or_default(),
        columns: types
            .iter()
            .map(|(name, typed)| (name.to_string(), typed.recorded()))
            .collect(),
        rows,
    });
    let frame = cast_columns(&raw, types.iter().map(|(n, t)| (n.as_str(), t.clone())))?;
    Ok((frame, rows, record))
}

/// The scan with each column cast to its type, and the file's row number.
fn cast_columns<'n>(
    raw: &DataFrame,
    types: impl Iterator<Item = (&'n str, ColumnType)>,
) -> Result<DataFrame> {
    let mut columns: Vec<Expr> = types
        .map(|(name, typed)| match typed {
            ColumnType::Text => c(name),
            typed => {
                let (output, data_type) = typed.output(name);
                cast(c(name), data_type).alias(output)
            }
        })
        .collect();
    columns.push(cast(c(geo::ROW), DataType::Int64).alias(geo::ROW));
    Ok(raw.clone().select(columns)?)
}

/// Each column's type and the rows, by the probe job; the input's first problem as an error
/// that names a record as its line.
async fn probed_types(
    executor: &dyn PlanExecutor,
    raw: &DataFrame,
    dataset: &catalog::InputDataset,
    key: &str,
    header: &[String],
) -> Result<(Vec<(String, ColumnType)>, u64)> {
    let ids = IdColumns::of(dataset, header);
    let probed = probe(executor, raw, &probed_columns(dataset, header), &ids)
        .await
        .map_err(|e| locate_csv_error(e, dataset.id, key, header))?;
    if probed.rows == 0 {
        return Err(no_rows(dataset.id, key));
    }
    if let Some(row) = probed.first_bad_id_row {
        let mut values = [None, None];
        for (value, column) in values.iter_mut().zip([&ids.district, &ids.sub_district]) {
            if let Some(column) = column {
                *value = Some(cell_value(executor, raw, column, row).await?);
            }
        }
        let [district, sub_district] = values;
        let problem = bydelsfakta_udfs::district_ids::district_id_problem(
            district.as_deref().filter(|v| !v.is_empty()),
            sub_district.as_deref().filter(|v| !v.is_empty()),
            ids.legacy,
        )
        .expect("the probe found this row's ids wrong");
        let value = if problem.column == geo::BYDEL_ID {
            district
        } else {
            sub_district
        };
        return Err(id_error(
            dataset.id,
            key,
            row,
            problem,
            value.unwrap_or_default(),
        ));
    }
    let probes = probed.columns;
    let mut types = vec![];
    for name in header {
        let probe = probes.iter().find(|(n, _)| n == name).map(|(_, p)| p);
        match column_type(dataset, name, probe) {
            Ok(typed) => types.push((name.clone(), typed)),
            Err(bad) => {
                let value = cell_value(executor, raw, name, bad.row).await?;
                return Err(bad.error(dataset.id, key, name, value));
            }
        }
    }
    Ok((types, probed.rows as u64))
}

/// The one row of an aggregate without groups (a distributed run may add empty batches).
fn single_row(batches: &[RecordBatch]) -> &RecordBatch {
    batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .expect("an aggregate without groups yields one row")
}

/// What the probe query found about an input: each probed column's kind, how many rows
/// it has, and the first row whose geography ids cannot be right.
struct Probed {
    columns: Vec<(String, NumberKind)>,
    rows: i64,
    first_bad_id_row: Option<i64>,
}

/// One aggregate query over the input, where the engine runs it: the number probes, the
/// row count and the id check together.
async fn probe(
    executor: &dyn PlanExecutor,
    raw: &DataFrame,
    columns: &[&String],
    ids: &IdColumns,
) -> Result<Probed> {
    let row = cast(c(geo::ROW), DataType::Int64);
    let mut aggregates: Vec<Expr> = columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            bydelsfakta_udfs::number_probe()
                .call(vec![c(name), row.clone()])
                .alias(format!("__p{i}"))
        })
        .collect();
    aggregates.push(count(lit(1)).alias("__rows"));
    let id_problem = ids.problem_expr();
    if let Some(problem) = &id_problem {
        aggregates.push(
            min(when(problem.clone().is_not_null(), row.clone()).end()?).alias("__bad_id_row"),
        );
    }
    let batches = executor
        .collect_frame(raw.clone().aggregate(vec![], aggregates)?)
        .await?;
    let batch = single_row(&batches);
    let int = |i: usize| {
        let a = batch
            .column(i)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        a.is_valid(0).then(|| a.value(0))
    };
    Ok(Probed {
        columns: columns
            .iter()
            .enumerate()
            .map(|(i, name)| {
                (
                    name.to_string(),
                    NumberKind::from_probe(batch.column(i).as_struct(), 0),
                )
            })
            .collect(),
        rows: int(columns.len()).unwrap_or(0),
        first_bad_id_row: id_problem.and_then(|_| int(columns.len() + 1)),
    })
}

/// The geography id columns an input has, and the ids its functions drop on purpose.
struct IdColumns {
    district: Option<String>,
    sub_district: Option<String>,
    legacy: &'static [&'static str],
}

impl IdColumns {
    fn of(dataset: &catalog::InputDataset, header: &[String]) -> Self {
        let has = |column: &str| {
            header
                .iter()
                .any(|h| h == column)
                .then(|| column.to_string())
        };
        Self {
            district: has(geo::BYDEL_ID),
            sub_district: has(geo::DELBYDEL_ID),
            legacy: dataset.legacy_district_ids,
        }
    }

    /// `district_id_problem(...)` over the input's id columns, if it has any.
    fn problem_expr(&self) -> Option<Expr> {
        if self.district.is_none() && self.sub_district.is_none() {
            return None;
        }
        let column = |name: &Option<String>| match name {
            Some(name) => c(name),
            None => lit(ScalarValue::Utf8(None)),
        };
        Some(bydelsfakta_udfs::district_id_problem().call(vec![
            column(&self.district),
            column(&self.sub_district),
            lit(self.legacy.join(",")),
        ]))
    }
}

/// Embedded: the first row whose geography ids cannot be right, checked in memory with the
/// function the cluster's probe query calls.
fn check_ids_in_memory(
    dataset: &catalog::InputDataset,
    key: &str,
    header: &[String],
    text: &RecordBatch,
) -> Result<()> {
    let ids = IdColumns::of(dataset, header);
    let column = |name: &Option<String>| {
        name.as_ref().map(|n| {
            let i = header.iter().position(|h| h == n).expect("a header column");
            text.column(i).as_string::<i32>().clone()
        })
    };
    let (district, sub_district) = (column(&ids.district), column(&ids.sub_district));
    for i in 0..text.num_rows() {
        let (d, s) = (
            text_cell(district.as_ref(), i),
            text_cell(sub_district.as_ref(), i),
        );
        if let Some(problem) = bydelsfakta_udfs::district_ids::district_id_problem(d, s, ids.legacy)
        {
            let value = if problem.column == geo::BYDEL_ID {
                d
            } else {
                s
            };
            let value = value.unwrap_or_default().to_string();
            return Err(id_error(dataset.id, key, i as i64 + 1, problem, value));
        }
    }
    Ok(())
}

/// Cell `i` of a text column the input may not have.
fn text_cell(column: Option<&datafusion::arrow::array::StringArray>, i: usize) -> Option<&str> {
    column.and_then(|c| c.is_valid(i).then(|| c.value(i)))
}

fn id_error(
    dataset: &str,
    key: &str,
    row: i64,
    problem: bydelsfakta_udfs::district_ids::IdProblem,
    value: String,
) -> Error {
    BadColumn {
        row,
        problem: problem.problem,
    }
    .error(dataset, key, problem.column, value)
}

/// A header and no rows: no input of the platform is empty, and the original published a
/// document with no data for it (docs/deviations.md D7).
fn no_rows(dataset: &str, key: &str) -> Error {
    Error::InputFile {
        dataset: dataset.into(),
        file: key.into(),
        line: None,
        column: None,
        problem: "a header and no rows; an input without data cannot be right".into(),
    }
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
