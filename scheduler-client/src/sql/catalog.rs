//! A catalog that holds the bucket's tables and nothing else, and refuses changes: on the
//! scheduler, Ballista's Flight SQL frontend runs DDL against the session's catalog itself
//! (nothing there checks a statement for writes; the cluster's own Flight SQL guard holds
//! statements to the limits only), so `CREATE VIEW`, `CREATE EXTERNAL TABLE`, `DROP TABLE` and
//! `CREATE SCHEMA` must fail here. [`super::SqlSession::run`], which the CLI uses, refuses them
//! earlier, with [`super::guard`].

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionConfig;

use super::bucket_tables::BucketTables;

const READ_ONLY: &str =
    "read-only: the bucket's datasets are queried here, never created, changed or dropped";

fn refused(what: &str) -> DataFusionError {
    DataFusionError::Plan(format!("{READ_ONLY} ({what} refused)"))
}

/// The tables, in the session's default catalog and schema (`datafusion.public`): the set
/// that `tables` found last, whenever a statement is planned. A table that could not be
/// made refuses a statement that names it, saying why.
pub fn read_only_catalog(
    tables: Arc<BucketTables>,
    config: &SessionConfig,
) -> Arc<dyn CatalogProviderList> {
    let options = &config.options().catalog;
    let schema = Arc::new(ReadOnlySchema { tables });
    Arc::new(ReadOnlyCatalogList {
        name: options.default_catalog.clone(),
        catalog: Arc::new(ReadOnlyCatalog {
            name: options.default_schema.clone(),
            schema,
        }),
    })
}

#[derive(Debug)]
struct ReadOnlySchema {
    tables: Arc<BucketTables>,
}

#[async_trait]
impl SchemaProvider for ReadOnlySchema {
    fn table_names(&self) -> Vec<String> {
        let set = self.tables.current();
        set.tables.iter().map(|t| t.name.clone()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let set = self.tables.current();
        let table = set.named(name).map_err(DataFusionError::Plan)?;
        Ok(table.map(|t| t.provider.clone()))
    }

    fn register_table(
        &self,
        name: String,
        _table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        Err(refused(&format!("creating table '{name}'")))
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Err(refused(&format!("dropping table '{name}'")))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.current().table(name).is_some()
    }
}

#[derive(Debug)]
struct ReadOnlyCatalog {
    name: String,
    schema: Arc<ReadOnlySchema>,
}

impl CatalogProvider for ReadOnlyCatalog {
    fn schema_names(&self) -> Vec<String> {
        vec![self.name.clone()]
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        (name == self.name).then(|| self.schema.clone() as Arc<dyn SchemaProvider>)
    }

    fn register_schema(
        &self,
        name: &str,
        _schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        Err(refused(&format!("creating schema '{name}'")))
    }

    fn deregister_schema(
        &self,
        name: &str,
        _cascade: bool,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        Err(refused(&format!("dropping schema '{name}'")))
    }
}

#[derive(Debug)]
struct ReadOnlyCatalogList {
    name: String,
    catalog: Arc<ReadOnlyCatalog>,
}

impl CatalogProviderList for ReadOnlyCatalogList {
    /// The trait cannot refuse; a new catalog is simply not kept, so it holds nothing.
    fn register_catalog(
        &self,
        _name: String,
        _catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        vec![self.name.clone()]
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        (name == self.name).then(|| self.catalog.clone() as Arc<dyn CatalogProvider>)
    }
}
