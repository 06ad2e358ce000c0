//! `row_sum(a, b, ...)`: pandas' `sum(axis=1)`: missing counts as 0, integers stay integers.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

#[user_doc(
    doc_section(label = "Bydelsfakta Functions"),
    description = "Row-wise sum of its arguments as pandas' `sum(axis=1)` computes it: a \
missing argument counts as 0 (so the result is never missing), the result is an integer when \
every argument is an integer and a float otherwise. Used for totals and for the population \
from the age columns `0`..`120`.",
    syntax_example = "row_sum(expression[, ...])",
    sql_example = "```sql\n> SELECT row_sum(1, NULL, 3);\n4\n```",
    argument(name = "expression", description = "Integer or float expressions.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RowSumFunc {
    signature: Signature,
}

impl Default for RowSumFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl RowSumFunc {
    pub fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

fn is_float(t: &DataType) -> bool {
    matches!(t, DataType::Float16 | DataType::Float32 | DataType::Float64)
}

fn is_integer_or_null(t: &DataType) -> bool {
    t.is_integer() || t == &DataType::Null
}

impl ScalarUDFImpl for RowSumFunc {
    fn name(&self) -> &str {
        "row_sum"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if let Some(bad) = arg_types
            .iter()
            .find(|t| !is_float(t) && !is_integer_or_null(t))
        {
            return exec_err!("row_sum takes numbers, got an argument of type {bad}");
        }
        Ok(if arg_types.iter().any(is_float) {
            DataType::Float64
        } else {
            DataType::Int64
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let out_type = args.return_field.data_type().clone();
        let arrays = args
            .args
            .into_iter()
            .map(|a| a.into_array(rows).and_then(|a| Ok(cast(&a, &out_type)?)))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let out: ArrayRef = match out_type {
            DataType::Int64 => {
                let mut sums = vec![0i64; rows];
                for a in &arrays {
                    let a = a.as_primitive::<Int64Type>();
                    for (i, s) in sums.iter_mut().enumerate() {
                        if a.is_valid(i) {
                            *s += a.value(i);
                        }
                    }
                }
                Arc::new(Int64Array::from(sums))
            }
            _ => {
                let mut sums = vec![0f64; rows];
                for a in &arrays {
                    let a = a.as_primitive::<Float64Type>();
                    for (i, s) in sums.iter_mut().enumerate() {
                        // pandas skips NaN as it skips missing.
                        if a.is_valid(i) && !a.value(i).is_nan() {
                            *s += a.value(i);
                        }
                    }
                }
                Arc::new(Float64Array::from(sums))
            }
        };
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Float64Array, Int64Array};
    use datafusion::common::ScalarValue;

    use crate::test_util::{check, scalar};

    #[test]
    fn sums_rows_skipping_missing_and_keeps_kind() {
        let args = |values: Vec<ScalarValue>| values.into_iter().map(scalar).collect();
        let row_sum = crate::row_sum();
        check(
            &row_sum,
            args(vec![1_i64.into(), ScalarValue::Int64(None), 3_i64.into()]),
            Int64Array::from(vec![4]),
        );
        check(
            &row_sum,
            args(vec![1_i64.into(), 2.5_f64.into()]),
            Float64Array::from(vec![3.5]),
        );
        check(
            &row_sum,
            args(vec![ScalarValue::Float64(None)]),
            Float64Array::from(vec![0.0]),
        );
    }
}
