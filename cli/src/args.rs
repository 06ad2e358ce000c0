//! The `bydelsfakta` command line's flags and subcommands (clap).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::bench::REFERENCE_TIMINGS;
use crate::demo::SAMPLE_BUCKET;
use crate::sql::output::Format as SqlFormat;
use bydelsfakta_scheduler_client::engine::EngineKind;
use bydelsfakta_scheduler_client::logging::{LOG_FORMAT_VARIABLE, LogFormat};
use bydelsfakta_scheduler_client::run::{
    LEASE_TTL_VARIABLE, PUBLISH_WAIT_VARIABLE, parse_published_date, parse_seconds,
};
use bydelsfakta_scheduler_client::sql::limits::parse_size;
use bydelsfakta_scheduler_client::stores::settings::{
    CONNECT_TIMEOUT_VARIABLE, LOCAL_CALL_TIMEOUT_VARIABLE, MAX_RETRIES_VARIABLE,
    REQUEST_TIMEOUT_VARIABLE, RETRY_TIMEOUT_VARIABLE, StoreSettings,
};

/// Turns Oslo's processed district statistics into the JSON documents of the Bydelsfakta
/// website, with DataFusion (embedded) or a Ballista cluster.
#[derive(Debug, Parser)]
#[command(name = "bydelsfakta", version, about)]
pub struct Cli {
    /// Where the plans run.
    #[arg(long, global = true, value_enum, default_value_t = EngineKind::Embedded, env = "BYDELSFAKTA_ENGINE")]
    pub engine: EngineKind,
    /// A Ballista cluster's scheduler, `df://host:50050`: the plans run there instead
    /// (its executors read and write the bucket themselves).
    #[arg(long, global = true, env = "BYDELSFAKTA_SCHEDULER")]
    pub scheduler: Option<String>,
    /// Seconds a publication waits for another one of the same output prefix to finish,
    /// then fails with PublicationInProgressError.
    #[arg(long, global = true, env = PUBLISH_WAIT_VARIABLE, value_name = "SECONDS", value_parser = parse_seconds, default_value = "60")]
    pub publish_wait: Duration,
    /// Seconds a publication's lease lasts unless its holder renews it: a publisher that
    /// died is taken over after this long (at once when it ran on this machine). At least
    /// twice the longest store call (the S3 retry plus request timeouts, or the local call
    /// timeout).
    #[arg(long, global = true, env = LEASE_TTL_VARIABLE, value_name = "SECONDS", value_parser = parse_seconds, default_value = "60")]
    pub lease_ttl: Duration,
    /// Seconds to open a connection to S3 (default 5).
    #[arg(long, global = true, env = CONNECT_TIMEOUT_VARIABLE, value_name = "SECONDS", value_parser = parse_seconds)]
    pub s3_connect_timeout: Option<Duration>,
    /// Seconds one S3 request may take, answer included (default 10).
    #[arg(long, global = true, env = REQUEST_TIMEOUT_VARIABLE, value_name = "SECONDS", value_parser = parse_seconds)]
    pub s3_request_timeout: Option<Duration>,
    /// Seconds after the first try of an S3 call when no further retry starts (default
    /// 20); server errors and throttling are retried, other errors are not.
    #[arg(long, global = true, env = RETRY_TIMEOUT_VARIABLE, value_name = "SECONDS", value_parser = parse_seconds)]
    pub s3_retry_timeout: Option<Duration>,
    /// Retries of one S3 call at most (default 5).
    #[arg(long, global = true, env = MAX_RETRIES_VARIABLE, value_name = "COUNT")]
    pub s3_max_retries: Option<usize>,
    /// Seconds one call of a local-folder bucket may take, answer included (default 30):
    /// a hung mount fails the run instead of holding it.
    #[arg(long, global = true, env = LOCAL_CALL_TIMEOUT_VARIABLE, value_name = "SECONDS", value_parser = parse_seconds)]
    pub local_call_timeout: Option<Duration>,
    /// How log lines on stderr look: text, or one JSON object per line (each run's record
    /// nested, errors included). Stdout is the same either way.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = LOG_FORMAT_VARIABLE)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one pipeline event: write its documents and print the step output JSON.
    Run {
        /// The event file, or `-` for standard input.
        #[arg(long)]
        event: String,
        /// The bucket: `file:///absolute/folder` (or a folder path), `s3://name`.
        #[arg(long, env = "BYDELSFAKTA_BUCKET")]
        bucket: String,
        /// `meta.publishedDate` of the documents, YYYY-MM-DD (default: today, UTC).
        #[arg(long, value_parser = parse_published_date)]
        published_date: Option<String>,
        /// Run this function instead of the one the event names.
        #[arg(long)]
        function: Option<String>,
        /// Everything but publishing: read, plan, run and build the documents, report how
        /// many (and their bytes) on stderr, print the step output, and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run every implemented output dataset on the sample bucket and show the timings.
    Demo {
        /// Where the bucket and its documents go.
        #[arg(long, default_value = "./bydelsfakta-demo")]
        out: PathBuf,
        /// The sample bucket to copy from.
        #[arg(long, default_value = SAMPLE_BUCKET, hide_default_value = true)]
        sample: PathBuf,
        /// `meta.publishedDate` of the documents, YYYY-MM-DD (default: today, UTC).
        #[arg(long, value_parser = parse_published_date)]
        published_date: Option<String>,
    },
    /// Run every output dataset on the latest edition of each input in the bucket.
    RunAll {
        /// The bucket: `file:///absolute/folder` (or a folder path), `s3://name`.
        #[arg(long, env = "BYDELSFAKTA_BUCKET")]
        bucket: String,
        /// The output edition (default: the run's timestamp, YYYYMMDDTHHMMSS).
        #[arg(long)]
        edition: Option<String>,
        /// Run only the outputs that read this input dataset.
        #[arg(long)]
        changed: Option<String>,
        /// Run only these output datasets (repeat the option, or separate with commas).
        #[arg(long = "output", value_name = "OUTPUT_DATASET", value_delimiter = ',')]
        outputs: Vec<String>,
        /// `meta.publishedDate` of the documents, YYYY-MM-DD (default: today, UTC).
        #[arg(long, value_parser = parse_published_date)]
        published_date: Option<String>,
        /// How many outputs run at once (default: twice the cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// How to print the summary.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Measure every output on the sample bucket and on synthesized larger ones (one
    /// `run-all` process per batch), against the original's timings. Build with --release.
    Bench {
        /// Sub-district multipliers to run; 1 is the sample bucket itself, 9 the largest
        /// (see `synth`).
        #[arg(long, value_delimiter = ',', default_value = "1,4,8")]
        scales: Vec<usize>,
        /// Seed of the synthesized buckets.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Runs per scale (the median is reported).
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Where the buckets go (reused by later runs). By default a memory-backed folder
        /// (`/dev/shm/bydelsfakta-bench`) where there is one, as the original's timings were
        /// taken against an in-memory S3; else `./bydelsfakta-bench`.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The sample bucket to scale.
        #[arg(long, default_value = SAMPLE_BUCKET, hide_default_value = true)]
        sample: PathBuf,
        /// The original's timings (markdown table).
        #[arg(long, default_value = REFERENCE_TIMINGS, hide_default_value = true)]
        reference: PathBuf,
        /// With `--scheduler` (or `--engine standalone`): a cluster executor's process id,
        /// whose peak memory is reported (repeat for each executor on this machine).
        #[arg(long = "executor-pid", value_name = "PID")]
        executor_pids: Vec<u32>,
        /// Another build of bydelsfakta to compare this one with: each round runs its
        /// `run-all` beside this build's, alternating which goes first, and the report
        /// gives this build's wall and CPU as ratios (median of the rounds' pairs) and
        /// both peaks. Both run from fresh copies in the bench folder.
        #[arg(long, value_name = "BINARY")]
        against: Option<PathBuf>,
    },
    /// Write a bucket of inputs shaped like the sample, with every sub-district copied
    /// `scale` times and its counts varied (seeded).
    Synth {
        /// How many sub-districts per sample sub-district.
        #[arg(long, default_value_t = 4)]
        scale: usize,
        /// Seed of the variation.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The folder to write the bucket to.
        #[arg(long)]
        out: PathBuf,
        /// The sample bucket to scale.
        #[arg(long, default_value = SAMPLE_BUCKET, hide_default_value = true)]
        sample: PathBuf,
    },
    /// Finish or undo interrupted publications. Every output prefix under --output-prefix
    /// (the whole bucket without it) that a crashed publication left a journal or leftovers
    /// in gets its previous documents back, or its new set completed when its manifest was
    /// already written; nothing of the publication is left behind.
    Recover {
        /// The bucket: `file:///absolute/folder` (or a folder path), `s3://name`.
        #[arg(long, env = "BYDELSFAKTA_BUCKET")]
        bucket: String,
        /// Only this output prefix and the prefixes below it.
        #[arg(long, value_name = "PREFIX")]
        output_prefix: Option<String>,
    },
    /// List the functions, their types, output datasets and input datasets.
    List,
    /// Show which input editions produced an output's documents, and when: the manifests
    /// of its publications, newest first.
    Lineage {
        /// The bucket: `file:///absolute/folder` (or a folder path), `s3://name`.
        #[arg(long, env = "BYDELSFAKTA_BUCKET")]
        bucket: String,
        /// An output dataset (`husholdningstyper-status`), or a key prefix with `/` (an
        /// output prefix, or a folder above several).
        target: String,
        #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
        format: ExplainFormat,
    },
    /// Print the logical and physical plans of a pipeline event's output; with
    /// `--analyze`, run the plan in this process (building the documents, publishing
    /// nothing) and add each operator's rows and compute time.
    Explain {
        /// The event file, or `-` for standard input.
        #[arg(long)]
        event: String,
        /// The bucket: `file:///absolute/folder` (or a folder path), `s3://name`.
        #[arg(long, env = "BYDELSFAKTA_BUCKET")]
        bucket: String,
        /// Run the plan and show what each operator did.
        #[arg(long)]
        analyze: bool,
        #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
        format: ExplainFormat,
        /// Explain this function's plan instead of the one the event names.
        #[arg(long)]
        function: Option<String>,
    },
    /// Query the bucket's processed datasets with SQL: run the query given, or open a shell.
    /// Every dataset is a table named after its id (`-` as `_`) holding its latest
    /// edition, and `<name>__editions` holds every edition with the columns `version` and
    /// `edition`. Read-only: statements that write, create, drop or set are refused.
    Sql {
        /// The bucket: `file:///absolute/folder` (or a folder path), `s3://name`.
        #[arg(long, env = "BYDELSFAKTA_BUCKET")]
        bucket: String,
        /// How to print results.
        #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
        format: SqlFormat,
        /// The shell's history file (default: ~/.bydelsfakta_sql_history).
        #[arg(long)]
        history: Option<PathBuf>,
        /// Memory one statement may use for its operators and its result (say 512MB or
        /// 2GB; default: half the machine's memory, at most 4 GiB).
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        memory_limit: Option<usize>,
        /// Seconds a statement may run before it is stopped (default 300).
        #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
        statement_timeout: Option<Duration>,
        /// The statements to run (`;` between several); without them, the shell. They may
        /// start with a `--` comment.
        #[arg(allow_hyphen_values = true)]
        query: Option<String>,
    },
}

/// How `explain` and `lineage` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExplainFormat {
    /// For people.
    Text,
    /// JSON: `explain`'s plans' lines (and after `--analyze` the operators' metrics), or
    /// `lineage`'s manifests.
    Json,
}

/// How `run-all` prints its summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// One JSON object: every output with its documents and milliseconds (or its error),
    /// the batch's wall time and the process's peak memory.
    Json,
}

impl Cli {
    /// The store settings of the flags (or their variables), the defaults for the rest.
    pub fn store_settings(&self) -> StoreSettings {
        let defaults = StoreSettings::default();
        StoreSettings {
            connect_timeout: self.s3_connect_timeout.unwrap_or(defaults.connect_timeout),
            request_timeout: self.s3_request_timeout.unwrap_or(defaults.request_timeout),
            retry_timeout: self.s3_retry_timeout.unwrap_or(defaults.retry_timeout),
            max_retries: self.s3_max_retries.unwrap_or(defaults.max_retries),
            local_call_timeout: self
                .local_call_timeout
                .unwrap_or(defaults.local_call_timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
