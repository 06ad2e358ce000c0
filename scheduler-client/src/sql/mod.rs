//! Ad-hoc SQL over the bucket's processed datasets, on the same engines as the pipeline
//! (embedded DataFusion, Ballista standalone or a remote cluster) and with our functions.
//!
//! * [`tables`]: each dataset as a listing table (latest edition) and an editions table,
//!   or why it cannot be one; [`schemas`] keeps what was inferred from each object;
//! * [`bucket_tables`]: the tables as last found, found again at an interval on the
//!   scheduler;
//! * [`catalog`]: a catalog of those tables that refuses changes;
//! * [`guard`]: statements that write, create, drop or set are refused before they run;
//! * [`limits`]: what one statement may cost (size, depth, memory, time).
//!
//! Results are printed, and the shell runs, in the `bydelsfakta-cli` crate.

pub mod bucket_tables;
pub mod catalog;
pub mod guard;
pub mod limits;
mod schemas;
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
use bucket_tables::BucketTables;
use bydelsfakta_queries::bucket::Bucket;
use limits::SqlLimits;
use tables::{SqlTable, TableSet};

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

    /// A table whose objects could not be read: why.
    #[error("{0}")]
    Unavailable(String),

    /// Too long or too deep to plan safely; refused before it is parsed.
    #[error("statement refused: {0}")]
    TooComplex(String),

    #[error("statement stopped after {} s (--statement-timeout)", .0.as_secs_f64())]
    Timeout(std::time::Duration),

    #[error("the result is larger than this session's memory limit of {0} bytes (--memory-limit)")]
    ResultTooLarge(usize),

    /// DataFusion's own message: parse, planning and execution errors. Not a `source`:
    /// the message already holds its causes' words, which a cause chain would repeat.
    #[error("{}", describe(.0))]
    DataFusion(DataFusionError),

    /// The engine failed inside a statement (a panic in a library below us).
    #[error("the engine failed on this statement: {0}")]
    Internal(String),

    #[error(transparent)]
    Engine(#[from] crate::Error),

    #[error("cannot format the result: {0}")]
    Output(String),
}

impl From<DataFusionError> for SqlError {
    fn from(e: DataFusionError) -> Self {
        SqlError::DataFusion(e)
    }
}

/// A DataFusion error in words: a syntax error as the parser words it (its debug form,
/// `ParserError("...")`, is what DataFusion shows, also inside a diagnostic wrapper),
/// anything else without its backtrace.
fn describe(e: &DataFusionError) -> String {
    match e.find_root() {
        DataFusionError::SQL(parser, _) => format!("syntax error: {parser}"),
        _ => e.strip_backtrace(),
    }
}

/// The message of a statement's task that panicked or was cancelled.
fn task_failure(e: tokio::task::JoinError) -> SqlError {
    if !e.is_panic() {
        return SqlError::Internal(e.to_string());
    }
    let payload = e.into_panic();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into());
    SqlError::Internal(message)
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
    tables: Arc<BucketTables>,
    limits: SqlLimits,
}

impl SqlSession {
    /// Finds the bucket's datasets and makes them the engine's only tables; statements run
    /// within `limits`.
    pub async fn open(
        engine: Engine,
        bucket: &Bucket,
        limits: SqlLimits,
    ) -> Result<Self, SqlError> {
        let engine = engine
            .with_every_optimizer_rule()
            .with_memory_limit(limits.memory_limit)?;
        let ctx = engine.context();
        for function in
            bydelsfakta_udfs::bounded::bounded_string_functions(limits.string_result_limit())
        {
            ctx.register_udf(Arc::unwrap_or_clone(function));
        }
        let tables = BucketTables::find(ctx.state(), bucket.clone()).await?;
        ctx.register_catalog_list(catalog::read_only_catalog(
            tables.clone(),
            &ctx.copied_config(),
        ));
        Ok(Self {
            engine,
            tables,
            limits,
        })
    }

    /// The tables found when the session opened, and those that could not be made.
    pub fn tables(&self) -> Arc<TableSet> {
        self.tables.current()
    }

    pub fn table(&self, name: &str) -> Result<SqlTable, SqlError> {
        let set = self.tables.current();
        let table = set.named(name).map_err(SqlError::Unavailable)?;
        table
            .cloned()
            .ok_or_else(|| SqlError::UnknownTable(name.into()))
    }

    /// Runs the statements of `sql` (separated by `;`) one after the other; the first
    /// that fails ends the run.
    pub async fn run(&self, sql: &str) -> Result<Vec<StatementResult>, SqlError> {
        self.limits.check_shape(sql).map_err(SqlError::TooComplex)?;
        let statements = DFParser::parse_sql(sql)?;
        if statements.is_empty() {
            return Err(SqlError::Empty);
        }
        let mut results = vec![];
        for statement in statements {
            let timeout = self.limits.statement_timeout;
            let (engine, limits) = (self.engine.clone(), self.limits);
            // A task of its own: an operator that computes long without yielding (a cross
            // join's output, counted) holds its thread, and the timeout must fire anyway.
            let mut task = tokio::spawn(async move {
                let plan = engine
                    .context()
                    .state()
                    .statement_to_plan(statement)
                    .await?;
                guard::check(&plan)?;
                execute(&engine, &limits, plan).await
            });
            match tokio::time::timeout(timeout, &mut task).await {
                Ok(Ok(result)) => results.push(result?),
                Ok(Err(failed)) => return Err(task_failure(failed)),
                Err(_) => {
                    // Stops the statement where it next yields; its streams are dropped.
                    task.abort();
                    return Err(SqlError::Timeout(timeout));
                }
            }
        }
        Ok(results)
    }
}

/// Plans and runs one statement's plan on `engine`, holding its result within `limits`.
async fn execute(
    engine: &Engine,
    limits: &SqlLimits,
    plan: LogicalPlan,
) -> Result<StatementResult, SqlError> {
    let frame = engine.context().execute_logical_plan(plan).await?;
    let schema = Arc::new(frame.schema().as_arrow().clone());
    // Catalog queries (SHOW, DESCRIBE, information_schema) and constant expressions
    // describe or need only this session; Ballista could not encode their scans.
    let batches = if engine.is_distributed() && reads_datasets(frame.logical_plan())? {
        let physical = frame.create_physical_plan().await?;
        engine.run_plan(physical).await?
    } else {
        // The result is held to be printed: it counts against the memory limit too.
        let mut stream = frame.execute_stream().await?;
        let (mut batches, mut bytes) = (vec![], 0usize);
        while let Some(batch) = futures::StreamExt::next(&mut stream).await {
            let batch = batch?;
            bytes += batch.get_array_memory_size();
            if bytes > limits.memory_limit {
                return Err(SqlError::ResultTooLarge(limits.memory_limit));
            }
            batches.push(batch);
        }
        batches
    };
    Ok(StatementResult { schema, batches })
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
