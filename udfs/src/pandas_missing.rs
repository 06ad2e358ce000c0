//! `pandas_missing(text)`: the cell, or missing where pandas' `read_csv` reads a missing
//! value (docs/contract.md §2: `NA`, `NaN`, `null`, `N/A`, `#N/A`, ... and the empty cell).
//!
//! DataFusion's CSV reader only knows the empty cell (its `null_regex` option is used for
//! schema inference, not when reading), so the reader applies this to every column.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::common::utils::take_function_args;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

/// pandas' default `na_values` (pandas 1.x `STR_NA_VALUES`), plus the empty cell.
pub const PANDAS_NA_VALUES: [&str; 18] = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
];

/// The spellings as one anchored regular expression, for schema inference.
pub fn pandas_missing_regex() -> String {
    let alternatives: Vec<String> = PANDAS_NA_VALUES
        .iter()
        .map(|v| v.replace('.', "\\."))
        .collect();
    format!("^({})$", alternatives.join("|"))
}

/// Whether pandas reads `cell` as missing.
pub fn is_pandas_missing(cell: &str) -> bool {
    // Every spelling is short and starts with one of a few bytes: most cells (numbers,
    // names) are told apart without a comparison.
    cell.len() <= 8
        && matches!(
            cell.as_bytes().first(),
            None | Some(b'#' | b'-' | b'1' | b'<' | b'N' | b'n')
        )
        && PANDAS_NA_VALUES.contains(&cell)
}

/// A text column with pandas' missing spellings as missing (the same array when it has none).
pub fn pandas_missing_array(text: &ArrayRef) -> Result<ArrayRef> {
    let cells = text.as_string::<i32>();
    let any = cells.iter().any(|cell| cell.is_some_and(is_pandas_missing));
    if !any {
        return Ok(Arc::clone(text));
    }
    let out: StringArray = cells
        .iter()
        .map(|cell| cell.filter(|c| !is_pandas_missing(c)))
        .collect();
    Ok(Arc::new(out))
}

#[user_doc(
    doc_section(label = "Bydelsfakta Functions"),
    description = "The text, or missing where pandas' `read_csv` reads a missing value: the \
empty cell and pandas' default `na_values` (`NA`, `NaN`, `nan`, `null`, `NULL`, `N/A`, `n/a`, \
`#N/A`, `<NA>`, ...), matched exactly.",
    syntax_example = "pandas_missing(text)",
    sql_example = "```sql\n> SELECT pandas_missing('NA') IS NULL;\ntrue\n```",
    argument(name = "text", description = "A CSV cell as text.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PandasMissingFunc {
    signature: Signature,
}

impl Default for PandasMissingFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl PandasMissingFunc {
    pub fn new() -> Self {
        Self {
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for PandasMissingFunc {
    fn name(&self) -> &str {
        "pandas_missing"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [text] = take_function_args(self.name(), args.args)?;
        Ok(match text {
            ColumnarValue::Array(array) => ColumnarValue::Array(pandas_missing_array(&array)?),
            ColumnarValue::Scalar(ScalarValue::Utf8(cell)) => {
                ColumnarValue::Scalar(ScalarValue::Utf8(cell.filter(|c| !is_pandas_missing(c))))
            }
            ColumnarValue::Scalar(other) => {
                return datafusion::common::exec_err!("pandas_missing expects text, got {other}");
            }
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pandas_spellings_are_missing_and_nothing_else() {
        for missing in PANDAS_NA_VALUES {
            assert!(is_pandas_missing(missing), "{missing:?}");
        }
        for present in [
            "0",
            "12",
            "1.5",
            "-1",
            "NA ",
            " NA",
            "na",
            "None",
            "N",
            "nan0",
            "1.#INF",
            "Nordstrand",
        ] {
            assert!(!is_pandas_missing(present), "{present:?}");
        }
    }

    #[test]
    fn the_regex_matches_the_same_spellings() {
        let regex = regex::Regex::new(&pandas_missing_regex()).unwrap();
        for cell in PANDAS_NA_VALUES
            .iter()
            .chain(&["1", "NA ", "1x#IND", "None"])
        {
            assert_eq!(regex.is_match(cell), is_pandas_missing(cell), "{cell:?}");
        }
    }

    #[test]
    fn an_array_keeps_its_cells_but_the_missing_ones() {
        let text: ArrayRef = Arc::new(StringArray::from(vec![
            Some("1"),
            Some("NA"),
            None,
            Some("n/a"),
            Some("2.5"),
        ]));
        let out = pandas_missing_array(&text).unwrap();
        let expected: ArrayRef = Arc::new(StringArray::from(vec![
            Some("1"),
            None,
            None,
            None,
            Some("2.5"),
        ]));
        assert_eq!(&out, &expected);
        let clean: ArrayRef = Arc::new(StringArray::from(vec!["1", "2"]));
        assert!(Arc::ptr_eq(&pandas_missing_array(&clean).unwrap(), &clean));
    }
}
