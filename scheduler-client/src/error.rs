//! The client's error type: the event contract's errors with the original's names, and
//! everything the queries crate reports, with a stable kind for the Lambda shim.

use bydelsfakta_queries::Error as QueryError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The event's JSON does not have the shape of a pipeline event.
    #[error("invalid pipeline event: {0}")]
    InvalidEvent(String),

    /// `payload.pipeline.task_config[task]` or its `type` is absent.
    #[error("invalid pipeline event: {0}")]
    TaskConfig(String),

    #[error("cannot tell which function handles this event: {0}")]
    UnknownFunction(String),

    #[error("function {function}: input prefixes missing from step_data.s3_input_prefixes: [{}]", missing.join(", "))]
    PrefixNotInInput {
        function: String,
        missing: Vec<String>,
    },

    #[error("function {function}: unexpected input prefixes in step_data.s3_input_prefixes: [{}]", extra.join(", "))]
    ExtraPrefixesInInput {
        function: String,
        extra: Vec<String>,
    },

    #[error("scheduler {url}: {problem}")]
    Scheduler { url: String, problem: String },

    /// A cluster job that did not finish within the deadline (`BYDELSFAKTA_JOB_TIMEOUT_SECS`,
    /// or the Lambda invocation's end); the client cancelled it.
    #[error("scheduler {url}: job {job_id} did not finish within {seconds} s{} and was cancelled", by_deadline_words(*.by_deadline))]
    JobTimeout {
        url: String,
        job_id: String,
        seconds: u64,
        /// The limit was the time left before the engine's deadline
        /// ([`crate::Engine::with_deadline`]), not the job timeout.
        by_deadline: bool,
    },

    /// A job the scheduler accepted and then no longer knew: it restarted (a scheduler keeps
    /// its jobs in memory), or another scheduler answered.
    #[error(
        "scheduler {url}: job {job_id} is no longer known to the scheduler (it restarted, or another scheduler answered); an executor may still be running its task, and publish its documents; run the event again"
    )]
    JobLost { url: String, job_id: String },

    /// A publication's manifest that does not parse (`bydelsfakta lineage`).
    #[error("manifest {key} does not parse: {problem}")]
    Manifest { key: String, problem: String },

    /// An engine setting from the environment that does not parse.
    #[error("{variable}: {problem}")]
    Setting {
        variable: &'static str,
        problem: String,
    },

    #[error(transparent)]
    Query(Box<QueryError>),
}

impl From<QueryError> for Error {
    fn from(e: QueryError) -> Self {
        Error::Query(Box::new(e))
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Error::from(QueryError::from(e))
    }
}

/// How [`Error::JobTimeout`] says where its limit came from.
fn by_deadline_words(by_deadline: bool) -> &'static str {
    if by_deadline {
        ", the time left before the invocation's deadline"
    } else {
        ""
    }
}

impl Error {
    /// A stable name for the kind of error (the original's exception names where they exist).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidEvent(_) => "InvalidEventError",
            Error::TaskConfig(_) => "TaskConfigError",
            Error::UnknownFunction(_) => "UnknownFunctionError",
            Error::PrefixNotInInput { .. } => "PrefixNotInInputError",
            Error::ExtraPrefixesInInput { .. } => "ExtraPrefixesInInputError",
            Error::Scheduler { .. } => "SchedulerUnavailableError",
            Error::JobTimeout { .. } => "JobTimeoutError",
            Error::JobLost { .. } => "JobLostError",
            Error::Manifest { .. } => "ManifestError",
            Error::Setting { .. } => "SettingError",
            Error::Query(e) => e.kind(),
        }
    }

    /// The same error once more (for each of several runs that one failure stopped): the
    /// same kind and message.
    pub fn again(&self) -> Error {
        match self {
            Error::InvalidEvent(message) => Error::InvalidEvent(message.clone()),
            Error::TaskConfig(message) => Error::TaskConfig(message.clone()),
            Error::UnknownFunction(message) => Error::UnknownFunction(message.clone()),
            Error::PrefixNotInInput { function, missing } => Error::PrefixNotInInput {
                function: function.clone(),
                missing: missing.clone(),
            },
            Error::ExtraPrefixesInInput { function, extra } => Error::ExtraPrefixesInInput {
                function: function.clone(),
                extra: extra.clone(),
            },
            Error::Scheduler { url, problem } => Error::Scheduler {
                url: url.clone(),
                problem: problem.clone(),
            },
            Error::JobTimeout {
                url,
                job_id,
                seconds,
                by_deadline,
            } => Error::JobTimeout {
                url: url.clone(),
                job_id: job_id.clone(),
                seconds: *seconds,
                by_deadline: *by_deadline,
            },
            Error::JobLost { url, job_id } => Error::JobLost {
                url: url.clone(),
                job_id: job_id.clone(),
            },
            Error::Manifest { key, problem } => Error::Manifest {
                key: key.clone(),
                problem: problem.clone(),
            },
            Error::Setting { variable, problem } => Error::Setting {
                variable,
                problem: problem.clone(),
            },
            Error::Query(e) => Error::from(QueryError::from_reported(&format!("{e:?}"))),
        }
    }
}
