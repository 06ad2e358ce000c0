//! Ratio columns (docs/contract.md §5.3).

use datafusion::error::Result;
use datafusion::prelude::*;

use super::{c, with_columns};

/// Adds `<dp>_ratio = dp / (row sum of ratio_of)` for every data point, at whatever level
/// each row is: ratios are recomputed, never aggregated. `x/0` and `0/0` give ±inf and NaN,
/// which the document writer rejects with the entry's name.
pub fn add_ratios(df: DataFrame, data_points: &[&str], ratio_of: &[&str]) -> Result<DataFrame> {
    let total = crate::row_sum().call(ratio_of.iter().map(|name| c(name)).collect());
    let ratios = data_points
        .iter()
        .map(|dp| {
            let ratio = crate::ratio().call(vec![c(dp), total.clone()]);
            (format!("{dp}_ratio"), ratio)
        })
        .collect();
    with_columns(df, ratios)
}
