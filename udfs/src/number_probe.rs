//! `number_probe(value, row)`: what a column of CSV text holds, for typing it as pandas'
//! `read_csv` would (00-common §2).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, StructArray};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Signature, Volatility,
};
use datafusion_macros::user_doc;

/// The fields of the result, in order.
pub const PROBE_FIELDS: [&str; 3] = ["missing", "non_integer", "first_unparsable_row"];

#[user_doc(
    doc_section(label = "Bydelsfakta Functions"),
    description = "Probes a text column for its number kind: `missing` counts missing cells, \
`non_integer` counts present cells that are not a whole number (an optional sign and digits), \
and `first_unparsable_row` is the smallest `row` of a present cell that does not parse as a \
float (missing when every present cell parses).",
    syntax_example = "number_probe(value, row)",
    sql_example = "```sql\n> SELECT number_probe(\"0\", __row) FROM raw;\n```",
    argument(name = "value", description = "The column's text."),
    argument(name = "row", description = "The cell's row number in the file.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NumberProbe {
    signature: Signature,
}

impl Default for NumberProbe {
    fn default() -> Self {
        Self::new()
    }
}

impl NumberProbe {
    pub fn new() -> Self {
        Self {
            signature: Signature::exact(
                vec![DataType::Utf8, DataType::Int64],
                Volatility::Immutable,
            ),
        }
    }
}

fn result_fields() -> Fields {
    PROBE_FIELDS
        .iter()
        .map(|name| Field::new(*name, DataType::Int64, true))
        .collect()
}

impl AggregateUDFImpl for NumberProbe {
    fn name(&self) -> &str {
        "number_probe"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(result_fields()))
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::<NumberProbeAccumulator>::default())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(PROBE_FIELDS
            .iter()
            .map(|field| {
                Arc::new(Field::new(
                    format!("{}[{field}]", args.name),
                    DataType::Int64,
                    true,
                ))
            })
            .collect())
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// An optional sign and at least one ASCII digit, nothing else (`^[+-]?[0-9]+$`).
fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[derive(Debug, Default)]
struct NumberProbeAccumulator {
    missing: i64,
    non_integer: i64,
    first_unparsable_row: Option<i64>,
}

impl NumberProbeAccumulator {
    fn note_unparsable(&mut self, row: i64) {
        self.first_unparsable_row = Some(self.first_unparsable_row.map_or(row, |r| r.min(row)));
    }
}

impl Accumulator for NumberProbeAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let text = values[0].as_string::<i32>();
        let rows = values[1].as_primitive::<Int64Type>();
        // The same conversion as `try_cast(value AS DOUBLE)`: a present cell that becomes
        // missing does not parse.
        let floats = cast_with_options(
            &values[0],
            &DataType::Float64,
            &CastOptions {
                safe: true,
                ..Default::default()
            },
        )?;
        for i in 0..text.len() {
            if text.is_null(i) {
                self.missing += 1;
                continue;
            }
            if !is_integer(text.value(i)) {
                self.non_integer += 1;
            }
            if floats.is_null(i) && rows.is_valid(i) {
                self.note_unparsable(rows.value(i));
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [missing, non_integer, first] =
            [0, 1, 2].map(|i| states[i].as_primitive::<Int64Type>());
        for i in 0..missing.len() {
            self.missing += missing.value(i);
            self.non_integer += non_integer.value(i);
            if first.is_valid(i) {
                self.note_unparsable(first.value(i));
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::Int64(Some(self.missing)),
            ScalarValue::Int64(Some(self.non_integer)),
            ScalarValue::Int64(self.first_unparsable_row),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![self.missing])),
            Arc::new(Int64Array::from(vec![self.non_integer])),
            Arc::new(Int64Array::from(vec![self.first_unparsable_row])),
        ];
        Ok(ScalarValue::Struct(Arc::new(StructArray::try_new(
            result_fields(),
            columns,
            None,
        )?)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::*;

    use super::*;

    #[test]
    fn whole_numbers_are_a_sign_and_digits() {
        for yes in ["0", "12", "+3", "-40", "007"] {
            assert!(is_integer(yes), "{yes}");
        }
        for no in ["", "+", "1.0", "1e3", " 1", "1 ", "--1", "١"] {
            assert!(!is_integer(no), "{no}");
        }
    }

    #[tokio::test]
    async fn counts_missing_and_fractional_cells_and_finds_the_first_bad_row() {
        let mut ctx = SessionContext::new();
        crate::register_all(&mut ctx).unwrap();
        let probe = |column: &str| {
            format!("SELECT number_probe(v, r) AS p FROM (VALUES {column}) t(v, r)",)
        };
        let row = |sql: String| {
            let ctx = ctx.clone();
            async move {
                let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
                let p = batches[0].column(0).as_struct().clone();
                PROBE_FIELDS.map(|f| {
                    let a = p
                        .column_by_name(f)
                        .unwrap()
                        .as_primitive::<Int64Type>()
                        .clone();
                    a.is_valid(0).then(|| a.value(0))
                })
            }
        };
        assert_eq!(
            row(probe("('1', 1), (NULL, 2), ('2.5', 3), ('-4', 4)")).await,
            [Some(1), Some(1), None]
        );
        assert_eq!(
            row(probe("('1', 1), ('x', 5), ('3', 2), ('y', 3)")).await,
            [Some(0), Some(2), Some(3)]
        );
    }
}
