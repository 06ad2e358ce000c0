//! The one error type of this crate: stable kinds, located messages (DEVIATIONS D6).

use datafusion::error::DataFusionError;

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("input {dataset}: no object under prefix '{prefix}'")]
    EmptyPrefix { dataset: String, prefix: String },

    #[error(
        "input {dataset}: {} objects under prefix '{prefix}', expected exactly one: {}",
        objects.len(),
        objects.join(", ")
    )]
    MultipleFiles {
        dataset: String,
        prefix: String,
        objects: Vec<String>,
    },

    #[error(
        "input {dataset} ({file}): the header does not match the catalog: {problem}; expected columns [{}], found [{}]",
        expected.join(", "),
        found.join(", ")
    )]
    Header {
        dataset: String,
        file: String,
        problem: String,
        expected: Vec<String>,
        found: Vec<String>,
    },

    #[error("input {dataset} ({file}), line {line}, column '{column}': {problem}: '{value}'")]
    Cell {
        dataset: String,
        file: String,
        line: u64,
        column: String,
        problem: String,
        value: String,
    },

    #[error("input dataset '{0}' is not in the catalog")]
    UnknownDataset(String),

    #[error(
        "output {dataset}: document {document}, entry {entry}, field {field}: {value} is not a finite number; nothing was written"
    )]
    NonFinite {
        dataset: String,
        document: String,
        entry: String,
        field: String,
        value: String,
    },

    #[error("output {dataset}: document {document}: {message}; nothing was written")]
    Document {
        dataset: String,
        document: String,
        message: String,
    },

    #[error(
        "output {dataset}: writing the documents under '{prefix}' failed, nothing was published: {source}"
    )]
    Write {
        dataset: String,
        prefix: String,
        #[source]
        source: object_store::Error,
    },

    #[error("bucket '{url}': {problem}")]
    Bucket { url: String, problem: String },

    #[error("{0}")]
    Plan(String),

    #[error(transparent)]
    ObjectStore(#[from] object_store::Error),

    #[error("{}", describe_datafusion(.0))]
    DataFusion(DataFusionError),
}

impl Error {
    /// A stable name for the kind of error, as the Lambda shim reports it in `errorType`.
    /// Names of the original's exceptions are kept where they exist.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::EmptyPrefix { .. } => "EmptyPrefixError",
            Error::MultipleFiles { .. } => "MultipleFilesInPrefixError",
            Error::Header { .. } => "InputHeaderError",
            Error::Cell { .. } => "InputCellError",
            Error::UnknownDataset(_) => "UnknownInputDatasetError",
            Error::NonFinite { .. } => "NonFiniteValueError",
            Error::Document { .. } => "DocumentError",
            Error::Write { .. } => "WriteError",
            Error::Bucket { .. } => "BucketError",
            Error::Plan(_) => "DataError",
            Error::ObjectStore(_) => "StorageError",
            Error::DataFusion(_) => "DataError",
        }
    }
}

/// The innermost message of a DataFusion error, without the "External error: " and
/// "Execution error: " wrappers that say nothing to a user.
fn describe_datafusion(e: &DataFusionError) -> String {
    match e.find_root() {
        DataFusionError::Execution(msg) => msg.clone(),
        root => root.to_string(),
    }
}

impl From<DataFusionError> for Error {
    /// Unwraps our own errors that travelled through DataFusion (raised inside the writer
    /// operator), so their kind survives the engine.
    fn from(e: DataFusionError) -> Self {
        match e {
            DataFusionError::External(inner) => match inner.downcast::<Error>() {
                Ok(ours) => *ours,
                Err(other) => Error::DataFusion(DataFusionError::External(other)),
            },
            DataFusionError::Context(context, inner) => match Error::from(*inner) {
                Error::DataFusion(inner) => {
                    Error::DataFusion(DataFusionError::Context(context, Box::new(inner)))
                }
                ours => ours,
            },
            DataFusionError::Shared(shared) => match std::sync::Arc::try_unwrap(shared) {
                Ok(inner) => Error::from(inner),
                Err(shared) => Error::DataFusion(DataFusionError::Shared(shared)),
            },
            other => Error::DataFusion(other),
        }
    }
}

impl From<Error> for DataFusionError {
    fn from(e: Error) -> Self {
        match e {
            Error::DataFusion(inner) => inner,
            ours => DataFusionError::External(Box::new(ours)),
        }
    }
}
