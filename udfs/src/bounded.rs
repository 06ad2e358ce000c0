//! `repeat`, `lpad` and `rpad` that refuse to make more bytes than a session may hold.
//!
//! DataFusion's memory pool counts what operators reserve (sorts, joins, aggregates), not
//! the strings a scalar function returns: `SELECT length(repeat('x', 2000000000))` would
//! allocate 2 GB (and more while copying) before any limit could notice. These wrappers
//! compute the largest result first and fail with `ResourcesExhausted` when it is over the
//! limit; below it they are DataFusion's own functions. Only ad-hoc SQL sessions register
//! them; the pipeline never calls these functions.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, FieldRef, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};

/// How a function's result grows with its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Growth {
    /// `repeat(text, count)`: the text's bytes times the count.
    Repeat,
    /// `lpad/rpad(text, length[, fill])`: `length` characters of up to 4 bytes each.
    Pad,
}

/// One of DataFusion's string functions, with its result's size bounded.
#[derive(Debug)]
pub struct Bounded {
    inner: Arc<ScalarUDF>,
    growth: Growth,
    /// The most bytes one call may make.
    limit: usize,
}

impl PartialEq for Bounded {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner && self.growth == other.growth && self.limit == other.limit
    }
}

impl Eq for Bounded {}

impl std::hash::Hash for Bounded {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.name().hash(state);
        self.growth.hash(state);
        self.limit.hash(state);
    }
}

/// `repeat`, `lpad` and `rpad`, each bounded to `limit` bytes per call.
pub fn bounded_string_functions(limit: usize) -> Vec<Arc<ScalarUDF>> {
    use datafusion::functions::{string, unicode};
    [
        (string::repeat(), Growth::Repeat),
        (unicode::lpad(), Growth::Pad),
        (unicode::rpad(), Growth::Pad),
    ]
    .into_iter()
    .map(|(inner, growth)| {
        Arc::new(ScalarUDF::new_from_impl(Bounded {
            inner,
            growth,
            limit,
        }))
    })
    .collect()
}

/// The largest whole number an argument holds.
fn largest(arg: &ColumnarValue) -> i64 {
    match arg {
        ColumnarValue::Scalar(ScalarValue::Int64(Some(n))) => *n,
        ColumnarValue::Array(a) if a.data_type() == &DataType::Int64 => a
            .as_primitive::<Int64Type>()
            .iter()
            .flatten()
            .max()
            .unwrap_or(0),
        _ => 0,
    }
}

/// The most bytes a text argument holds in one row.
fn longest(arg: &ColumnarValue) -> usize {
    match arg {
        ColumnarValue::Scalar(s) => match s {
            ScalarValue::Utf8(Some(t))
            | ScalarValue::LargeUtf8(Some(t))
            | ScalarValue::Utf8View(Some(t)) => t.len(),
            _ => 0,
        },
        ColumnarValue::Array(a) => match a.data_type() {
            DataType::Utf8 => a.as_string::<i32>().iter().flatten().map(str::len).max(),
            DataType::LargeUtf8 => a.as_string::<i64>().iter().flatten().map(str::len).max(),
            DataType::Utf8View => a.as_string_view().iter().flatten().map(str::len).max(),
            _ => None,
        }
        .unwrap_or(0),
    }
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows.max(1);
        let per_row = match self.growth {
            Growth::Repeat => {
                longest(&args.args[0]).saturating_mul(largest(&args.args[1]).max(0) as usize)
            }
            Growth::Pad => (largest(&args.args[1]).max(0) as usize).saturating_mul(4),
        };
        let most = per_row.saturating_mul(rows);
        if most > self.limit {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{}() could make {most} bytes, more than the {} one call may make (a quarter of the session's --memory-limit)",
                self.name(),
                self.limit
            )));
        }
        self.inner.invoke_with_args(args)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::*;

    use super::*;

    #[tokio::test]
    async fn results_over_the_limit_are_refused_and_the_rest_computed() {
        let ctx = SessionContext::new();
        for f in bounded_string_functions(1_000_000) {
            ctx.register_udf(Arc::unwrap_or_clone(f));
        }
        let value = |sql: &'static str| {
            let ctx = ctx.clone();
            async move {
                let batches = ctx.sql(sql).await?.collect().await?;
                let column =
                    datafusion::arrow::compute::cast(batches[0].column(0), &DataType::Int64)?;
                Ok::<_, DataFusionError>(column.as_primitive::<Int64Type>().value(0))
            }
        };
        assert_eq!(value("SELECT length(repeat('ab', 10))").await.unwrap(), 20);
        assert_eq!(
            value("SELECT length(lpad('x', 30, '-'))").await.unwrap(),
            30
        );
        for sql in [
            "SELECT length(repeat('x', 2000000000))",
            "SELECT length(rpad('x', 2000000000))",
            "SELECT length(repeat(v, 600000)) FROM (VALUES ('ab'), ('cd')) t(v)",
        ] {
            let e = value(sql).await.unwrap_err().to_string();
            assert!(
                e.contains("Resources exhausted") && e.contains("--memory-limit"),
                "{sql}: {e}"
            );
        }
    }
}
