//! Population from the age columns (docs/contract.md §6.2).

use datafusion::common::DFSchema;
use datafusion::error::Result;
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::prelude::*;

use super::c;
use crate::geo;

/// The age columns (`0`, `1`, ...) in schema order.
pub fn age_columns(schema: &DFSchema) -> Vec<String> {
    schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|name| name.parse::<u32>().is_ok())
        .collect()
}

/// The original's `generate_population_df`: per row the sum of the age columns from label
/// `min_age` through label `max_age` (position range; `max_age` capped at the last age
/// column), then summed over both genders per sub-district and year. Rows without a
/// complete geography are dropped. Columns: `date, delbydel_id, delbydel_navn, bydel_id,
/// bydel_navn, population`.
pub fn population(df: DataFrame, min_age: u32, max_age: u32) -> Result<DataFrame> {
    let ages = age_columns(df.schema());
    let last: u32 = match ages.last() {
        Some(last) => last.parse().expect("age columns are numbers"),
        None => return datafusion::common::plan_err!("population: the table has no age columns"),
    };
    let max_age = max_age.min(last);
    let start = ages.iter().position(|a| a == &min_age.to_string());
    let end = ages.iter().position(|a| a == &max_age.to_string());
    let (Some(start), Some(end)) = (start, end) else {
        return datafusion::common::plan_err!(
            "population: age columns {min_age} and {max_age} are required"
        );
    };
    let selected = ages[start..=end].iter().map(|a| c(a)).collect();
    let keys = [
        geo::DATE,
        geo::DELBYDEL_ID,
        geo::DELBYDEL_NAVN,
        geo::BYDEL_ID,
        geo::BYDEL_NAVN,
    ];
    let complete = super::all_present(&keys);
    // Only the keys and the sum go on: the wide age columns end at the first projection,
    // which keeps every later step (and its planning) narrow.
    let mut columns: Vec<Expr> = keys.iter().map(|k| c(k)).collect();
    columns.push(crate::row_sum().call(selected).alias("population"));
    df.select(columns)?.filter(complete)?.aggregate(
        keys.iter().map(|k| c(k)).collect(),
        vec![sum(c("population")).alias("population")],
    )
}
