//! `sum_nans(value, group)`: the original's `sum_nans` group aggregation (docs/contract.md §6.1).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, UInt64Type};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Signature, Volatility,
};
use datafusion_macros::user_doc;

#[user_doc(
    doc_section(label = "Bydelsfakta Functions"),
    description = "Sums a group in which either every value or no value is missing: no value \
missing gives the float sum, every value missing gives a missing result, and a mix fails the \
query naming the group (`group` is a label such as the group's keys, the same on every row). \
NaN counts as missing.",
    syntax_example = "sum_nans(value, group)",
    sql_example = "```sql\n> SELECT sum_nans(change, concat(aar, '/', bydel_id)) FROM t GROUP BY aar, bydel_id;\n```",
    argument(name = "value", description = "Numeric expression to sum."),
    argument(
        name = "group",
        description = "Label of the group, used in the error message."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SumNans {
    signature: Signature,
}

impl Default for SumNans {
    fn default() -> Self {
        Self::new()
    }
}

impl SumNans {
    pub fn new() -> Self {
        Self {
            signature: Signature::exact(
                vec![DataType::Float64, DataType::Utf8],
                Volatility::Immutable,
            ),
        }
    }
}

impl AggregateUDFImpl for SumNans {
    fn name(&self) -> &str {
        "sum_nans"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::<SumNansAccumulator>::default())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let name = args.name;
        Ok(vec![
            Arc::new(Field::new(format!("{name}[sum]"), DataType::Float64, true)),
            Arc::new(Field::new(
                format!("{name}[present]"),
                DataType::UInt64,
                true,
            )),
            Arc::new(Field::new(
                format!("{name}[missing]"),
                DataType::UInt64,
                true,
            )),
            Arc::new(Field::new(format!("{name}[group]"), DataType::Utf8, true)),
        ])
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// Running state: the sum of present values and how many were present or missing.
#[derive(Debug, Default)]
pub struct SumNansAccumulator {
    sum: f64,
    present: u64,
    missing: u64,
    group: Option<String>,
}

impl SumNansAccumulator {
    fn note_group(&mut self, group: &ArrayRef) {
        if self.group.is_none() {
            let group = group.as_string::<i32>();
            self.group = (0..group.len())
                .find(|&i| group.is_valid(i))
                .map(|i| group.value(i).to_string());
        }
    }
}

impl Accumulator for SumNansAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let v = values[0].as_primitive::<Float64Type>();
        for i in 0..v.len() {
            if v.is_valid(i) && !v.value(i).is_nan() {
                self.sum += v.value(i);
                self.present += 1;
            } else {
                self.missing += 1;
            }
        }
        self.note_group(&values[1]);
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let sums = states[0].as_primitive::<Float64Type>();
        let present = states[1].as_primitive::<UInt64Type>();
        let missing = states[2].as_primitive::<UInt64Type>();
        for i in 0..sums.len() {
            self.sum += sums.value(i);
            self.present += present.value(i);
            self.missing += missing.value(i);
        }
        self.note_group(&states[3]);
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::Float64(Some(self.sum)),
            ScalarValue::UInt64(Some(self.present)),
            ScalarValue::UInt64(Some(self.missing)),
            ScalarValue::Utf8(self.group.clone()),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        match (self.present, self.missing) {
            (0, _) => Ok(ScalarValue::Float64(None)),
            (_, 0) => Ok(ScalarValue::Float64(Some(self.sum))),
            (present, missing) => exec_err!(
                "sum_nans: mix of missing and present values in group {} ({present} present, {missing} missing)",
                self.group.as_deref().unwrap_or("?")
            ),
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.group.as_ref().map_or(0, String::capacity)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Float64Array, StringArray};

    use super::*;

    fn batch(values: Vec<Option<f64>>) -> Vec<ArrayRef> {
        let n = values.len();
        vec![
            Arc::new(Float64Array::from(values)),
            Arc::new(StringArray::from(vec!["2020/01"; n])),
        ]
    }

    fn eval(values: Vec<Option<f64>>) -> Result<ScalarValue> {
        let mut acc = SumNansAccumulator::default();
        acc.update_batch(&batch(values))?;
        acc.evaluate()
    }

    #[test]
    fn follows_the_original() {
        assert_eq!(
            eval(vec![Some(4.), Some(5.), Some(6.)]).unwrap(),
            ScalarValue::Float64(Some(15.))
        );
        assert_eq!(
            eval(vec![None, Some(f64::NAN), None]).unwrap(),
            ScalarValue::Float64(None)
        );
        let err = eval(vec![Some(4.), Some(5.), None, Some(7.)]).unwrap_err();
        assert!(err.to_string().contains("group 2020/01"), "{err}");
    }

    #[test]
    fn merging_partial_states_equals_one_pass() {
        let mut left = SumNansAccumulator::default();
        left.update_batch(&batch(vec![Some(1.5), Some(2.0)]))
            .unwrap();
        let mut right = SumNansAccumulator::default();
        right.update_batch(&batch(vec![Some(3.0)])).unwrap();
        let state: Vec<ArrayRef> = right
            .state()
            .unwrap()
            .into_iter()
            .map(|s| s.to_array().unwrap())
            .collect();
        left.merge_batch(&state).unwrap();
        assert_eq!(left.evaluate().unwrap(), ScalarValue::Float64(Some(6.5)));

        let mut mixed = SumNansAccumulator::default();
        mixed.update_batch(&batch(vec![None])).unwrap();
        mixed.merge_batch(&state).unwrap();
        assert!(mixed.evaluate().is_err());
    }
}
