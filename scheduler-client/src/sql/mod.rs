//! Ad-hoc SQL over the bucket's processed datasets, on the same engines as the pipeline
//! (embedded DataFusion, Ballista standalone or a remote cluster) and with our functions.
//!
//! * [`tables`]: each dataset as a listing table (latest edition) and an editions table;
//! * [`catalog`]: a catalog of those tables that refuses changes;
//! * [`guard`]: statements that write, create, drop or set are refused before they run;
//! * [`output`]: results as a table, CSV, JSON or NDJSON;
//! * [`shell`]: the interactive shell.

pub mod catalog;
pub mod guard;
pub mod output;
pub mod shell;
pub mod tables;

use std::sync::Arc;

use ballista_core::planner::scans_only_information_schema;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::DFParser;

use crate::engine::Engine;
use bydelsfakta_queries::bucket::Bucket;
use tables::SqlTable;

/// Why a statement gave no result.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// A statement that would write, create, drop or change settings.
    #[error("{0}")]
    ReadOnly(String),

    #[error("no SQL statement given")]
    Empty,

    #[error("no table '{0}'; \\d lists the tables")]
    UnknownTable(String),

    /// DataFusion's own message: parse, planning and execution errors.
    #[error("{}", .0.strip_backtrace())]
    DataFusion(#[from] DataFusionError),

    #[error(transparent)]
    Engine(#[from] crate::Error),

    #[error("cannot format the result: {0}")]
    Output(String),
}

/// What one statement returned.
#[derive(Debug, Clone)]
pub struct StatementResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl StatementResult {
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// An engine whose catalog is the bucket's tables.
pub struct SqlSession {
    engine: Engine,
    tables: Vec<SqlTable>,
}

impl SqlSession {
    /// Finds the bucket's datasets and makes them the engine's only tables.
    pub async fn open(engine: Engine, bucket: &Bucket) -> Result<Self, SqlError> {
        let ctx = engine.context();
        let tables = tables::discover(ctx, bucket).await?;
        ctx.register_catalog_list(catalog::read_only_catalog(&tables, &ctx.copied_config()));
        Ok(Self { engine, tables })
    }

    pub fn tables(&self) -> &[SqlTable] {
        &self.tables
    }

    pub fn table(&self, name: &str) -> Result<&SqlTable, SqlError> {
        self.tables
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| SqlError::UnknownTable(name.into()))
    }

    /// Runs the statements of `sql` (separated by `;`) one after the other; the first
    /// that fails ends the run.
    pub async fn run(&self, sql: &str) -> Result<Vec<StatementResult>, SqlError> {
        let statements = DFParser::parse_sql(sql)?;
        if statements.is_empty() {
            return Err(SqlError::Empty);
        }
        let mut results = vec![];
        for statement in statements {
            let plan = self
                .engine
                .context()
                .state()
                .statement_to_plan(statement)
                .await?;
            guard::check(&plan)?;
            results.push(self.execute(plan).await?);
        }
        Ok(results)
    }

    async fn execute(&self, plan: LogicalPlan) -> Result<StatementResult, SqlError> {
        let frame = self.engine.context().execute_logical_plan(plan).await?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        // Catalog queries (SHOW, DESCRIBE, information_schema) and constant expressions
        // describe or need only this session; Ballista could not encode their scans.
        let batches = if self.engine.is_distributed() && reads_datasets(frame.logical_plan())? {
            let physical = frame.create_physical_plan().await?;
            self.engine.run_plan(physical).await?
        } else {
            frame.collect().await?
        };
        Ok(StatementResult { schema, batches })
    }
}

/// Whether the plan scans a table other than information_schema's (and none of those:
/// Ballista refuses the mix, with its own message).
fn reads_datasets(plan: &LogicalPlan) -> Result<bool, DataFusionError> {
    if scans_only_information_schema(plan)? {
        return Ok(false);
    }
    let mut scans = false;
    plan.apply_with_subqueries(|node| {
        scans |= matches!(node, LogicalPlan::TableScan(_));
        Ok(if scans {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    Ok(scans)
}
