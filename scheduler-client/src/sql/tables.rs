//! The bucket's processed datasets as SQL tables.
//!
//! Every dataset `<id>` under `processed/<confidentiality>/<id>/version=<v>/edition=<e>/`
//! becomes two tables, both DataFusion listing tables over the CSV objects (`;`, header) with
//! an explicit schema, so that a plan naming them can be shipped to a Ballista cluster:
//!
//! * `<name>` (the id with `-` as `_`): the latest version and edition;
//! * `<name>__editions`: every edition, with the partition columns `version` and `edition`.
//!
//! Columns keep the files' names. Their types: what the input catalog declares as text and
//! every id-like column (`*_id`) is Utf8, so `0101` stays `0101`; numbers are inferred from
//! every row of every edition (Int64 when all cells are whole, else Float64); pandas'
//! missing-value spellings are NULL, as the pipeline reads them. DataFusion's CSV reader
//! knows only the empty cell, so each table is a view: the objects scanned as text, then
//! `pandas_missing` and a cast per column.
//!
//! A table whose objects cannot be inferred (a bad row, a store that fails the read) is an
//! [`UnavailableTable`] with the reason, which a statement naming it is told.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::provider_as_source;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{LogicalPlanBuilder, cast};

use super::schemas::SchemaCache;
use crate::processed::{ProcessedDataset, processed_datasets};
use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_queries::catalog::{self, Kind};
use bydelsfakta_udfs::pandas_missing::pandas_missing_regex;

/// The suffix of the table that holds every edition of a dataset.
pub const EDITIONS_SUFFIX: &str = "__editions";

/// The partition columns of an editions table, from the object keys.
pub const PARTITION_COLUMNS: [&str; 2] = ["version", "edition"];

/// One table over a dataset's objects.
#[derive(Debug, Clone)]
pub struct SqlTable {
    pub name: String,
    pub dataset: String,
    /// `version=<v>/edition=<e>` of the latest edition, or how many editions the table holds.
    pub editions: String,
    pub provider: Arc<dyn TableProvider>,
}

impl SqlTable {
    pub fn schema(&self) -> SchemaRef {
        self.provider.schema()
    }
}

/// A view over `config`'s objects read as text (`typed`'s column names, every one Utf8)
/// that gives each column `typed`'s type: pandas' missing spellings become NULL first.
/// Partition columns (added by the listing options) pass through.
fn typed_view(
    name: &str,
    config: ListingTableConfig,
    typed: &Schema,
) -> datafusion::error::Result<Arc<dyn TableProvider>> {
    let text = Schema::new(
        typed
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    );
    let listing = ListingTable::try_new(config.with_schema(Arc::new(text)))?;
    let columns: Vec<_> = listing
        .schema()
        .fields()
        .iter()
        .map(|field| {
            let column = bydelsfakta_udfs::plan::c(field.name());
            match typed.field_with_name(field.name()).map(|f| f.data_type()) {
                Ok(DataType::Utf8) => bydelsfakta_udfs::pandas_missing()
                    .call(vec![column])
                    .alias(field.name()),
                Ok(data_type) => cast(
                    bydelsfakta_udfs::pandas_missing().call(vec![column]),
                    data_type.clone(),
                )
                .alias(field.name()),
                // A partition column.
                Err(_) => column,
            }
        })
        .collect();
    let plan = LogicalPlanBuilder::scan(name, provider_as_source(Arc::new(listing)), None)?
        .project(columns)?
        .build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

/// The table name of a dataset id.
pub fn table_name(dataset_id: &str) -> String {
    dataset_id.replace('-', "_")
}

/// Ids keep their leading zeros whatever the catalog knows.
fn id_like(column: &str) -> bool {
    column == "id" || column.ends_with("_id")
}

/// A table that could not be made from the bucket's objects, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnavailableTable {
    pub name: String,
    pub dataset: String,
    /// The error that an object of the dataset gave, naming it (and its line, for a bad
    /// row), or why its editions cannot share a table.
    pub reason: String,
}

impl UnavailableTable {
    /// What a statement that names the table is told.
    pub fn refusal(&self) -> String {
        format!("table '{}' is not available: {}", self.name, self.reason)
    }
}

/// The bucket's tables as found at one moment, and those that could not be made: one bad
/// object must not hide the other datasets, and a statement naming its table must be told
/// why it is missing.
#[derive(Debug, Clone, Default)]
pub struct TableSet {
    /// In name order.
    pub tables: Vec<SqlTable>,
    /// In name order.
    pub unavailable: Vec<UnavailableTable>,
}

impl TableSet {
    pub fn table(&self, name: &str) -> Option<&SqlTable> {
        self.tables.iter().find(|t| t.name == name)
    }

    pub fn unavailable(&self, name: &str) -> Option<&UnavailableTable> {
        self.unavailable.iter().find(|t| t.name == name)
    }

    /// The table a statement names: none if there is no such table, or the refusal to give
    /// when it could not be made.
    pub fn named(&self, name: &str) -> Result<Option<&SqlTable>, String> {
        match self.unavailable(name) {
            Some(unavailable) => Err(unavailable.refusal()),
            None => Ok(self.table(name)),
        }
    }
}

/// The tables of every processed dataset of `bucket`; `schemas` keeps what was inferred
/// from objects that have not changed since the last call.
pub(crate) async fn discover(
    state: &SessionState,
    bucket: &Bucket,
    schemas: &mut SchemaCache,
) -> crate::Result<TableSet> {
    let store = state.runtime_env().object_store(bucket.store_url())?;
    let mut set = TableSet::default();
    for dataset in processed_datasets(store.as_ref(), bucket).await? {
        for table in dataset_tables(state, bucket, &dataset, schemas).await {
            match table {
                Ok(table) => set.tables.push(table),
                Err(unavailable) => set.unavailable.push(unavailable),
            }
        }
    }
    set.tables.sort_by(|a, b| a.name.cmp(&b.name));
    set.unavailable.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(set)
}

fn csv_options() -> ListingOptions {
    let format = CsvFormat::default()
        .with_delimiter(b';')
        .with_has_header(true)
        .with_null_regex(Some(pandas_missing_regex()))
        // Every row: a column whose first decimal comes late must not be read as Int64.
        .with_schema_infer_max_rec(usize::MAX);
    // The pipeline reads whatever single object lies under an edition, whatever its name.
    ListingOptions::new(Arc::new(format)).with_file_extension("")
}

fn folder_url(bucket: &Bucket, prefix: &str) -> datafusion::error::Result<ListingTableUrl> {
    // The trailing slash makes it a folder to list rather than an object to look up.
    ListingTableUrl::parse(format!(
        "{}/",
        bucket.object_url(prefix).trim_end_matches('/')
    ))
}

/// The dataset's two tables, `<name>` (its latest edition) and `<name>__editions`, each made
/// or refused with its reason. An edition that cannot be read refuses the editions table,
/// and the latest table too when it is the latest.
async fn dataset_tables(
    state: &SessionState,
    bucket: &Bucket,
    dataset: &ProcessedDataset,
    schemas: &mut SchemaCache,
) -> [Result<SqlTable, UnavailableTable>; 2] {
    let name = table_name(&dataset.id);
    let editions_name = format!("{name}{EDITIONS_SUFFIX}");
    let refused = |table: &str, reason: String| UnavailableTable {
        name: table.to_string(),
        dataset: dataset.id.clone(),
        reason,
    };
    let format = csv_options().format;
    // Every edition is inferred, also after one failed, so that each object's schema is
    // kept for the next round.
    let mut inferred: Vec<Result<SchemaRef, String>> = vec![];
    for edition in &dataset.editions {
        inferred.push(match folder_url(bucket, &edition.prefix) {
            Ok(url) => schemas
                .edition_schema(
                    state,
                    bucket,
                    format.as_ref(),
                    &dataset.id,
                    &url,
                    edition.objects.as_deref(),
                )
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        });
    }
    let latest = match inferred.last().expect("a dataset has an edition") {
        Ok(schema) => {
            latest_table(bucket, dataset, &name, schema).map_err(|e| refused(&name, e.to_string()))
        }
        Err(reason) => Err(refused(&name, reason.clone())),
    };
    // The newest edition that failed refuses the editions table.
    let editions = match inferred.iter().rev().find_map(|r| r.as_ref().err()) {
        Some(reason) => Err(refused(&editions_name, reason.clone())),
        None => {
            let inferred: Vec<SchemaRef> = inferred.into_iter().flatten().collect();
            // An explicit schema maps columns by position, so editions whose headers
            // differ cannot share one table.
            match merge(&inferred) {
                Some(merged) => editions_table(bucket, dataset, &editions_name, &merged)
                    .map_err(|e| refused(&editions_name, e.to_string())),
                None => Err(refused(
                    &editions_name,
                    format!(
                        "its editions have different columns; only the latest is a table ('{name}')"
                    ),
                )),
            }
        }
    };
    [latest, editions]
}

/// `<name>`: the dataset's latest version and edition, whose objects have `inferred`.
fn latest_table(
    bucket: &Bucket,
    dataset: &ProcessedDataset,
    name: &str,
    inferred: &Schema,
) -> datafusion::error::Result<SqlTable> {
    let latest = dataset.latest();
    let config = ListingTableConfig::new(folder_url(bucket, &latest.prefix)?)
        .with_listing_options(csv_options());
    Ok(SqlTable {
        name: name.to_string(),
        dataset: dataset.id.clone(),
        editions: format!("version={}/edition={}", latest.version, latest.edition),
        provider: typed_view(name, config, &typed(&dataset.id, inferred))?,
    })
}

/// `<name>__editions`: every edition, whose objects' schemas merge to `merged`.
fn editions_table(
    bucket: &Bucket,
    dataset: &ProcessedDataset,
    name: &str,
    merged: &Schema,
) -> datafusion::error::Result<SqlTable> {
    // One folder per confidentiality the dataset was published under.
    let folders: std::collections::BTreeSet<String> = dataset
        .editions
        .iter()
        .map(|e| e.dataset_prefix(&dataset.id))
        .collect();
    let urls = folders
        .iter()
        .map(|f| folder_url(bucket, f))
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let options = csv_options().with_table_partition_cols(
        PARTITION_COLUMNS
            .iter()
            .map(|c| (c.to_string(), DataType::Utf8))
            .collect(),
    );
    let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options);
    Ok(SqlTable {
        provider: typed_view(name, config, &typed(&dataset.id, merged))?,
        name: name.to_string(),
        dataset: dataset.id.clone(),
        editions: match dataset.editions.len() {
            1 => "1 edition".into(),
            n => format!("{n} editions"),
        },
    })
}

/// The inferred schemas of several editions as one, if their columns are the same: a
/// column that is whole in one edition and decimal in another is Float64, anything mixed
/// with text is text.
fn merge(schemas: &[SchemaRef]) -> Option<Schema> {
    let first = schemas.first()?;
    let mut fields: Vec<Field> = first.fields().iter().map(|f| f.as_ref().clone()).collect();
    for schema in &schemas[1..] {
        if schema.fields().len() != fields.len() {
            return None;
        }
        for (field, other) in fields.iter_mut().zip(schema.fields()) {
            if field.name() != other.name() {
                return None;
            }
            let wider = match (field.data_type(), other.data_type()) {
                (a, b) if a == b => a.clone(),
                (DataType::Null, b) => b.clone(),
                (a, DataType::Null) => a.clone(),
                (DataType::Int64, DataType::Float64) | (DataType::Float64, DataType::Int64) => {
                    DataType::Float64
                }
                _ => DataType::Utf8,
            };
            *field = Field::new(field.name(), wider, true);
        }
    }
    Some(Schema::new(fields))
}

/// The catalog's kinds over the inferred types: text and ids are Utf8; a number column
/// without a single value is Int64; an unknown column without a value is text.
fn typed(dataset_id: &str, inferred: &Schema) -> SchemaRef {
    let known = catalog::input_dataset(dataset_id);
    let fields: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|field| {
            let name = field.name();
            let kind = known.and_then(|d| d.kind_of(name));
            let data_type = match (kind, field.data_type()) {
                _ if id_like(name) => DataType::Utf8,
                (Some(Kind::Text), _) => DataType::Utf8,
                (Some(Kind::Number), DataType::Null) => DataType::Int64,
                (None, DataType::Null) => DataType::Utf8,
                (_, inferred) => inferred.clone(),
            };
            Field::new(name, data_type, true)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(fields: &[(&str, DataType)]) -> SchemaRef {
        Arc::new(Schema::new(
            fields
                .iter()
                .map(|(n, t)| Field::new(*n, t.clone(), true))
                .collect::<Vec<_>>(),
        ))
    }

    #[test]
    fn names_turn_dashes_into_underscores() {
        assert_eq!(
            table_name("befolkning-etter-kjonn-og-alder"),
            "befolkning_etter_kjonn_og_alder"
        );
    }

    #[test]
    fn ids_and_catalog_text_stay_strings() {
        let inferred = schema(&[
            ("aar", DataType::Int64),
            ("delbydel_id", DataType::Int64),
            ("bydel_id", DataType::Int64),
            ("botid", DataType::Int64),
            ("innvandrer", DataType::Null),
            ("extra", DataType::Null),
            ("extra_id", DataType::Int64),
        ]);
        let typed = typed("botid", &inferred);
        let types: Vec<_> = typed
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        assert_eq!(
            types,
            [
                DataType::Int64,
                DataType::Utf8,
                DataType::Utf8,
                DataType::Utf8,
                DataType::Int64,
                DataType::Utf8,
                DataType::Utf8
            ]
        );
    }

    #[test]
    fn editions_merge_to_the_wider_type_or_not_at_all() {
        let a = schema(&[("aar", DataType::Int64), ("x", DataType::Int64)]);
        let b = schema(&[("aar", DataType::Int64), ("x", DataType::Float64)]);
        let merged = merge(&[a.clone(), b]).unwrap();
        assert_eq!(merged.field(1).data_type(), &DataType::Float64);
        let other_order = schema(&[("x", DataType::Int64), ("aar", DataType::Int64)]);
        assert!(merge(&[a, other_order]).is_none());
    }
}
