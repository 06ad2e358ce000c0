//! `round_half_even(x, decimals)`: numpy's `round`: scale, round half to even, scale back.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::utils::take_function_args;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

#[user_doc(
    doc_section(label = "Bydelsfakta Functions"),
    description = "Rounds as numpy's `round(x, decimals)` does: `rint(x * 10^decimals) / \
10^decimals`, ties to even on the binary value (so `0.145` becomes `0.14` and `0.148` becomes \
`0.15`). SQL's `round` rounds ties away from zero and would differ.",
    syntax_example = "round_half_even(x, decimals)",
    sql_example = "```sql\n> SELECT round_half_even(0.125, 2);\n0.12\n```",
    argument(name = "x", description = "Float expression."),
    argument(name = "decimals", description = "Number of decimals.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RoundHalfEvenFunc {
    signature: Signature,
}

impl Default for RoundHalfEvenFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl RoundHalfEvenFunc {
    pub fn new() -> Self {
        Self {
            signature: Signature::exact(
                vec![DataType::Float64, DataType::Int64],
                Volatility::Immutable,
            ),
        }
    }
}

/// numpy's algorithm for `round(x, decimals)` with `decimals >= 0`.
pub fn round_half_even(x: f64, decimals: i64) -> f64 {
    let factor = 10f64.powi(decimals as i32);
    (x * factor).round_ties_even() / factor
}

impl ScalarUDFImpl for RoundHalfEvenFunc {
    fn name(&self) -> &str {
        "round_half_even"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [x, decimals] = take_function_args(self.name(), args.args)?;
        let x = cast(&x.into_array(rows)?, &DataType::Float64)?;
        let decimals = decimals.into_array(rows)?;
        let out: Float64Array = x
            .as_primitive::<Float64Type>()
            .iter()
            .zip(decimals.as_primitive::<Int64Type>().iter())
            .map(|(x, d)| Some(round_half_even(x?, d?)))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use super::round_half_even;

    // pandas 1.0.1 on x / 100 then round(2) (docs/functions/eieform.md).
    #[test]
    fn matches_numpy() {
        for (percent, expected) in [
            (14.8, 0.15),
            (14.5, 0.14),
            (0.5, 0.0),
            (1.5, 0.02),
            (2.5, 0.02),
            (12.25, 0.12),
            (99.95, 1.0),
        ] {
            assert_eq!(round_half_even(percent / 100.0, 2), expected, "{percent}");
        }
    }
}
