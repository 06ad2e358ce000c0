//! A statement's result as text: a table for people, or CSV, a JSON array, or one JSON
//! object per line for programs.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::WriterBuilder as JsonWriterBuilder;
use datafusion::arrow::json::writer::{JsonArray, JsonFormat, LineDelimited};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;

use bydelsfakta_scheduler_client::sql::{SqlError, StatementResult};

/// How `sql` prints results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// A table, with the row count.
    #[default]
    Table,
    /// CSV with a header row (`,`-separated).
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

fn output_error(e: impl std::fmt::Display) -> SqlError {
    SqlError::Output(e.to_string())
}

/// The text of `result` in `format`, ending with a newline.
pub fn render(result: &StatementResult, format: Format) -> Result<String, SqlError> {
    match format {
        Format::Table => {
            let table = pretty_format_batches_with_schema(result.schema.clone(), &result.batches)
                .map_err(output_error)?;
            let rows = result.rows();
            let noun = if rows == 1 { "row" } else { "rows" };
            Ok(format!("{table}\n({rows} {noun})\n"))
        }
        Format::Csv => {
            let mut bytes = vec![];
            {
                let mut writer = CsvWriterBuilder::new().with_header(true).build(&mut bytes);
                // An empty result still names its columns: the header alone.
                let empty = [RecordBatch::new_empty(result.schema.clone())];
                let batches = if result.batches.is_empty() {
                    &empty[..]
                } else {
                    &result.batches[..]
                };
                for batch in batches {
                    writer
                        .write(&flat(batch).map_err(output_error)?)
                        .map_err(output_error)?;
                }
            }
            String::from_utf8(bytes).map_err(output_error)
        }
        Format::Json => json::<JsonArray>(result).map(|text| text + "\n"),
        Format::Ndjson => json::<LineDelimited>(result),
    }
}

/// CSV has no lists or structs (`SHOW FUNCTIONS` returns some): such columns become their
/// text, as the table shows them.
fn flat(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let nested = |t: &DataType| t.is_nested();
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| nested(f.data_type()))
    {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let mut fields = vec![];
    let mut columns: Vec<ArrayRef> = vec![];
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if nested(field.data_type()) {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
            let text: StringArray = (0..column.len())
                .map(|i| column.is_valid(i).then(|| formatter.value(i).to_string()))
                .collect();
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(Arc::new(text));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

fn json<F: JsonFormat>(result: &StatementResult) -> Result<String, SqlError> {
    let mut bytes = vec![];
    {
        // Every object has every column, null or not, so that programs can rely on keys.
        let mut writer = JsonWriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, F>(&mut bytes);
        for batch in &result.batches {
            writer.write(batch).map_err(output_error)?;
        }
        writer.finish().map_err(output_error)?;
    }
    String::from_utf8(bytes).map_err(output_error)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Int64Array;

    use super::*;

    fn result() -> StatementResult {
        let schema = Arc::new(Schema::new(vec![
            Field::new("bydel_id", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some("01"), Some("02")])),
                Arc::new(Int64Array::from(vec![Some(3), None])),
            ],
        )
        .unwrap();
        StatementResult {
            schema,
            batches: vec![batch],
        }
    }

    #[test]
    fn every_format() {
        let r = result();
        assert_eq!(render(&r, Format::Csv).unwrap(), "bydel_id,n\n01,3\n02,\n");
        assert_eq!(
            render(&r, Format::Json).unwrap(),
            "[{\"bydel_id\":\"01\",\"n\":3},{\"bydel_id\":\"02\",\"n\":null}]\n"
        );
        assert_eq!(
            render(&r, Format::Ndjson).unwrap(),
            "{\"bydel_id\":\"01\",\"n\":3}\n{\"bydel_id\":\"02\",\"n\":null}\n"
        );
        let table = render(&r, Format::Table).unwrap();
        assert!(table.contains("| 01       | 3 |"), "{table}");
        assert!(table.ends_with("(2 rows)\n"), "{table}");
    }

    #[test]
    fn empty_results_keep_their_columns() {
        let mut r = result();
        r.batches.clear();
        assert_eq!(render(&r, Format::Csv).unwrap(), "bydel_id,n\n");
        assert_eq!(render(&r, Format::Json).unwrap(), "[]\n");
        assert_eq!(render(&r, Format::Ndjson).unwrap(), "");
        assert!(render(&r, Format::Table).unwrap().contains("bydel_id"));
    }
}
