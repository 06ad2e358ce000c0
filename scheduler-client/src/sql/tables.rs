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
use datafusion::prelude::SessionContext;

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

/// The tables of every processed dataset of `bucket`, in name order. A dataset whose
/// objects cannot be read is left out with a warning: one bad file must not hide the rest.
pub async fn discover(ctx: &SessionContext, bucket: &Bucket) -> crate::Result<Vec<SqlTable>> {
    let store = ctx.runtime_env().object_store(bucket.store_url())?;
    let state = ctx.state();
    let mut tables = vec![];
    for dataset in processed_datasets(store.as_ref(), bucket).await? {
        match dataset_tables(&state, bucket, &dataset).await {
            Ok(mut found) => tables.append(&mut found),
            Err(e) => tracing::warn!(dataset = %dataset.id, "not available to SQL: {e}"),
        }
    }
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tables)
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

async fn dataset_tables(
    state: &SessionState,
    bucket: &Bucket,
    dataset: &ProcessedDataset,
) -> datafusion::error::Result<Vec<SqlTable>> {
    let name = table_name(&dataset.id);
    let mut inferred = vec![];
    for edition in &dataset.editions {
        let url = folder_url(bucket, &edition.prefix)?;
        inferred.push(csv_options().infer_schema(state, &url).await?);
    }
    let latest = dataset.latest();
    let latest_schema = typed(&dataset.id, inferred.last().expect("one edition at least"));
    let config = ListingTableConfig::new(folder_url(bucket, &latest.prefix)?)
        .with_listing_options(csv_options());
    let mut tables = vec![SqlTable {
        name: name.clone(),
        dataset: dataset.id.clone(),
        editions: format!("version={}/edition={}", latest.version, latest.edition),
        provider: typed_view(&name, config, &latest_schema)?,
    }];

    // An explicit schema maps columns by position, so editions whose headers differ cannot
    // share one table.
    let Some(merged) = merge(&inferred) else {
        tracing::warn!(
            dataset = %dataset.id,
            "editions have different columns; only the latest is a table"
        );
        return Ok(tables);
    };
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
    let editions_name = format!("{name}{EDITIONS_SUFFIX}");
    tables.push(SqlTable {
        provider: typed_view(&editions_name, config, &typed(&dataset.id, &merged))?,
        name: editions_name,
        dataset: dataset.id.clone(),
        editions: format!("{} editions", dataset.editions.len()),
    });
    Ok(tables)
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
