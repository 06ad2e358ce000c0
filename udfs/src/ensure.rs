//! `ensure(condition, message)`: fails the query with `message` where `condition` is false.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray};
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
    description = "Returns true, or fails the whole query with `message` for the first row \
whose `condition` is false or missing. Plans use it in filters to turn the original's \
exceptions (a missing year, an empty join) into located errors.",
    syntax_example = "ensure(condition, message)",
    sql_example = "```sql\n> SELECT * FROM t WHERE ensure(x > 0, 'x must be positive');\n```",
    argument(name = "condition", description = "Boolean expression that must hold."),
    argument(name = "message", description = "Error message, evaluated per row.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct EnsureFunc {
    signature: Signature,
}

impl Default for EnsureFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl EnsureFunc {
    pub fn new() -> Self {
        Self {
            // Volatile: the check must run on the data, never be folded away or moved.
            signature: Signature::exact(
                vec![DataType::Boolean, DataType::Utf8],
                Volatility::Volatile,
            ),
        }
    }
}

impl ScalarUDFImpl for EnsureFunc {
    fn name(&self) -> &str {
        "ensure"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [cond, message] = take_function_args(self.name(), args.args)?;
        let cond = cond.into_array(rows)?;
        let cond = cond.as_boolean();
        if let Some(i) = (0..rows).find(|&i| !cond.is_valid(i) || !cond.value(i)) {
            let message = message.into_array(rows)?;
            let message = message.as_string::<i32>();
            let text = if message.is_valid(i) {
                message.value(i)
            } else {
                "check failed"
            };
            return exec_err!("{text}");
        }
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::from(vec![
            true;
            rows
        ]))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{BooleanArray, StringArray};

    use crate::test_util::{array, check, invoke, scalar};

    #[test]
    fn passes_or_fails_with_the_message() {
        check(
            &crate::ensure(),
            vec![
                array(BooleanArray::from(vec![true, true])),
                scalar("x must be positive"),
            ],
            BooleanArray::from(vec![true, true]),
        );
        // The message of the first row that fails, as `concat('bad x ', x)` gives it.
        let err = invoke(
            &crate::ensure(),
            vec![
                array(BooleanArray::from(vec![true, false])),
                array(StringArray::from(vec!["bad x 1", "bad x -2"])),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("bad x -2"), "{err}");
    }
}
