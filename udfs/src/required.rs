//! `required(value, message)`: the value, or a query failure naming what was missing.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::exec_err;
use datafusion::common::utils::take_function_args;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

#[user_doc(
    doc_section(label = "Bydelsfakta Functions"),
    description = "Returns `value` unchanged, or fails the whole query with `message` for the \
first row where `value` is missing. Plans use it where the original looked a value up and \
crashed when it was absent (a district's own rate, the Oslo rate, the latest common year).",
    syntax_example = "required(value, message)",
    sql_example = "```sql\n> SELECT required(max(aar), 'no years') FROM t;\n```",
    argument(name = "value", description = "Any expression."),
    argument(name = "message", description = "Error message, evaluated per row.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RequiredFunc {
    signature: Signature,
}

impl Default for RequiredFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl RequiredFunc {
    pub fn new() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Volatile),
        }
    }
}

impl ScalarUDFImpl for RequiredFunc {
    fn name(&self) -> &str {
        "required"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [value, message] = take_function_args(self.name(), args.args)?;
        let values = value.into_array(rows)?;
        if let Some(i) = (0..rows).find(|&i| values.is_null(i)) {
            let message =
                datafusion::arrow::compute::cast(&message.into_array(rows)?, &DataType::Utf8)?;
            let message = message.as_string::<i32>();
            let text = if message.is_valid(i) {
                message.value(i)
            } else {
                "missing value"
            };
            return exec_err!("{text}");
        }
        Ok(ColumnarValue::Array(values))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int64Array, StringArray};

    use crate::test_util::{array, check, invoke, scalar};

    #[test]
    fn returns_value_or_fails() {
        check(
            &crate::required(),
            vec![array(Int64Array::from(vec![1, 2])), scalar("missing")],
            Int64Array::from(vec![1, 2]),
        );
        // The message of the first row whose value is missing, as `concat('no x in row ', y)`
        // gives it.
        let err = invoke(
            &crate::required(),
            vec![
                array(Int64Array::from(vec![Some(1), None])),
                array(StringArray::from(vec!["no x in row a", "no x in row b"])),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("no x in row b"), "{err}");
    }
}
