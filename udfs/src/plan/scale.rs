//! The `scale` of a document's metadata (docs/contract.md §6.6).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::functions::math::expr_fn::isnan;
use datafusion::functions_aggregate::expr_fn::{count, max, min};
use datafusion::prelude::*;

use super::{c, share, without_pseudo_districts};
use crate::geo;

/// Columns of the one-row frame [`scale`] returns: value min/max, ratio min/max.
pub const SCALE_COLUMNS: [&str; 4] = [
    "__scale_value_min",
    "__scale_value_max",
    "__scale_ratio_min",
    "__scale_ratio_max",
];

/// `get_min_max_values_and_ratios(df, column)`: min and max of `column` and of
/// `<column>_ratio` over the latest year's rows, pseudo districts left out, as floats. A
/// column the frame does not have gives `[0.0, 0.0]` (the original's silent behaviour, which
/// bygningstyper relies on). All values missing gives missing, which the writer rejects.
pub fn scale(df: DataFrame, column: &str) -> Result<DataFrame> {
    let df = share(without_pseudo_districts(df)?)?;
    let latest = df
        .clone()
        .aggregate(vec![], vec![max(c(geo::DATE)).alias("__latest")])?;
    let df = df.join(
        latest,
        datafusion::common::JoinType::LeftSemi,
        &[geo::DATE],
        &["__latest"],
        None,
    )?;
    let ratio = format!("{column}_ratio");
    let mut aggregates = vec![count(lit(1)).alias("__rows")];
    let mut bounds = vec![];
    for (name, [low, high]) in [(column, [0, 1]), (ratio.as_str(), [2, 3])] {
        if df.schema().has_column_with_unqualified_name(name) {
            // pandas' min and max skip NaN as they skip missing values.
            let v = cast(c(name), DataType::Float64);
            let v = when(isnan(v.clone()), lit(ScalarValue::Float64(None))).otherwise(v)?;
            aggregates.push(min(v.clone()).alias(SCALE_COLUMNS[low]));
            aggregates.push(max(v).alias(SCALE_COLUMNS[high]));
            bounds.push(c(SCALE_COLUMNS[low]));
            bounds.push(c(SCALE_COLUMNS[high]));
        } else {
            bounds.push(lit(0.0f64).alias(SCALE_COLUMNS[low]));
            bounds.push(lit(0.0f64).alias(SCALE_COLUMNS[high]));
        }
    }
    df.aggregate(vec![], aggregates)?.select(bounds)
}
