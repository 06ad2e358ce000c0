//! The `bydelsfakta` command line.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use crate::bench::{
    BenchOptions, REFERENCE_TIMINGS, Reference, default_bench_dir, peak_rss_bytes, report,
    run_bench,
};
use crate::demo::{RunAllOptions, RunAllRow, SAMPLE_BUCKET, run_all, run_demo};
use crate::engine::{Engine, EngineKind};
use crate::recover::recover_bucket;
use crate::run::{
    LEASE_TTL_VARIABLE, PUBLISH_WAIT_VARIABLE, RunOptions, parse_published_date, parse_seconds,
    run_event, today_utc,
};
use crate::sql::SqlSession;
use crate::sql::limits::{SqlLimits, parse_size};
use crate::sql::output::Format as SqlFormat;
use crate::sql::shell::{ShellOptions, default_history, run_statements};
use crate::stores::settings::{
    CONNECT_TIMEOUT_VARIABLE, MAX_RETRIES_VARIABLE, REQUEST_TIMEOUT_VARIABLE,
    RETRY_TIMEOUT_VARIABLE, StoreSettings,
};
use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_queries::functions;
use bydelsfakta_queries::publication::records::PublishSettings;

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
    /// died is taken over after this long (at once when it ran on this machine).
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
        /// The bucket: `file:///absolute/folder` (or a folder path).
        #[arg(long, env = "BYDELSFAKTA_BUCKET")]
        bucket: String,
        /// `meta.publishedDate` of the documents, YYYY-MM-DD (default: today, UTC).
        #[arg(long, value_parser = parse_published_date)]
        published_date: Option<String>,
        /// Run this function instead of the one the event names.
        #[arg(long)]
        function: Option<String>,
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
        /// The bucket: `file:///absolute/folder` (or a folder path).
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
        /// Sub-district multipliers to run; 1 is the sample bucket itself.
        #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
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
        /// 2GB; default: half the machine's memory).
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

/// How `run-all` prints its summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// One JSON object: every output with its documents and milliseconds (or its error),
    /// the batch's wall time and the process's peak memory.
    Json,
}

/// The table of a run of many outputs: dataset, documents, milliseconds (or the failure).
fn summary_table(rows: &[RunAllRow], out: &mut String) -> std::fmt::Result {
    use std::fmt::Write;
    let width = rows
        .iter()
        .map(|r| r.output_dataset.len())
        .max()
        .unwrap_or(0)
        .max(20);
    writeln!(
        out,
        "{:<width$}  {:>9}  {:>9}",
        "output dataset", "documents", "ms"
    )?;
    let (mut documents, mut millis) = (0, 0.0);
    for row in rows {
        match &row.outcome {
            Ok((docs, ms)) => {
                documents += docs;
                millis += ms;
                writeln!(out, "{:<width$}  {docs:>9}  {ms:>9.1}", row.output_dataset)?;
            }
            Err(_) => writeln!(
                out,
                "{:<width$}  {:>9}  {:>9}",
                row.output_dataset, "FAILED", "-"
            )?,
        }
    }
    let total = format!("total ({} outputs)", rows.len());
    writeln!(out, "{total:<width$}  {documents:>9}  {millis:>9.1}")
}

/// `run-all --format json`.
fn json_summary(rows: &[RunAllRow], wall_ms: f64) -> serde_json::Value {
    let outputs: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| match &row.outcome {
            Ok((documents, ms)) => serde_json::json!({
                "output_dataset": row.output_dataset, "documents": documents, "ms": ms
            }),
            Err(e) => serde_json::json!({"output_dataset": row.output_dataset, "error": e}),
        })
        .collect();
    serde_json::json!({
        "outputs": outputs,
        "wall_ms": wall_ms,
        "peak_rss_bytes": peak_rss_bytes(),
    })
}

/// An error naming every failed output, if any failed.
fn failures(rows: &[RunAllRow]) -> anyhow::Result<()> {
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| r.outcome.is_err())
        .map(|r| r.output_dataset.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} of {} outputs failed: {}",
            failed.len(),
            rows.len(),
            failed.join(", ")
        )
    }
}

impl Cli {
    /// The S3 settings of the flags (or their variables), the defaults for the rest.
    pub fn store_settings(&self) -> StoreSettings {
        let defaults = StoreSettings::default();
        StoreSettings {
            connect_timeout: self.s3_connect_timeout.unwrap_or(defaults.connect_timeout),
            request_timeout: self.s3_request_timeout.unwrap_or(defaults.request_timeout),
            retry_timeout: self.s3_retry_timeout.unwrap_or(defaults.retry_timeout),
            max_retries: self.s3_max_retries.unwrap_or(defaults.max_retries),
        }
    }
}

/// Runs the command; what it prints on stdout is the result, logs go to stderr.
pub async fn execute(cli: Cli) -> anyhow::Result<()> {
    crate::stores::configure(cli.store_settings()).map_err(anyhow::Error::msg)?;
    let mut out = String::new();
    // What was printed stays printed when the command then fails (run-all's table).
    let result = run_command(cli, &mut out).await;
    // A closed pipe (`bydelsfakta list | head`) is not an error.
    match std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    result
}

async fn run_command(cli: Cli, out: &mut String) -> anyhow::Result<()> {
    use std::fmt::Write;
    let publish = PublishSettings {
        lease_ttl: cli.lease_ttl,
        wait: cli.publish_wait,
    };
    match cli.command {
        Command::Run {
            event,
            bucket,
            published_date,
            function,
        } => {
            let text = if event == "-" {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                text
            } else {
                std::fs::read_to_string(&event)
                    .map_err(|e| anyhow::anyhow!("event file '{event}': {e}"))?
            };
            let bucket = Bucket::from_arg(&bucket)?;
            let engine = Engine::connect(cli.engine, cli.scheduler.as_deref(), &bucket).await?;
            let options = RunOptions {
                published_date: published_date.unwrap_or_else(today_utc),
                function,
                publish,
            };
            let outcome = run_event(&engine, &bucket, &text, &options).await?;
            eprintln!(
                "wrote {} documents ({} bytes) of {} under {} in {:.0} ms",
                outcome.summary.documents,
                outcome.summary.bytes,
                outcome.summary.output_dataset,
                outcome.output_prefix,
                outcome.elapsed.as_secs_f64() * 1000.0
            );
            writeln!(out, "{}", outcome.step_output.to_python_string())?;
        }
        Command::Demo {
            out: out_dir,
            sample,
            published_date,
        } => {
            let rows = run_demo(
                cli.engine,
                cli.scheduler.as_deref(),
                &out_dir,
                &sample,
                &published_date.unwrap_or_else(today_utc),
                publish,
            )
            .await?;
            summary_table(&rows, out)?;
            writeln!(
                out,
                "documents are under {}/intermediate/",
                out_dir.display()
            )?;
            failures(&rows)?;
        }
        Command::RunAll {
            bucket,
            edition,
            changed,
            outputs,
            published_date,
            jobs,
            format,
        } => {
            let bucket = Bucket::from_arg(&bucket)?;
            let engine = Engine::connect(cli.engine, cli.scheduler.as_deref(), &bucket).await?;
            let options = RunAllOptions {
                edition,
                changed,
                outputs,
                published_date: published_date.unwrap_or_else(today_utc),
                jobs,
                publish,
            };
            let started = Instant::now();
            let rows = run_all(&engine, &bucket, &options).await?;
            let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
            match format {
                Format::Table => {
                    summary_table(&rows, out)?;
                    writeln!(out, "wall time {wall_ms:.1} ms")?;
                }
                Format::Json => writeln!(out, "{}", json_summary(&rows, wall_ms))?,
            }
            failures(&rows)?;
        }
        Command::Bench {
            scales,
            seed,
            repeat,
            dir,
            sample,
            reference,
        } => {
            anyhow::ensure!(repeat >= 1, "--repeat must be at least 1");
            if cfg!(debug_assertions) {
                eprintln!("warning: a debug build; measure with `cargo run --release`");
            }
            let reference = Reference::read(&reference)?;
            let options = BenchOptions {
                scales,
                seed,
                repeat,
                dir: dir.unwrap_or_else(default_bench_dir),
                sample,
                original_outputs: reference.outputs(),
                original_scales: reference.scales(),
            };
            let results = tokio::task::spawn_blocking(move || run_bench(&options)).await??;
            out.push_str(&report(&results, &reference));
        }
        Command::Synth {
            scale,
            seed,
            out: out_dir,
            sample,
        } => {
            let files = crate::synth::synthesize(&sample, &out_dir, scale, seed)?;
            writeln!(
                out,
                "wrote {files} input files at {scale}x the sub-districts to {}",
                out_dir.display()
            )?;
        }
        Command::Sql {
            bucket,
            format,
            history,
            memory_limit,
            statement_timeout,
            query,
        } => {
            let bucket = Bucket::from_arg(&bucket)?;
            let engine = Engine::connect(cli.engine, cli.scheduler.as_deref(), &bucket).await?;
            let defaults = SqlLimits::cli();
            let limits = SqlLimits {
                memory_limit: memory_limit.unwrap_or(defaults.memory_limit),
                statement_timeout: statement_timeout.unwrap_or(defaults.statement_timeout),
                ..defaults
            };
            let session = SqlSession::open(engine, &bucket, limits).await?;
            match query {
                Some(sql) => out.push_str(&run_statements(&session, &sql, format).await?),
                None => {
                    let options = ShellOptions {
                        format,
                        history: history.or_else(default_history),
                    };
                    let failures = crate::sql::shell::run(&session, &options).await?;
                    anyhow::ensure!(
                        failures == 0 || std::io::IsTerminal::is_terminal(&std::io::stdin()),
                        "{failures} statement(s) failed"
                    );
                }
            }
        }
        Command::Recover {
            bucket,
            output_prefix,
        } => {
            let bucket = Bucket::from_arg(&bucket)?;
            let under = output_prefix.unwrap_or_default();
            let recovered = recover_bucket(&bucket, &under, &publish).await?;
            if recovered.is_empty() {
                let place = if under.is_empty() {
                    "the bucket"
                } else {
                    &under
                };
                writeln!(out, "no interrupted publication in {place}")?;
            }
            let mut failed = 0;
            for prefix in &recovered {
                match &prefix.outcome {
                    Ok(what) => writeln!(out, "{}: {what}", prefix.prefix)?,
                    Err(e) => {
                        failed += 1;
                        writeln!(out, "{}: failed: {e}", prefix.prefix)?;
                    }
                }
            }
            anyhow::ensure!(
                failed == 0,
                "{failed} of {} output prefixes could not be recovered",
                recovered.len()
            );
        }
        Command::List => {
            writeln!(
                out,
                "{:<34} {:<24} {:<52} inputs",
                "function", "type", "output dataset"
            )?;
            for f in functions::all() {
                for t in f.types {
                    writeln!(
                        out,
                        "{:<34} {:<24} {:<52} {}",
                        f.name,
                        t.name,
                        t.output_dataset,
                        f.input_datasets().join(", ")
                    )?;
                }
            }
        }
    }
    Ok(())
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
