//! Calling a scalar UDF in a unit test without SQL, in the manner of DataFusion's own
//! `test_function!` (datafusion-functions' `src/utils.rs`): the arguments are arrays or
//! scalars, the call goes through what the planner and the physical expression would do
//! (coercion to the signature, the return field from the argument fields, the number of
//! rows), and the result comes back as an array to assert on.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::Field;
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::logical_expr::type_coercion::functions::fields_with_udf;
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF};

/// A scalar argument (a literal in SQL): `scalar(1_i64)`, `scalar("text")`,
/// `scalar(ScalarValue::Null)`.
pub fn scalar(value: impl Into<ScalarValue>) -> ColumnarValue {
    ColumnarValue::Scalar(value.into())
}

/// An array argument (a column in SQL).
pub fn array(values: impl Array + 'static) -> ColumnarValue {
    ColumnarValue::Array(Arc::new(values))
}

/// Invokes `udf` on `args` as a query would: each argument is coerced to the type the
/// signature asks for (so `scalar(1_i64)` reaches a `Float64` parameter as SQL's `1` does),
/// the return field comes from `return_field_from_args`, and the batch has as many rows as
/// the array arguments (one when all are scalars). Checks that the result has that many
/// rows and the announced type; a planning or execution error is returned.
pub fn invoke(udf: &ScalarUDF, args: Vec<ColumnarValue>) -> Result<ArrayRef> {
    let fields: Vec<_> = args
        .iter()
        .enumerate()
        .map(|(i, arg)| Arc::new(Field::new(format!("arg_{i}"), arg.data_type(), true)))
        .collect();
    let arg_fields = fields_with_udf(&fields, udf)?;
    let args = args
        .into_iter()
        .zip(&arg_fields)
        .map(|(arg, field)| match arg {
            ColumnarValue::Scalar(s) => Ok(ColumnarValue::Scalar(s.cast_to(field.data_type())?)),
            ColumnarValue::Array(a) => Ok(ColumnarValue::Array(cast(&a, field.data_type())?)),
        })
        .collect::<Result<Vec<_>>>()?;
    let scalars: Vec<Option<&ScalarValue>> = args
        .iter()
        .map(|arg| match arg {
            ColumnarValue::Scalar(s) => Some(s),
            ColumnarValue::Array(_) => None,
        })
        .collect();
    let return_field = udf.return_field_from_args(ReturnFieldArgs {
        arg_fields: &arg_fields,
        scalar_arguments: &scalars,
    })?;
    let number_rows = args
        .iter()
        .find_map(|arg| match arg {
            ColumnarValue::Array(a) => Some(a.len()),
            ColumnarValue::Scalar(_) => None,
        })
        .unwrap_or(1);
    let result = udf
        .invoke_with_args(ScalarFunctionArgs {
            args,
            arg_fields,
            number_rows,
            return_field: Arc::clone(&return_field),
            config_options: Arc::new(ConfigOptions::default()),
        })?
        .into_array(number_rows)?;
    assert_eq!(
        result.len(),
        number_rows,
        "{}: rows of the result",
        udf.name()
    );
    assert_eq!(
        result.data_type(),
        return_field.data_type(),
        "{}: the result's type is the announced one",
        udf.name()
    );
    Ok(result)
}

/// [`invoke`], which must succeed with `expected`: its type and every value (`test_function!`
/// checks the type and the first value). Arrays with NaN compare by bits, so a test of NaN
/// asserts on [`invoke`]'s result instead.
#[track_caller]
pub fn check(udf: &ScalarUDF, args: Vec<ColumnarValue>, expected: impl Array + 'static) {
    let result = invoke(udf, args).unwrap_or_else(|e| panic!("{}: {e}", udf.name()));
    let expected: ArrayRef = Arc::new(expected);
    assert_eq!(&result, &expected, "{}", udf.name());
}
