//! Plan helpers: the original's shared transformations as DataFusion DataFrame operations.
//!
//! Each helper returns a lazy [`DataFrame`]; nothing runs until the caller executes the
//! final plan, so the same plan runs embedded or on a Ballista cluster.

mod joins;
mod population;
mod ratios;
mod rollup;
mod scale;
mod share;
mod years;

use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::SortExpr;
use datafusion::prelude::*;

pub use joins::{cross_join, drop_missing, merge, prefixed};
pub use population::{age_columns, population};
pub use ratios::add_ratios;
pub use rollup::{Agg, rollup, rollup_order};
pub use scale::{SCALE_COLUMNS, scale};
pub use share::{SharedFrames, share};
pub use years::{historic, status};

use crate::geo;

/// A column by its exact name (no identifier parsing, so `0` or `120` work).
pub fn c(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
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
