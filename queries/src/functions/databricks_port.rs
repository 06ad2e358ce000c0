//! Habits of the Databricks port's `Output` class that reach the bytes of its three jobs
//! (`median_totalpris`, `neets`, `utdanning`; `tests/fixtures/PORT-JOBS.md`). The original's 24
//! functions do none of this, so nothing here is used by them.

use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::*;

use crate::Result;
use crate::output::Output;
use bydelsfakta_udfs::plan::c;
use bydelsfakta_udfs::round_half_even;

/// Decimals of the port's `df.round(4)`.
const DECIMALS: i64 = 4;

/// The port rounds every float column of the final frame (values and ratios, not the
/// scale, which it computed before) as numpy does; integer columns are left alone.
pub fn rounded(mut output: Output) -> Result<Output> {
    let columns: Vec<Expr> = output
        .frame
        .schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Float64 | DataType::Float32 => round_half_even()
                .call(vec![cast(c(f.name()), DataType::Float64), lit(DECIMALS)])
                .alias(f.name()),
            _ => c(f.name()),
        })
        .collect();
    output.frame = output.frame.select(columns)?;
    Ok(output)
}
