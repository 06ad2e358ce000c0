//! Plan helpers: the original's shared transformations as DataFusion DataFrame operations.
//!
//! Each helper returns a lazy [`DataFrame`]; nothing runs until the caller executes the
//! final plan, so the same plan runs embedded or on a Ballista cluster.

mod joins;
pub mod leaf;
mod population;
mod ratios;
mod rollup;
mod scale;
mod share;
mod years;

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{LogicalPlan, Projection, SortExpr};
use datafusion::prelude::*;

pub use joins::{cross_join, drop_missing, merge, prefixed};
pub use population::{age_columns, population};
pub use ratios::add_ratios;
pub use rollup::{Agg, rollup, rollup_order};
pub use scale::{SCALE_COLUMNS, scale};
pub use share::{FrameRun, PlannedFrames, SharedFrameExec, SharedFrames, share};
pub use years::{historic, status};

use crate::geo;

/// A column by its exact name (no identifier parsing, so `0` or `120` work).
/// Every condition holds (`true` when there is none): one AND over them, built as
/// DataFusion's `conjunction` builds it.
pub fn all_of(conditions: impl IntoIterator<Item = Expr>) -> Expr {
    datafusion::logical_expr::utils::conjunction(conditions).unwrap_or(lit(true))
}

/// Every one of `columns` has a value.
pub fn all_present(columns: &[&str]) -> Expr {
    all_of(columns.iter().map(|k| c(k).is_not_null()))
}

pub fn c(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// `df.select(exprs)` for expressions over `df`'s columns by name. The builder's `select`
/// looks every expression up among an aggregate input's outputs (hashing all of them per
/// expression), which is quadratic in the columns of the wide frames the rollups select
/// from; names resolve the same way here (an ambiguous name is an error).
pub fn select(df: DataFrame, exprs: Vec<Expr>) -> datafusion::error::Result<DataFrame> {
    let (state, plan) = df.into_parts();
    let schema = plan.schema();
    let exprs = exprs
        .into_iter()
        .map(|expr| {
            expr.transform_up(|e| match e {
                Expr::Column(column) if column.relation.is_none() => {
                    let (qualifier, field) =
                        schema.qualified_field_with_unqualified_name(&column.name)?;
                    Ok(Transformed::yes(Expr::Column(Column::from((
                        qualifier, field,
                    )))))
                }
                other => Ok(Transformed::no(other)),
            })
            .map(|t| t.data)
        })
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let projection = Projection::try_new(exprs, Arc::new(plan))?;
    Ok(DataFrame::new(state, LogicalPlan::Projection(projection)))
}

/// `df.with_column(name, expr)` for several columns in one projection (a projection per
/// column costs a schema each, over every column of a wide frame). Each expression reads
/// `df`'s own columns; a column of the same name is replaced where it stands and a new one
/// goes last, as `with_column` does.
pub fn with_columns(
    df: DataFrame,
    columns: Vec<(String, Expr)>,
) -> datafusion::error::Result<DataFrame> {
    let mut columns: Vec<Option<(String, Expr)>> = columns.into_iter().map(Some).collect();
    let mut exprs: Vec<Expr> = df
        .schema()
        .iter()
        .map(|(qualifier, field)| {
            let replacing = columns
                .iter_mut()
                .find(|c| c.as_ref().is_some_and(|(name, _)| name == field.name()))
                .and_then(Option::take);
            match replacing {
                Some((name, expr)) => expr.alias(name),
                None => Expr::Column(Column::from((qualifier, field))),
            }
        })
        .collect();
    exprs.extend(
        columns
            .into_iter()
            .flatten()
            .map(|(name, expr)| expr.alias(name)),
    );
    select(df, exprs)
}

/// A typed missing string, for the sub-district columns of district and Oslo rows.
pub fn null_str() -> Expr {
    lit(ScalarValue::Utf8(None))
}

/// Keeps rows whose district is not Sentrum, Marka or Uten registrert adresse.
/// A missing district is kept, as pandas' `~isin` keeps it.
pub fn without_pseudo_districts(df: DataFrame) -> datafusion::error::Result<DataFrame> {
    let pseudo = geo::PSEUDO_DISTRICTS.iter().map(|id| lit(*id)).collect();
    df.filter(
        c(geo::BYDEL_ID)
            .is_null()
            .or(c(geo::BYDEL_ID).in_list(pseudo, true)),
    )
}

/// Sort expressions, ascending with missing values last (pandas' default).
pub fn ascending(columns: &[&str]) -> Vec<SortExpr> {
    columns
        .iter()
        .map(|name| c(name).sort(true, false))
        .collect()
}

/// `df` unchanged, and the plan fails with `message` unless `condition` holds on every row
/// of `check` (usually a one-row aggregate). The check is a branch of a union with `df`, so
/// it runs even when `df` is empty or a join would never read it (a cross join skips its
/// other side when one side is empty).
///
/// Guard the frame a plan outputs, not one that later filters and aggregations read: on
/// Ballista a later filter was pushed into the branch and emptied the check's input
/// (flyttehyppighet_inn_kat's check then failed on good data).
pub fn guarded(
    df: DataFrame,
    check: DataFrame,
    condition: Expr,
    message: Expr,
) -> datafusion::error::Result<DataFrame> {
    // `ensure` is true or fails, so no row passes. Every column of the branch derives from
    // its (volatile, never folded or moved) result, so no predicate of a later filter can
    // be pushed below it into `check`'s rows.
    const OK: &str = "__guard_ok";
    let nulls = df
        .schema()
        .fields()
        .iter()
        .map(|f| {
            Ok(when(c(OK), lit(ScalarValue::try_from(f.data_type())?))
                .end()?
                .alias(f.name()))
        })
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let none = check
        .select(vec![
            crate::ensure().call(vec![condition, message]).alias(OK),
        ])?
        .filter(not(c(OK)))?
        .select(nulls)?;
    df.union(none)
}

/// Fails the plan with `message` unless `condition` holds on at least one row of `df`
/// (the original's KeyErrors on a category or year that never occurs); rows unchanged.
/// `message` may use the row's columns; the largest message text is reported.
pub fn require_any(
    df: DataFrame,
    condition: Expr,
    message: Expr,
) -> datafusion::error::Result<DataFrame> {
    use datafusion::functions_aggregate::expr_fn::max;
    let df = share(df)?;
    let columns: Vec<Expr> = df.schema().fields().iter().map(|f| c(f.name())).collect();
    let hit = when(condition, lit(1i64)).otherwise(lit(0i64))?;
    let check = df
        .clone()
        .aggregate(
            vec![],
            vec![max(hit).alias("__found"), max(message).alias("__message")],
        )?
        .filter(crate::ensure().call(vec![c("__found").eq(lit(1i64)), c("__message")]))?;
    cross_join(df, check)?.select(columns)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::pretty::pretty_format_batches;

    use super::*;

    async fn text(df: DataFrame) -> String {
        let batches = df.collect().await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    #[tokio::test]
    async fn with_columns_replaces_in_place_and_appends_as_with_column_does() {
        let ctx = SessionContext::new();
        let df = ctx
            .sql("SELECT * FROM (VALUES (1, 10, 'a'), (2, 20, 'b')) t(x, y, z)")
            .await
            .unwrap();
        let chained = df
            .clone()
            .with_column("y", c("x") + c("y"))
            .unwrap()
            .with_column("w", c("x") * lit(2))
            .unwrap();
        let at_once = with_columns(
            df,
            vec![("y".into(), c("x") + c("y")), ("w".into(), c("x") * lit(2))],
        )
        .unwrap();
        assert_eq!(at_once.schema(), chained.schema());
        let expected = "\
+---+----+---+---+
| x | y  | z | w |
+---+----+---+---+
| 1 | 11 | a | 2 |
| 2 | 22 | b | 4 |
+---+----+---+---+";
        assert_eq!(text(at_once).await, expected);
        assert_eq!(text(chained).await, expected);
    }
}
