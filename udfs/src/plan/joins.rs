//! pandas-style joins: `merge` matches missing keys with each other (docs/contract.md §5.2).

use datafusion::common::{Column, JoinType, NullEquality};
use datafusion::error::Result;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::prelude::*;

/// Joins on the given key columns with missing matching missing, as `pd.merge` does, so
/// that district and Oslo rows (no sub-district) join each other. The right side's columns
/// must not repeat the left side's names.
pub fn merge(
    left: DataFrame,
    right: DataFrame,
    join_type: JoinType,
    left_keys: &[&str],
    right_keys: &[&str],
) -> Result<DataFrame> {
    let (state, left) = left.into_parts();
    let plan = LogicalPlanBuilder::from(left)
        .join_detailed(
            right.into_unoptimized_plan(),
            join_type,
            (
                left_keys
                    .iter()
                    .map(|k| Column::new_unqualified(*k))
                    .collect::<Vec<_>>(),
                right_keys
                    .iter()
                    .map(|k| Column::new_unqualified(*k))
                    .collect::<Vec<_>>(),
            ),
            None,
            NullEquality::NullEqualsNull,
        )?
        .build()?;
    Ok(DataFrame::new(state, plan))
}

/// Every row of `left` with every row of `right` (a one-row frame, usually).
pub fn cross_join(left: DataFrame, right: DataFrame) -> Result<DataFrame> {
    let (state, left) = left.into_parts();
    let plan = LogicalPlanBuilder::from(left)
        .cross_join(right.into_unoptimized_plan())?
        .build()?;
    Ok(DataFrame::new(state, plan))
}

/// Renames every column of `df` with a prefix, so it can be joined to a frame with the
/// same names.
pub fn prefixed(df: DataFrame, prefix: &str) -> Result<DataFrame> {
    let columns = df
        .schema()
        .fields()
        .iter()
        .map(|f| super::c(f.name()).alias(format!("{prefix}{}", f.name())))
        .collect::<Vec<_>>();
    df.select(columns)
}

/// Drops rows with a missing cell in any column (pandas `dropna()`; NaN counts as missing).
pub fn drop_missing(df: DataFrame) -> Result<DataFrame> {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::functions::math::expr_fn::isnan;
    let condition = super::all_of(df.schema().fields().iter().map(|f| {
        let v = super::c(f.name());
        match f.data_type() {
            DataType::Float64 | DataType::Float32 => v.clone().is_not_null().and(not(isnan(v))),
            _ => v.is_not_null(),
        }
    }));
    df.filter(condition)
}
