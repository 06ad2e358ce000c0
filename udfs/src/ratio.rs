//! `ratio(numerator, denominator)`: IEEE division as pandas does it.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::utils::take_function_args;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

#[user_doc(
    doc_section(label = "Bydelsfakta Functions"),
    description = "Divides two numbers as floats the way pandas does: `x/0` is ±infinity and \
`0/0` is NaN instead of an error, so that the document writer can name the offending entry. \
A missing operand gives a missing result.",
    syntax_example = "ratio(numerator, denominator)",
    sql_example = "```sql\n> SELECT ratio(1, 4);\n0.25\n```",
    argument(name = "numerator", description = "Numeric expression."),
    argument(name = "denominator", description = "Numeric expression.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RatioFunc {
    signature: Signature,
}

impl Default for RatioFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl RatioFunc {
    pub fn new() -> Self {
        Self {
            signature: Signature::exact(
                vec![DataType::Float64, DataType::Float64],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for RatioFunc {
    fn name(&self) -> &str {
        "ratio"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [num, den] = take_function_args(self.name(), args.args)?;
        let num = cast(&num.into_array(rows)?, &DataType::Float64)?;
        let den = cast(&den.into_array(rows)?, &DataType::Float64)?;
        let num = num.as_primitive::<Float64Type>();
        let den = den.as_primitive::<Float64Type>();
        let out: Float64Array = num
            .iter()
            .zip(den.iter())
            .map(|(n, d)| Some(n? / d?))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Float64Type;
    use datafusion::common::ScalarValue;

    use crate::test_util::{invoke, scalar};

    #[test]
    fn divides_like_pandas() {
        // Whole numbers and NULL, as SQL literals reach it.
        let ratio = |num: ScalarValue, den: i64| {
            let out = invoke(&crate::ratio(), vec![scalar(num), scalar(den)]).unwrap();
            out.as_primitive::<Float64Type>().clone()
        };
        assert_eq!(ratio(1_i64.into(), 4).value(0), 0.25);
        assert!(ratio(1_i64.into(), 0).value(0).is_infinite());
        assert!(ratio(0_i64.into(), 0).value(0).is_nan());
        assert!(ratio(ScalarValue::Null, 2).is_null(0));
    }
}
