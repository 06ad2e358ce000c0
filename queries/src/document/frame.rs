//! Read access to the final frame of one output dataset: cells as [`Json`] values that
//! borrow the frame's strings.

use std::borrow::Cow;
use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};

use crate::json::Json;

/// The frame a document is built from: one record batch in the plan's row order.
pub struct Frame {
    batch: RecordBatch,
    /// Column positions by name: documents read thousands of cells by column name.
    positions: HashMap<String, usize>,
}

impl Frame {
    pub fn new(batch: RecordBatch) -> Self {
        let mut positions = HashMap::new();
        for (i, field) in batch.schema().fields().iter().enumerate() {
            // The first column of a name, as `Schema::index_of` finds it.
            positions.entry(field.name().clone()).or_insert(i);
        }
        Self { batch, positions }
    }

    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// The array of a column, to read many of its cells with [`Column`].
    pub fn column(&self, name: &str) -> Column<'_> {
        Column(self.positions.get(name).map(|&i| self.batch.column(i)))
    }

    /// Every cell of a column as [`Column::text`] gives it.
    pub fn texts(&self, name: &str) -> Vec<Option<Cow<'_, str>>> {
        let column = self.column(name);
        (0..self.num_rows()).map(|r| column.text(r)).collect()
    }

    /// A cell as JSON, keeping its column's kind: integer columns give integers, float
    /// columns floats, lists arrays. Missing cells (and absent columns) give `Null`.
    pub fn cell(&self, name: &str, row: usize) -> Json<'_> {
        self.column(name).cell(row)
    }

    /// A numeric cell as a value: missing becomes NaN, as in pandas, so that the writer's
    /// finiteness check names it.
    pub fn number(&self, name: &str, row: usize) -> Json<'_> {
        self.column(name).number(row)
    }
}

/// One column of a [`Frame`], looked up once for reading many cells; an absent column
/// reads as missing.
#[derive(Clone, Copy)]
pub struct Column<'a>(Option<&'a ArrayRef>);

impl<'a> Column<'a> {
    /// Whether the frame has the column.
    pub fn exists(&self) -> bool {
        self.0.is_some()
    }

    /// As [`Frame::cell`].
    pub fn cell(&self, row: usize) -> Json<'a> {
        match self.0 {
            Some(array) => cell(array, row),
            None => Json::Null,
        }
    }

    /// A cell as text; `None` when missing or when the frame has no such column.
    pub fn text(&self, row: usize) -> Option<Cow<'a, str>> {
        match self.cell(row) {
            Json::Str(s) => Some(s),
            Json::Null => None,
            other => Some(Cow::Owned(other.to_python_string())),
        }
    }

    /// As [`Frame::number`].
    pub fn number(&self, row: usize) -> Json<'a> {
        match self.cell(row) {
            Json::Null => Json::Float(f64::NAN),
            other => other,
        }
    }
}

fn cell(array: &ArrayRef, row: usize) -> Json<'_> {
    if array.is_null(row) {
        return Json::Null;
    }
    macro_rules! int {
        ($t:ty) => {
            Json::Int(array.as_primitive::<$t>().value(row) as i64)
        };
    }
    match array.data_type() {
        DataType::Int8 => int!(Int8Type),
        DataType::Int16 => int!(Int16Type),
        DataType::Int32 => int!(Int32Type),
        DataType::Int64 => int!(Int64Type),
        DataType::UInt8 => int!(UInt8Type),
        DataType::UInt16 => int!(UInt16Type),
        DataType::UInt32 => int!(UInt32Type),
        DataType::UInt64 => int!(UInt64Type),
        DataType::Float32 => Json::Float(array.as_primitive::<Float32Type>().value(row) as f64),
        DataType::Float64 => Json::Float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Boolean => Json::Bool(array.as_boolean().value(row)),
        DataType::Utf8 => Json::str(array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Json::str(array.as_string::<i64>().value(row)),
        DataType::Utf8View => Json::str(array.as_string_view().value(row)),
        // A list cell is a new array (an offset slice), so its strings are copied.
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(row);
            Json::Array(
                (0..items.len())
                    .map(|i| cell(&items, i).into_owned())
                    .collect(),
            )
        }
        DataType::LargeList(_) => {
            let items = array.as_list::<i64>().value(row);
            Json::Array(
                (0..items.len())
                    .map(|i| cell(&items, i).into_owned())
                    .collect(),
            )
        }
        other => Json::str(format!("<unsupported {other}>")),
    }
}
