//! The writer's result: one row naming the output dataset, its documents and their bytes.
//! Built and read here, next to its schema, so that the two cannot drift apart.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::error::{DataFusionError, Result};

const OUTPUT_DATASET: &str = "output_dataset";
const DOCUMENTS: &str = "documents";
const BYTES: &str = "bytes";

/// What one writer plan reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSummary {
    pub output_dataset: String,
    pub documents: usize,
    pub bytes: usize,
}

/// The writer's one-row result.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(OUTPUT_DATASET, DataType::Utf8, false),
        Field::new(DOCUMENTS, DataType::Int64, false),
        Field::new(BYTES, DataType::Int64, false),
    ]))
}

impl WriteSummary {
    /// The row the writer yields.
    pub fn to_batch(&self) -> Result<RecordBatch> {
        Ok(RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from(vec![self.output_dataset.clone()])),
                Arc::new(Int64Array::from(vec![self.documents as i64])),
                Arc::new(Int64Array::from(vec![self.bytes as i64])),
            ],
        )?)
    }

    /// The summary in what a writer plan returned (empty partitions aside).
    pub fn from_batches(batches: &[RecordBatch]) -> Result<Self> {
        let batch = batches.iter().find(|b| b.num_rows() > 0).ok_or_else(|| {
            DataFusionError::Internal("the document writer returned no summary row".into())
        })?;
        let column = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| {
                DataFusionError::Internal(format!("the writer's summary has no column {name}"))
            })
        };
        let count = |name: &str| -> Result<usize> {
            let value = column(name)?
                .as_primitive_opt::<Int64Type>()
                .ok_or_else(|| DataFusionError::Internal(format!("{name} is not Int64")))?
                .value(0);
            usize::try_from(value)
                .map_err(|_| DataFusionError::Internal(format!("{name} is negative: {value}")))
        };
        let output_dataset = column(OUTPUT_DATASET)?
            .as_string_opt::<i32>()
            .ok_or_else(|| DataFusionError::Internal(format!("{OUTPUT_DATASET} is not text")))?
            .value(0)
            .to_string();
        Ok(Self {
            output_dataset,
            documents: count(DOCUMENTS)?,
            bytes: count(BYTES)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_reads_back_as_written() {
        let summary = WriteSummary {
            output_dataset: "trangboddhet-alle-status".into(),
            documents: 16,
            bytes: 12_345,
        };
        let empty = RecordBatch::new_empty(schema());
        let batches = [empty, summary.to_batch().unwrap()];
        assert_eq!(WriteSummary::from_batches(&batches).unwrap(), summary);
        assert!(WriteSummary::from_batches(&batches[..1]).is_err());
    }
}
