//! Only reading is allowed: DataFusion's `SQLOptions` with DDL (CREATE, DROP), DML (INSERT,
//! UPDATE, DELETE, COPY) and statements (SET, RESET, PREPARE, EXECUTE, transactions) all
//! off, checked on the whole plan, subqueries and `EXPLAIN` included, before anything runs.
//! Together with a catalog that holds only the bucket's tables (and no URL tables), no
//! query can read or write outside the bucket.

use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;

use super::SqlError;

/// The options the SQL session plans under.
pub fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Refuses a plan that would write, create, drop or change settings.
pub fn check(plan: &LogicalPlan) -> Result<(), SqlError> {
    read_only().verify_plan(plan).map_err(|e| {
        let message = e.strip_backtrace();
        let refused = message
            .strip_prefix("Error during planning: ")
            .unwrap_or(&message);
        SqlError::ReadOnly(format!(
            "read-only: only queries are allowed here; the bucket's datasets are never \
             created, changed or dropped, nor settings changed ({refused})"
        ))
    })
}
