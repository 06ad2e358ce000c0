//! `district_id_problem(bydel_id, delbydel_id, legacy_ids)`: why a row's geography ids
//! cannot be right, or missing when they can (docs/deviations.md D7).
//!
//! A district id is two digits (`00` is Oslo i alt); a sub-district id is four digits and
//! starts with its district's. An id like `1` or `42` is not merely unknown: the original
//! joined it nowhere and published fewer documents without a word. Ids a function drops on
//! purpose (`eieform`'s legacy `15000` and `20000`) are passed as `legacy_ids`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::common::utils::take_function_args;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::geo::{BYDEL_ID, DELBYDEL_ID};

/// Which id is wrong, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdProblem {
    pub column: &'static str,
    pub problem: &'static str,
}

impl IdProblem {
    /// As the UDF reports it: `<column>: <problem>`.
    pub fn text(&self) -> String {
        format!("{}: {}", self.column, self.problem)
    }
}

/// Cell `i` of a text column.
fn cell(column: &StringArray, i: usize) -> Option<&str> {
    column.is_valid(i).then(|| column.value(i))
}

fn digits(id: &str, count: usize) -> bool {
    id.len() == count && id.bytes().all(|b| b.is_ascii_digit())
}

/// Why the ids of one row cannot be right, if they cannot. A missing id is fine (district
/// rows have no sub-district; Oslo's rows may have neither).
pub fn district_id_problem(
    district: Option<&str>,
    sub_district: Option<&str>,
    legacy: &[&str],
) -> Option<IdProblem> {
    let district = district.filter(|d| !legacy.contains(d));
    if let Some(d) = district
        && !digits(d, 2)
    {
        return Some(IdProblem {
            column: BYDEL_ID,
            problem: "a district id is two digits",
        });
    }
    let sub = sub_district?;
    if !digits(sub, 4) {
        return Some(IdProblem {
            column: DELBYDEL_ID,
            problem: "a sub-district id is four digits",
        });
    }
    if let Some(d) = district
        && !sub.starts_with(d)
    {
        return Some(IdProblem {
            column: DELBYDEL_ID,
            problem: "a sub-district id starts with its district's",
        });
    }
    None
}

#[user_doc(
    doc_section(label = "Bydelsfakta Functions"),
    description = "Why a row's geography ids cannot be right, as `<column>: <problem>`, or \
missing when they can: a district id (`bydel_id`) is two digits, a sub-district id \
(`delbydel_id`) four digits starting with its district's. A missing id is fine; district ids \
listed in `legacy_ids` (comma-separated) are not checked.",
    syntax_example = "district_id_problem(bydel_id, delbydel_id, legacy_ids)",
    sql_example = "```sql\n> SELECT district_id_problem('01', '0201', '');\ndelbydel_id: a sub-district id starts with its district's\n```",
    argument(name = "bydel_id", description = "The district id, as text."),
    argument(name = "delbydel_id", description = "The sub-district id, as text."),
    argument(
        name = "legacy_ids",
        description = "District ids a function drops on purpose, comma-separated."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DistrictIdProblemFunc {
    signature: Signature,
}

impl Default for DistrictIdProblemFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl DistrictIdProblemFunc {
    pub fn new() -> Self {
        Self {
            signature: Signature::exact(
                vec![DataType::Utf8, DataType::Utf8, DataType::Utf8],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for DistrictIdProblemFunc {
    fn name(&self) -> &str {
        "district_id_problem"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [district, sub_district, legacy] = take_function_args(self.name(), args.args)?;
        let ColumnarValue::Scalar(ScalarValue::Utf8(legacy)) = legacy else {
            return datafusion::common::exec_err!(
                "district_id_problem expects its legacy ids as one text"
            );
        };
        let legacy = legacy.unwrap_or_default();
        let legacy: Vec<&str> = legacy.split(',').filter(|l| !l.is_empty()).collect();
        let [district, sub_district] = [district, sub_district].map(|a| a.into_array(rows));
        let (district, sub_district) = (district?, sub_district?);
        let (district, sub_district) =
            (district.as_string::<i32>(), sub_district.as_string::<i32>());
        let problems: StringArray = (0..rows)
            .map(|i| {
                district_id_problem(cell(district, i), cell(sub_district, i), &legacy)
                    .map(|p| p.text())
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(problems) as ArrayRef))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{array, check, scalar};

    #[test]
    fn ids_that_cannot_be_right() {
        let ok = [
            (Some("00"), None),
            (Some("01"), Some("0101")),
            (Some("16"), Some("1601")),
            (None, None),
            (None, Some("9999")),
            (Some("15000"), None),
        ];
        for (d, s) in ok {
            assert_eq!(
                district_id_problem(d, s, &["15000", "20000"]),
                None,
                "{d:?} {s:?}"
            );
        }
        let bad = [
            (Some("1"), None, "bydel_id"),
            (Some("42a"), None, "bydel_id"),
            (Some("123"), None, "bydel_id"),
            (Some("01"), Some("101"), "delbydel_id"),
            (Some("01"), Some("0201"), "delbydel_id"),
            (None, Some("01x1"), "delbydel_id"),
            (Some("15000"), None, "bydel_id"),
        ];
        for (d, s, column) in bad {
            let problem = district_id_problem(d, s, &[]).unwrap();
            assert_eq!(problem.column, column, "{d:?} {s:?}");
        }
    }

    #[test]
    fn the_function_names_the_column_and_the_problem() {
        let sub_districts: [Option<&str>; 4] = [Some("0101"), None, None, Some("0101")];
        check(
            &crate::district_id_problem(),
            vec![
                array(StringArray::from(vec!["01", "1", "15000", "02"])),
                array(StringArray::from(sub_districts.to_vec())),
                scalar("15000,20000"),
            ],
            StringArray::from(vec![
                None,
                Some("bydel_id: a district id is two digits"),
                None,
                Some("delbydel_id: a sub-district id starts with its district's"),
            ]),
        );
    }
}
