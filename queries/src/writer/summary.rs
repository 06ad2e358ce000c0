//! The writer's result: one row naming the output dataset, its documents and their bytes
//! and how long computing and publishing them took,
//! and the rows of several writers run together (the summary's columns and an error).
//! Built and read here, next to their schemas, so that the two cannot drift apart.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::error::{DataFusionError, Result};

const OUTPUT_DATASET: &str = "output_dataset";
const DOCUMENTS: &str = "documents";
const BYTES: &str = "bytes";
const COMPUTE_MS: &str = "compute_ms";
const PUBLISH_MS: &str = "publish_ms";
/// Why a writer failed, as `Kind: message` ([`crate::Error::from_reported`]); null when it
/// wrote.
const ERROR: &str = "error";

/// What one writer plan reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSummary {
    pub output_dataset: String,
    pub documents: usize,
    pub bytes: usize,
    /// Milliseconds from the writer's start to its documents built: the plan's run.
    pub compute_ms: u64,
    /// Milliseconds publishing them (staging, moving into place, the manifest).
    pub publish_ms: u64,
}

/// The summary's columns; nullable where a row may be a failed writer's.
fn summary_fields(nullable: bool) -> Vec<Field> {
    vec![
        Field::new(OUTPUT_DATASET, DataType::Utf8, nullable),
        Field::new(DOCUMENTS, DataType::Int64, nullable),
        Field::new(BYTES, DataType::Int64, nullable),
        Field::new(COMPUTE_MS, DataType::Int64, nullable),
        Field::new(PUBLISH_MS, DataType::Int64, nullable),
    ]
}

/// The writer's one-row result.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(summary_fields(false)))
}

/// The rows of several writers run together: one per writer, its summary (null when it
/// failed) and its error (null when it wrote).
pub fn outcomes_schema() -> SchemaRef {
    let mut fields = summary_fields(true);
    fields.push(Field::new(ERROR, DataType::Utf8, true));
    Arc::new(Schema::new(fields))
}

/// The summary columns of `rows` (null for `None`).
fn summary_columns(rows: &[Option<&WriteSummary>]) -> Vec<ArrayRef> {
    let count = |f: fn(&WriteSummary) -> usize| -> ArrayRef {
        Arc::new(Int64Array::from_iter(
            rows.iter().map(|row| row.map(|s| f(s) as i64)),
        ))
    };
    vec![
        Arc::new(StringArray::from_iter(
            rows.iter()
                .map(|row| row.map(|s| s.output_dataset.as_str())),
        )),
        count(|s| s.documents),
        count(|s| s.bytes),
        count(|s| s.compute_ms as usize),
        count(|s| s.publish_ms as usize),
    ]
}

/// The summaries in `batch`'s rows (`None` for a null row).
fn read_summaries(batch: &RecordBatch) -> Result<Vec<Option<WriteSummary>>> {
    let column = |name: &str| {
        batch.column_by_name(name).ok_or_else(|| {
            DataFusionError::Internal(format!("the writer's summary has no column {name}"))
        })
    };
    let counts = |name: &str| {
        column(name)?
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| DataFusionError::Internal(format!("{name} is not Int64")))
    };
    let datasets = column(OUTPUT_DATASET)?
        .as_string_opt::<i32>()
        .ok_or_else(|| DataFusionError::Internal(format!("{OUTPUT_DATASET} is not text")))?;
    let (documents, bytes) = (counts(DOCUMENTS)?, counts(BYTES)?);
    let (compute_ms, publish_ms) = (counts(COMPUTE_MS)?, counts(PUBLISH_MS)?);
    let count = |name: &str, value: i64| {
        usize::try_from(value)
            .map_err(|_| DataFusionError::Internal(format!("{name} is negative: {value}")))
    };
    (0..batch.num_rows())
        .map(|row| {
            if datasets.is_null(row) {
                return Ok(None);
            }
            Ok(Some(WriteSummary {
                output_dataset: datasets.value(row).to_string(),
                documents: count(DOCUMENTS, documents.value(row))?,
                bytes: count(BYTES, bytes.value(row))?,
                compute_ms: count(COMPUTE_MS, compute_ms.value(row))? as u64,
                publish_ms: count(PUBLISH_MS, publish_ms.value(row))? as u64,
            }))
        })
        .collect()
}

impl WriteSummary {
    /// The row the writer yields.
    pub fn to_batch(&self) -> Result<RecordBatch> {
        Ok(RecordBatch::try_new(
            schema(),
            summary_columns(&[Some(self)]),
        )?)
    }

    /// The summary in what a writer plan returned (empty partitions aside).
    pub fn from_batches(batches: &[RecordBatch]) -> Result<Self> {
        let no_row =
            || DataFusionError::Internal("the document writer returned no summary row".into());
        let batch = batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .ok_or_else(no_row)?;
        read_summaries(batch)?
            .into_iter()
            .next()
            .flatten()
            .ok_or_else(no_row)
    }
}

/// Several writers' outcomes as rows of [`outcomes_schema`], in order.
pub fn outcomes_to_batch(outcomes: &[crate::Result<WriteSummary>]) -> Result<RecordBatch> {
    let summaries: Vec<_> = outcomes.iter().map(|o| o.as_ref().ok()).collect();
    let mut columns = summary_columns(&summaries);
    columns.push(Arc::new(StringArray::from_iter(
        outcomes
            .iter()
            .map(|o| o.as_ref().err().map(|e| format!("{e:?}"))),
    )));
    Ok(RecordBatch::try_new(outcomes_schema(), columns)?)
}

/// The outcomes in rows of [`outcomes_schema`], in order: each failure as its kind and
/// message ([`crate::Error::from_reported`]).
pub fn outcomes_from_batches(batches: &[RecordBatch]) -> Result<Vec<crate::Result<WriteSummary>>> {
    let mut outcomes = vec![];
    for batch in batches {
        let errors = batch
            .column_by_name(ERROR)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| DataFusionError::Internal(format!("the outcomes have no {ERROR}")))?;
        for (row, summary) in read_summaries(batch)?.into_iter().enumerate() {
            outcomes.push(match (summary, errors.is_valid(row)) {
                (_, true) => Err(crate::Error::from_reported(errors.value(row))),
                (Some(summary), false) => Ok(summary),
                (None, false) => {
                    return Err(DataFusionError::Internal(format!(
                        "outcome {row} has neither a summary nor an error"
                    )));
                }
            });
        }
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> WriteSummary {
        WriteSummary {
            output_dataset: "trangboddhet-alle-status".into(),
            documents: 16,
            bytes: 12_345,
            compute_ms: 41,
            publish_ms: 7,
        }
    }

    #[test]
    fn a_summary_reads_back_as_written() {
        let empty = RecordBatch::new_empty(schema());
        let batches = [empty, summary().to_batch().unwrap()];
        assert_eq!(WriteSummary::from_batches(&batches).unwrap(), summary());
        assert!(WriteSummary::from_batches(&batches[..1]).is_err());
    }

    #[test]
    fn outcomes_read_back_with_their_kinds_and_messages() {
        let failed = crate::Error::EmptyPrefix {
            dataset: "befolkning-etter-kjonn-og-alder".into(),
            prefix: "processed/befolkning-etter-kjonn-og-alder/".into(),
        };
        let text = format!("{failed:?}");
        let batch = outcomes_to_batch(&[Ok(summary()), Err(failed)]).unwrap();
        let back = outcomes_from_batches(&[batch]).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].as_ref().unwrap(), &summary());
        let error = back[1].as_ref().unwrap_err();
        assert_eq!(
            (error.kind(), format!("{error:?}")),
            ("EmptyPrefixError", text)
        );
    }
}
