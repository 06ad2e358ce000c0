//! The one error type of this crate: stable kinds, located messages (docs/deviations.md D6).

use datafusion::error::DataFusionError;

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(thiserror::Error)]
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
        "input {dataset} ({file}): the header does not match the catalog: {}; expected columns [{}], found [{}]",
        clip(problem),
        expected.join(", "),
        clip(&found.join(", "))
    )]
    Header {
        dataset: String,
        file: String,
        problem: String,
        expected: Vec<String>,
        found: Vec<String>,
    },

    #[error("input {dataset} ({file}){}: {problem}", place(*.line, .column.as_deref()))]
    InputFile {
        dataset: String,
        file: String,
        line: Option<u64>,
        column: Option<String>,
        problem: String,
    },

    #[error(
        "input {dataset} ({file}), line {line}, column '{column}': {problem}: '{}'",
        clip(value)
    )]
    Cell {
        dataset: String,
        file: String,
        line: u64,
        column: String,
        problem: &'static str,
        value: String,
    },

    #[error("input dataset '{0}' is not in the catalog")]
    UnknownDataset(String),

    /// The store failed while an input was read: a [`Error::kind`] `StorageError` that
    /// names the input ([`Error::reading`]).
    #[error("input {dataset} ({file}): cannot be read: {source}")]
    InputStorage {
        dataset: String,
        file: String,
        #[source]
        source: Box<Error>,
    },

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
        "output {dataset}: publishing under '{prefix}' failed, nothing was published and the previous documents are as they were: {source}"
    )]
    Write {
        dataset: String,
        prefix: String,
        #[source]
        source: Box<Error>,
    },

    #[error(
        "output {dataset}: publishing under '{prefix}' failed ({source}), and the previous documents are not restored: {rollback}; the journal is kept: run `bydelsfakta recover` or the same event again"
    )]
    RecoveryNeeded {
        dataset: String,
        prefix: String,
        #[source]
        source: Box<Error>,
        rollback: String,
    },

    #[error("output prefix '{prefix}': {problem}")]
    Recovery { prefix: String, problem: String },

    #[error(
        "output prefix '{prefix}': another publication (run {run_id}) holds its lease; gave up after waiting {waited_ms} ms{}",
        if *.at_deadline { ", at the run's deadline" } else { "" }
    )]
    PublicationInProgress {
        prefix: String,
        run_id: String,
        waited_ms: u64,
        /// It stopped waiting at the run's deadline, before the publish wait was over.
        at_deadline: bool,
    },

    #[error(
        "output prefix '{prefix}': run {run_id} reached its deadline {step}, so it published nothing; the previous documents stay"
    )]
    PastDeadline {
        prefix: String,
        run_id: String,
        /// Where it stopped: `before it took the lease`, `before it changed a document`.
        step: &'static str,
    },

    #[error(
        "output prefix '{prefix}': run {run_id} lost its lease to another publisher (it held it past its expiry) and stopped; the new holder recovers what it left"
    )]
    LeaseLost { prefix: String, run_id: String },

    #[error("bucket '{url}': {problem}")]
    Bucket { url: String, problem: String },

    /// The event names a dataset type the function does not have (docs/deviations.md D3).
    #[error("function {function}: unknown dataset type '{got}'; valid types: {}", valid.join(", "))]
    UnknownDatasetType {
        function: String,
        got: String,
        valid: Vec<String>,
    },

    #[error("{0}")]
    Plan(String),

    #[error(transparent)]
    ObjectStore(object_store::Error),

    /// One of our errors known by its kind and text only: it crossed a process boundary
    /// (a Ballista executor), or several places hold it (a shared frame's failed read).
    #[error("{message}")]
    Remote { kind: &'static str, message: String },

    #[error("{}", describe_datafusion(.0))]
    DataFusion(Box<DataFusionError>),
}

/// How much of a file's text an error quotes: enough to recognise it, never a whole
/// file that happened to be named as an input.
const QUOTE_LIMIT: usize = 200;

/// `text`, or its first [`QUOTE_LIMIT`] characters and an ellipsis, its control characters
/// escaped.
fn clip(text: &str) -> String {
    let clipped = match text.char_indices().nth(QUOTE_LIMIT) {
        Some((at, _)) => &text[..at],
        None => text,
    };
    // Control characters (a NUL, a line break) are shown escaped: written raw they would
    // break the message's line, or the terminal, of whoever reads it.
    let mut shown = String::with_capacity(clipped.len());
    for c in clipped.chars() {
        if c.is_control() {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    if clipped.len() < text.len() {
        shown.push('…');
    }
    shown
}

/// `, line 6, column 'x'` as far as they are known.
fn place(line: Option<u64>, column: Option<&str>) -> String {
    let mut place = String::new();
    if let Some(line) = line {
        place.push_str(&format!(", line {line}"));
    }
    if let Some(column) = column {
        place.push_str(&format!(", column '{column}'"));
    }
    place
}

/// `Kind: "message"`, so that engines that report errors with `{:?}` (Ballista's task
/// failures) carry a readable, recognisable text. The message is quoted and escaped as a
/// Rust string, so that it is read back whole whatever it holds (a store's message ends
/// in `(os error 2)`, as an engine's wrapping does) ([`remote`]).
impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {:?}", self.kind(), self.to_string())
    }
}

/// Kinds that can be recognised again in a remote error's text.
const REMOTE_KINDS: [&str; 15] = [
    "EmptyPrefixError",
    "InputFileError",
    "MultipleFilesInPrefixError",
    "InputHeaderError",
    "InputCellError",
    "NonFiniteValueError",
    "DocumentError",
    "WriteError",
    "RecoveryNeededError",
    "RecoveryError",
    "PublicationInProgressError",
    "LeaseLostError",
    "JobTimeoutError",
    "BucketError",
    "StorageError",
];

/// Finds `Kind: "message"` of one of our errors inside a remote error's text.
fn remote(text: &str) -> Option<Error> {
    REMOTE_KINDS.iter().find_map(|kind| {
        let start = text.find(&format!("{kind}: "))?;
        Some(Error::Remote {
            kind,
            message: reported_message(&text[start + kind.len() + 2..]),
        })
    })
}

/// The message at the start of `text`, as our `Debug` form quoted it, even when an engine
/// quoted the whole text once more (`\"...\"`). Unquoted (a text from elsewhere), it
/// ends where a wrapper's closing brackets begin.
fn reported_message(text: &str) -> String {
    if let Some(message) = unquote(text) {
        return message;
    }
    if text.starts_with("\\\"")
        && let Some(message) = unquote(&format!("\"{text}")).and_then(|once| unquote(&once))
    {
        return message;
    }
    let end = text
        .find(" })")
        .or_else(|| text.find("))"))
        .unwrap_or(text.len());
    text[..end].trim_end_matches(['"', ')']).to_string()
}

/// The string of the Rust string literal (as `{:?}` writes it) at the start of `text`.
fn unquote(text: &str) -> Option<String> {
    let mut chars = text.strip_prefix('"')?.chars();
    let mut message = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(message),
            '\\' => message.push(match chars.next()? {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                '0' => '\0',
                'u' => {
                    let hex: String = chars
                        .by_ref()
                        .skip_while(|c| *c == '{')
                        .take_while(|c| *c != '}')
                        .collect();
                    char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
                }
                other => other,
            }),
            c => message.push(c),
        }
    }
    None
}

/// The message inside an engine's debug-formatted error (Ballista reports a failed task as
/// `... DataFusionError(Shared(Execution("No overlapping years")))`): the innermost quoted
/// text, unescaped, so that no engine's wrapping reaches a user.
fn engine_message(text: &str) -> Option<String> {
    let wrapped = &text[text.find("DataFusionError(")?..];
    unquote(&wrapped[wrapped.rfind("(\"")? + 1..])
}

impl Error {
    /// The error again from the text its [`Debug`] form gave (`Kind: message`), as a
    /// writer that ran elsewhere reported it: the same kind and message on every engine.
    pub fn from_reported(text: &str) -> Error {
        remote(text).unwrap_or_else(|| {
            let message = match text.strip_prefix("DataError: ") {
                Some(reported) => reported_message(reported),
                None => text.to_string(),
            };
            Error::DataFusion(Box::new(DataFusionError::Execution(message)))
        })
    }

    /// A stable name for the kind of error, as the Lambda shim reports it in `errorType`.
    /// Names of the original's exceptions are kept where they exist.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::EmptyPrefix { .. } => "EmptyPrefixError",
            Error::MultipleFiles { .. } => "MultipleFilesInPrefixError",
            Error::Header { .. } => "InputHeaderError",
            Error::Cell { .. } => "InputCellError",
            Error::InputFile { .. } => "InputFileError",
            Error::UnknownDataset(_) => "UnknownInputDatasetError",
            Error::NonFinite { .. } => "NonFiniteValueError",
            Error::Document { .. } => "DocumentError",
            Error::Write { .. } => "WriteError",
            Error::RecoveryNeeded { .. } => "RecoveryNeededError",
            Error::Recovery { .. } => "RecoveryError",
            Error::PublicationInProgress { .. } => "PublicationInProgressError",
            Error::LeaseLost { .. } => "LeaseLostError",
            // The same kind as a cluster job past its deadline: the run ran out of time.
            Error::PastDeadline { .. } => "JobTimeoutError",
            Error::Bucket { .. } => "BucketError",
            Error::UnknownDatasetType { .. } => "UnknownDatasetTypeError",
            Error::Plan(_) => "DataError",
            Error::ObjectStore(_) | Error::InputStorage { .. } => "StorageError",
            Error::Remote { kind, .. } => kind,
            Error::DataFusion(_) => "DataError",
        }
    }
}

impl Error {
    /// A store failure named as the read of input `dataset`'s object `file`; any other
    /// error as it is.
    pub fn reading(self, dataset: &str, file: &str) -> Error {
        if !self.is_storage() {
            return self;
        }
        Error::InputStorage {
            dataset: dataset.into(),
            file: file.into(),
            source: Box::new(self),
        }
    }

    /// A store failure whose message names the object of one of `inputs` (`(dataset,
    /// key)`), as a cluster job that scanned them reports it, named as the read of that
    /// input ([`Error::reading`]); any other error as it is.
    pub fn reading_one_of<'a>(self, inputs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Error {
        if !self.is_storage() {
            return self;
        }
        let text = self.to_string();
        // S3's messages name the request's URL, where `=` is escaped.
        let named = |key: &str| text.contains(key) || text.contains(&key.replace('=', "%3D"));
        match inputs.into_iter().find(|(_, key)| named(key)) {
            Some((dataset, key)) => self.reading(dataset, key),
            None => self,
        }
    }

    /// A store's failure that no input names yet.
    fn is_storage(&self) -> bool {
        matches!(
            self,
            Error::ObjectStore(_)
                | Error::Remote {
                    kind: "StorageError",
                    ..
                }
        )
    }
}

/// The error of a store's read, kept whole: shown as the error it wraps, and in its
/// `Debug` form as `StorageError: "<the store's message>"`. A Ballista executor reports a
/// failed task with `{:?}`, where object_store's own `Debug` would reach the client as
/// nested struct syntax; this form is recognised again ([`remote`]), so that a store's
/// failure mid-read reads the same on every engine. The stores wrap their reads' errors
/// in it ([`ReadFailure::wrap`]).
pub struct ReadFailure {
    /// The whole store error's message (`Generic S3 error: ...`).
    message: String,
    inner: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl ReadFailure {
    /// `e` with its source wrapped, its variant (which callers match on) and its message
    /// unchanged.
    pub fn wrap(e: object_store::Error) -> object_store::Error {
        use object_store::Error as E;
        let message = e.to_string();
        let wrap = |inner| -> Box<dyn std::error::Error + Send + Sync + 'static> {
            Box::new(ReadFailure { message, inner })
        };
        match e {
            E::Generic { store, source } => E::Generic {
                store,
                source: wrap(source),
            },
            E::NotFound { path, source } => E::NotFound {
                path,
                source: wrap(source),
            },
            E::PermissionDenied { path, source } => E::PermissionDenied {
                path,
                source: wrap(source),
            },
            E::Unauthenticated { path, source } => E::Unauthenticated {
                path,
                source: wrap(source),
            },
            other => other,
        }
    }
}

impl std::fmt::Display for ReadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl std::fmt::Debug for ReadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StorageError: {:?}", self.message)
    }
}

impl std::error::Error for ReadFailure {
    /// The wrapped error itself, so that a search of the causes ([`Unanswered::caused`])
    /// finds it.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.inner.as_ref())
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
            // The store's own words, without DataFusion's "Object Store error: ", as a
            // cluster reports them ([`ReadFailure`]).
            DataFusionError::ObjectStore(e) => Error::ObjectStore(*e),
            DataFusionError::External(inner) => match inner.downcast::<Error>() {
                Ok(ours) => *ours,
                Err(other) => Error::DataFusion(Box::new(DataFusionError::External(other))),
            },
            DataFusionError::Context(context, inner) => match Error::from(*inner) {
                Error::DataFusion(inner) => {
                    Error::DataFusion(Box::new(DataFusionError::Context(context, inner)))
                }
                ours => ours,
            },
            DataFusionError::Shared(shared) => match std::sync::Arc::try_unwrap(shared) {
                Ok(inner) => Error::from(inner),
                Err(shared) => match shared.as_ref() {
                    // A read's failure that several places met (a shared frame's).
                    DataFusionError::ObjectStore(e) => Error::Remote {
                        kind: "StorageError",
                        message: e.to_string(),
                    },
                    // One of ours that several places met: its kind and words, as a
                    // cluster reports it (ours are not `Clone`).
                    DataFusionError::External(inner) => match inner.downcast_ref::<Error>() {
                        Some(ours) => Error::Remote {
                            kind: ours.kind(),
                            message: ours.to_string(),
                        },
                        None => Error::DataFusion(Box::new(DataFusionError::Shared(shared))),
                    },
                    _ => Error::DataFusion(Box::new(DataFusionError::Shared(shared))),
                },
            },
            other => {
                let text = other.to_string();
                remote(&text)
                    .or_else(|| {
                        engine_message(&text)
                            .map(|m| Error::DataFusion(Box::new(DataFusionError::Execution(m))))
                    })
                    .unwrap_or(Error::DataFusion(Box::new(other)))
            }
        }
    }
}

/// A store call that did not answer within its time limit (a local folder's calls are
/// bounded by the store that wraps them): its outcome is unknown, and a write may still
/// land after the caller gave up. The publication protocol stops writing when it meets
/// one (docs/publication.md), so that nothing it writes later can be overtaken by it.
#[derive(Debug, thiserror::Error)]
#[error(
    "{operation} of '{key}' did not answer within {} s{}",
    .limit.as_secs_f64(),
    if *.may_land { "; it may still land" } else { "" }
)]
pub struct Unanswered {
    pub operation: &'static str,
    pub key: String,
    pub limit: std::time::Duration,
    /// A write (put, copy, rename, delete) goes on after it was given up.
    pub may_land: bool,
}

impl Unanswered {
    /// Whether `e` or one of its causes is an unanswered call: a local folder's call given
    /// up, or a request to S3 that timed out or broke off once sent (S3 may still carry it
    /// out after the client gave up on it).
    pub fn caused(e: &(dyn std::error::Error + 'static)) -> bool {
        use object_store::client::{HttpError, HttpErrorKind};
        let mut cause = Some(e);
        while let Some(e) = cause {
            if e.is::<Unanswered>()
                || e.downcast_ref::<HttpError>().is_some_and(|http| {
                    matches!(
                        http.kind(),
                        HttpErrorKind::Timeout | HttpErrorKind::Interrupted
                    )
                })
            {
                return true;
            }
            cause = e.source();
        }
        false
    }
}

/// The store name of the object_store errors a publication's site makes itself (a write
/// withheld or refused before it started), so that `From<object_store::Error>` finds one
/// of ours inside.
pub const PUBLICATION_STORE: &str = "publication";

impl From<object_store::Error> for Error {
    /// A store error, or one of ours that a store call's wrapper carried: the publication's
    /// lease check before a write (`publication/site.rs`) keeps its kind.
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::Generic {
                store: PUBLICATION_STORE,
                source,
            } => match source.downcast::<Error>() {
                Ok(ours) => *ours,
                Err(source) => Error::ObjectStore(object_store::Error::Generic {
                    store: PUBLICATION_STORE,
                    source,
                }),
            },
            other => Error::ObjectStore(other),
        }
    }
}

impl From<Error> for DataFusionError {
    fn from(e: Error) -> Self {
        match e {
            Error::DataFusion(inner) => *inner,
            ours => DataFusionError::External(Box::new(ours)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engines_debug_wrapping_is_taken_off() {
        let text = "Job 038HV failed: Job failed due to stage 18 failed: Task failed due to runtime execution error: DataFusionError(Shared(Execution(\"No overlapping years in \\\"dataframes\\\"\")))";
        let e = Error::from(DataFusionError::Execution(text.into()));
        assert_eq!(e.to_string(), "No overlapping years in \"dataframes\"");
        assert_eq!(e.kind(), "DataError");
        let plain = Error::from(DataFusionError::Execution("plain words".into()));
        assert_eq!(plain.to_string(), "plain words");
    }

    #[test]
    fn a_reported_error_reads_back_with_its_kind_and_message() {
        let ours = Error::Cell {
            dataset: "d".into(),
            file: "f.csv".into(),
            line: 3,
            column: "antall".into(),
            problem: "not a number",
            value: "x".into(),
        };
        let again = Error::from_reported(&format!("{ours:?}"));
        assert_eq!(
            (again.kind(), again.to_string()),
            (ours.kind(), ours.to_string())
        );
        let engine = Error::DataFusion(Box::new(DataFusionError::Execution("no rows".into())));
        let again = Error::from_reported(&format!("{engine:?}"));
        assert_eq!(
            (again.kind(), again.to_string()),
            ("DataError", "no rows".into())
        );
    }

    /// A publication's refusals cross from an executor with their kinds, the deadline's
    /// (`JobTimeoutError`, as the job client's own) among them.
    #[test]
    fn a_publications_refusals_read_back_with_their_kinds() {
        let refusals = [
            Error::PastDeadline {
                prefix: "p/".into(),
                run_id: "r1".into(),
                step: "before it changed a document",
            },
            Error::PublicationInProgress {
                prefix: "p/".into(),
                run_id: "r0".into(),
                waited_ms: 7998,
                at_deadline: true,
            },
            Error::LeaseLost {
                prefix: "p/".into(),
                run_id: "r1".into(),
            },
        ];
        for ours in refusals {
            let reported = format!("Job 1 failed: DataFusionError(Shared(External({ours:?})))");
            let again = Error::from_reported(&reported);
            assert_eq!(
                (again.kind(), again.to_string()),
                (ours.kind(), ours.to_string())
            );
        }
    }

    /// A store's error on a read as a Ballista task failure reports it (`{:?}` of the
    /// task's error, inside the job's failure text).
    fn as_a_cluster_reports(e: object_store::Error) -> Error {
        let task = DataFusionError::Shared(std::sync::Arc::new(DataFusionError::External(
            Box::new(DataFusionError::ObjectStore(Box::new(e))),
        )));
        let text = format!(
            "Job 038J6 failed: Job failed due to stage 1 failed: Task failed due to runtime execution error: {task:?}"
        );
        Error::from(DataFusionError::Execution(text))
    }

    #[test]
    fn a_failed_read_reads_alike_in_process_and_from_a_cluster() {
        let failed = || object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(Unanswered {
                operation: "get",
                key: "/data/in/version=1/d.csv".into(),
                limit: std::time::Duration::from_secs(30),
                may_land: false,
            }),
        };
        let said = failed().to_string();
        let here = Error::from(DataFusionError::ObjectStore(Box::new(ReadFailure::wrap(
            failed(),
        ))));
        let there = as_a_cluster_reports(ReadFailure::wrap(failed()));
        for e in [&here, &there] {
            assert_eq!((e.kind(), e.to_string()), ("StorageError", said.clone()));
        }
        let unwrapped = as_a_cluster_reports(failed());
        assert_ne!(unwrapped.to_string(), said, "object_store's Debug form");

        let inputs = [("other", "in/o.csv"), ("d", "in/version=1/d.csv")];
        for e in [here, there] {
            let named = e.reading_one_of(inputs);
            assert_eq!(
                (named.kind(), named.to_string()),
                (
                    "StorageError",
                    format!("input d (in/version=1/d.csv): cannot be read: {said}")
                )
            );
        }
        let by_url = Error::ObjectStore(object_store::Error::Generic {
            store: "S3",
            source: "GET http://s3/b/in/version%3D1/d.csv failed".into(),
        });
        assert!(
            by_url
                .reading_one_of(inputs)
                .to_string()
                .starts_with("input d ")
        );
        let unknown = Error::ObjectStore(failed()).reading_one_of([("o", "in/o.csv")]);
        assert!(!unknown.to_string().starts_with("input "), "{unknown}");
        let cell = Error::Plan("no rows".into()).reading("d", "in/d.csv");
        assert_eq!(
            cell.to_string(),
            "no rows",
            "only a store's failure is a read's"
        );
    }

    #[test]
    fn a_wrapped_read_error_keeps_its_variant_and_its_causes() {
        let gone = object_store::Error::NotFound {
            path: "in/d.csv".into(),
            source: "no such file".into(),
        };
        let said = gone.to_string();
        let wrapped = ReadFailure::wrap(gone);
        assert!(matches!(wrapped, object_store::Error::NotFound { .. }));
        assert_eq!(wrapped.to_string(), said);
        let held = ReadFailure::wrap(object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(Unanswered {
                operation: "get",
                key: "/in/d.csv".into(),
                limit: std::time::Duration::from_secs(1),
                may_land: false,
            }),
        });
        assert!(Unanswered::caused(&held));
    }

    #[test]
    fn one_of_ours_that_several_places_met_keeps_its_kind() {
        let ours = || Error::UnknownDatasetType {
            function: "f".into(),
            got: "x".into(),
            valid: vec!["status".into()],
        };
        let shared = std::sync::Arc::new(DataFusionError::External(Box::new(ours())));
        let held_elsewhere = shared.clone();
        let met = Error::from(DataFusionError::Shared(shared));
        assert_eq!(
            (met.kind(), met.to_string()),
            (ours().kind(), ours().to_string())
        );
        drop(held_elsewhere);
        let foreign = std::sync::Arc::new(DataFusionError::External("theirs".into()));
        let _also = foreign.clone();
        assert_eq!(
            Error::from(DataFusionError::Shared(foreign)).kind(),
            "DataError"
        );
    }

    #[test]
    fn a_message_reads_back_whole_whatever_it_holds() {
        let ours = Error::Cell {
            dataset: "d".into(),
            file: "in/d.csv".into(),
            line: 7,
            column: "antall".into(),
            problem: "not a number",
            value: "x)) }) \"q\" \\ ø \u{1b}".into(),
        };
        let said = ours.to_string();
        let reported = format!("{ours:?}");
        for text in [
            format!("Job 1 failed: ... DataFusionError(Shared(External({reported})))"),
            // Quoted once more inside an engine's own message.
            format!("DataFusionError(Execution({reported:?}))"),
        ] {
            let again = Error::from_reported(&text);
            assert_eq!(
                (again.kind(), again.to_string()),
                ("InputCellError", said.clone())
            );
        }
        let gone = object_store::Error::NotFound {
            path: "/b/in/d.csv".into(),
            source: Box::new(std::io::Error::from_raw_os_error(2)),
        };
        let said = gone.to_string();
        assert!(said.ends_with("(os error 2)"), "{said}");
        let there = as_a_cluster_reports(ReadFailure::wrap(gone));
        assert_eq!((there.kind(), there.to_string()), ("StorageError", said));
        let data = Error::DataFusion(Box::new(DataFusionError::Execution("a (b)".into())));
        let again = Error::from_reported(&format!("{data:?}"));
        assert_eq!(
            (again.kind(), again.to_string()),
            ("DataError", "a (b)".into())
        );
    }

    #[test]
    fn long_quotes_are_clipped() {
        let clipped = clip(&"y".repeat(300));
        assert_eq!(clipped.chars().count(), QUOTE_LIMIT + 1);
        assert!(clipped.ends_with('…'));
        assert_eq!(clip("short"), "short");
        assert_eq!(
            clip("8\u{0}36\r\n"),
            "8\\u{0}36\\r\\n",
            "control characters escaped"
        );
    }
}
