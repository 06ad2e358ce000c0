//! Read access to the final frame of one output dataset: cells as [`Json`] values.

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

    /// Every cell of a string column as [`Frame::text`] gives it.
    pub fn texts(&self, name: &str) -> Vec<Option<String>> {
        let column = self.column(name);
        (0..self.num_rows()).map(|r| column.text(r)).collect()
    }

    /// A string cell; `None` when missing or when the frame has no such column.
    pub fn text(&self, name: &str, row: usize) -> Option<String> {
        self.column(name).text(row)
    }

    /// A cell as JSON, keeping its column's kind: integer columns give integers, float
    /// columns floats, lists arrays. Missing cells (and absent columns) give `Null`.
    pub fn cell(&self, name: &str, row: usize) -> Json {
        self.column(name).cell(row)
    }

    /// A numeric cell as a value: missing becomes NaN, as in pandas, so that the writer's
    /// finiteness check names it.
    pub fn number(&self, name: &str, row: usize) -> Json {
        self.column(name).number(row)
    }

    /// Whether the column holds floats (decides `3311` versus `3311.0`).
    pub fn is_float(&self, name: &str) -> bool {
        self.column(name)
            .0
            .is_some_and(|a| matches!(a.data_type(), DataType::Float32 | DataType::Float64))
    }
}

/// One column of a [`Frame`], looked up once for reading many cells; an absent column
/// reads as missing.
#[derive(Clone, Copy)]
pub struct Column<'a>(Option<&'a ArrayRef>);

impl Column<'_> {
    /// Whether the frame has the column.
    pub fn exists(&self) -> bool {
        self.0.is_some()
    }

    /// As [`Frame::cell`].
    pub fn cell(&self, row: usize) -> Json {
        match self.0 {
            Some(array) => cell(array, row),
            None => Json::Null,
        }
    }

    /// As [`Frame::text`].
    pub fn text(&self, row: usize) -> Option<String> {
        match self.cell(row) {
            Json::Str(s) => Some(s),
            Json::Null => None,
            other => Some(other.to_python_string()),
        }
    }

    /// As [`Frame::number`].
    pub fn number(&self, row: usize) -> Json {
        match self.cell(row) {
            Json::Null => Json::Float(f64::NAN),
            other => other,
        }
    }
}

fn cell(array: &ArrayRef, row: usize) -> Json {
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
        DataType::Utf8 => Json::Str(array.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Json::Str(array.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Json::Str(array.as_string_view().value(row).to_string()),
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(row);
            Json::Array((0..items.len()).map(|i| cell(&items, i)).collect())
        }
        DataType::LargeList(_) => {
            let items = array.as_list::<i64>().value(row);
            Json::Array((0..items.len()).map(|i| cell(&items, i)).collect())
        }
        other => Json::Str(format!("<unsupported {other}>")),
    }
}
