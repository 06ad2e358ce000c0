//! One function per subcommand. Each writes what it prints on stdout into `out` (printed
//! even when the command then fails, as run-all's table is); logs go to stderr.

use std::fmt::Write;
use std::io::Read;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, ensure};

use crate::args::{Cli, Command, ExplainFormat, Format};
use crate::bench::side_by_side::Distributed;
use crate::bench::{BenchOptions, Reference, default_bench_dir, report, run_bench};
use crate::demo::run_demo;
use crate::run_all::{RunAllOptions, run_all};
use crate::sql::shell::{ShellOptions, default_history, run_statements};
use crate::summary::{failures, json_summary, summary_table};
use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_queries::functions;
use bydelsfakta_queries::publication::records::PublishSettings;
use bydelsfakta_scheduler_client::engine::{Engine, EngineKind};
use bydelsfakta_scheduler_client::explain::explain;
use bydelsfakta_scheduler_client::lineage::{self, lineage};
use bydelsfakta_scheduler_client::logging;
use bydelsfakta_scheduler_client::recover::recover_bucket;
use bydelsfakta_scheduler_client::run::{RunOptions, run_event, today_utc};
use bydelsfakta_scheduler_client::sql::SqlSession;
use bydelsfakta_scheduler_client::sql::limits::SqlLimits;

/// Runs the command; what it prints on stdout is the result, logs go to stderr.
pub async fn execute(cli: Cli) -> anyhow::Result<()> {
    let stores = cli.store_settings();
    stores
        .check_lease(cli.lease_ttl)
        .map_err(|e| anyhow::anyhow!("--lease-ttl: {e}"))?;
    bydelsfakta_scheduler_client::stores::configure(stores).map_err(anyhow::Error::msg)?;
    let mut out = String::new();
    // What was printed stays printed when the command then fails (run-all's table).
    let result = dispatch(cli, &mut out).await;
    // A closed pipe (`bydelsfakta list | head`) is not an error.
    match std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    result
}

/// Where the plans run: the engine and the cluster's scheduler, if any.
struct Where<'a> {
    engine: EngineKind,
    scheduler: Option<&'a str>,
}

impl Where<'_> {
    async fn connect(&self, bucket: &Bucket) -> anyhow::Result<Engine> {
        Ok(Engine::connect(self.engine, self.scheduler, bucket).await?)
    }
}

async fn dispatch(cli: Cli, out: &mut String) -> anyhow::Result<()> {
    let publish = PublishSettings {
        lease_ttl: cli.lease_ttl,
        wait: cli.publish_wait,
        deadline_ms: None,
    };
    let at = Where {
        engine: cli.engine,
        scheduler: cli.scheduler.as_deref(),
    };
    match cli.command {
        Command::Run {
            event,
            bucket,
            published_date,
            function,
            dry_run,
        } => {
            let options = RunOptions {
                published_date: published_date.unwrap_or_else(today_utc),
                function,
                publish,
                dry_run,
            };
            run(&at, &event, &bucket, &options, out).await
        }
        Command::Demo {
            out: out_dir,
            sample,
            published_date,
        } => {
            let date = published_date.unwrap_or_else(today_utc);
            demo(&at, &out_dir, &sample, &date, publish, out).await
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
            let options = RunAllOptions {
                edition,
                changed,
                outputs,
                published_date: published_date.unwrap_or_else(today_utc),
                jobs,
                publish,
            };
            run_all_outputs(&at, &bucket, &options, format, out).await
        }
        Command::Bench {
            scales,
            seed,
            repeat,
            dir,
            sample,
            reference,
            executor_pids,
            against,
        } => {
            let reference = Reference::read(&reference)?;
            let distributed = match (at.scheduler, at.engine) {
                (Some(url), _) => Some(vec!["--scheduler".to_string(), url.to_string()]),
                (None, EngineKind::Standalone) => {
                    Some(vec!["--engine".to_string(), "standalone".to_string()])
                }
                (None, EngineKind::Embedded) => None,
            }
            .map(|flags| Distributed {
                flags,
                executor_pids,
            });
            let options = BenchOptions {
                scales,
                seed,
                repeat,
                dir: dir.unwrap_or_else(default_bench_dir),
                sample,
                original_outputs: reference.outputs(),
                original_scales: reference.scales(),
                distributed,
                against,
            };
            bench(options, &reference, out).await
        }
        Command::Synth {
            scale,
            seed,
            out: out_dir,
            sample,
        } => synth(&sample, &out_dir, scale, seed, out),
        Command::Sql {
            bucket,
            format,
            history,
            memory_limit,
            statement_timeout,
            query,
        } => {
            let defaults = SqlLimits::cli();
            let limits = SqlLimits {
                memory_limit: memory_limit.unwrap_or(defaults.memory_limit),
                statement_timeout: statement_timeout.unwrap_or(defaults.statement_timeout),
                ..defaults
            };
            let shell = ShellOptions {
                format,
                history: history.or_else(default_history),
            };
            sql(&at, &bucket, limits, query.as_deref(), shell, out).await
        }
        Command::Recover {
            bucket,
            output_prefix,
        } => recover(&bucket, &output_prefix.unwrap_or_default(), &publish, out).await,
        Command::List => list(out),
        Command::Lineage {
            bucket,
            target,
            format,
        } => {
            let bucket = Bucket::from_arg(&bucket).await?;
            let manifests = lineage(&bucket, &target).await?;
            anyhow::ensure!(
                !manifests.is_empty(),
                "no publication of '{target}' in {}",
                bucket.url()
            );
            match format {
                ExplainFormat::Text => out.push_str(&lineage::to_text(&manifests)),
                ExplainFormat::Json => {
                    writeln!(out, "{}", serde_json::to_string_pretty(&manifests)?)?
                }
            }
            Ok(())
        }
        Command::Explain {
            event,
            bucket,
            analyze,
            format,
            function,
        } => {
            let options = RunOptions {
                published_date: today_utc(),
                function,
                publish,
                dry_run: true,
            };
            let text = read_event(&event)?;
            let bucket = Bucket::from_arg(&bucket).await?;
            let engine = at.connect(&bucket).await?;
            let explained = explain(&engine, &bucket, &text, &options, analyze).await?;
            match format {
                ExplainFormat::Text => out.push_str(&explained.to_text()),
                ExplainFormat::Json => {
                    writeln!(out, "{}", serde_json::to_string_pretty(&explained)?)?
                }
            }
            Ok(())
        }
    }
}

/// The event's text from its file, or from stdin for `-`.
fn read_event(event: &str) -> anyhow::Result<String> {
    if event == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        Ok(text)
    } else {
        std::fs::read_to_string(event).with_context(|| format!("event file '{event}'"))
    }
}

/// `run`: one pipeline event, its step output on stdout.
async fn run(
    at: &Where<'_>,
    event: &str,
    bucket: &str,
    options: &RunOptions,
    out: &mut String,
) -> anyhow::Result<()> {
    let text = read_event(event)?;
    let bucket = Bucket::from_arg(bucket).await?;
    let engine = at.connect(&bucket).await?;
    let outcome = run_event(&engine, &bucket, &text, options).await?;
    logging::note(&format!(
        "{} {} documents ({} bytes) of {} under {} in {:.0} ms",
        match options.dry_run {
            true => "would write",
            false => "wrote",
        },
        outcome.summary.documents,
        outcome.summary.bytes,
        outcome.summary.output_dataset,
        outcome.output_prefix,
        outcome.elapsed.as_secs_f64() * 1000.0
    ));
    writeln!(out, "{}", outcome.step_output.to_python_string())?;
    Ok(())
}

/// `demo`: every output on a copy of the sample bucket.
async fn demo(
    at: &Where<'_>,
    out_dir: &Path,
    sample: &Path,
    published_date: &str,
    publish: PublishSettings,
    out: &mut String,
) -> anyhow::Result<()> {
    let rows = run_demo(
        at.engine,
        at.scheduler,
        out_dir,
        sample,
        published_date,
        publish,
    )
    .await?;
    summary_table(&rows, out)?;
    writeln!(
        out,
        "documents are under {}/intermediate/",
        out_dir.display()
    )?;
    failures(&rows)
}

/// `run-all`: every output dataset (or the chosen ones) on the bucket's latest inputs.
async fn run_all_outputs(
    at: &Where<'_>,
    bucket: &str,
    options: &RunAllOptions,
    format: Format,
    out: &mut String,
) -> anyhow::Result<()> {
    let bucket = Bucket::from_arg(bucket).await?;
    let engine = at.connect(&bucket).await?;
    let started = Instant::now();
    let rows = run_all(&engine, &bucket, options).await?;
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    match format {
        Format::Table => {
            summary_table(&rows, out)?;
            writeln!(out, "wall time {wall_ms:.1} ms")?;
        }
        Format::Json => writeln!(out, "{}", json_summary(&rows, wall_ms))?,
    }
    failures(&rows)
}

/// `bench`: our batches against the original's timings, in child processes.
async fn bench(
    options: BenchOptions,
    reference: &Reference,
    out: &mut String,
) -> anyhow::Result<()> {
    ensure!(options.repeat >= 1, "--repeat must be at least 1");
    if cfg!(debug_assertions) {
        logging::warning("a debug build; measure with `cargo run --release`");
    }
    let results = tokio::task::spawn_blocking(move || run_bench(&options)).await??;
    out.push_str(&report(&results, reference));
    Ok(())
}

/// `synth`: a larger bucket shaped like the sample.
fn synth(
    sample: &Path,
    out_dir: &Path,
    scale: usize,
    seed: u64,
    out: &mut String,
) -> anyhow::Result<()> {
    let files = crate::synth::synthesize(sample, out_dir, scale, seed)?;
    writeln!(
        out,
        "wrote {files} input files at {scale}x the sub-districts to {}",
        out_dir.display()
    )?;
    Ok(())
}

/// `sql`: the statements given, or the shell.
async fn sql(
    at: &Where<'_>,
    bucket: &str,
    limits: SqlLimits,
    query: Option<&str>,
    shell: ShellOptions,
    out: &mut String,
) -> anyhow::Result<()> {
    let bucket = Bucket::from_arg(bucket).await?;
    let engine = at.connect(&bucket).await?;
    let session = SqlSession::open(engine, &bucket, limits).await?;
    match query {
        Some(sql) => out.push_str(&run_statements(&session, sql, shell.format).await?),
        None => {
            let failures = crate::sql::shell::run(&session, &shell).await?;
            ensure!(
                failures == 0 || std::io::IsTerminal::is_terminal(&std::io::stdin()),
                "{failures} statement(s) failed"
            );
        }
    }
    Ok(())
}

/// `recover`: finish or undo the interrupted publications under `under`.
async fn recover(
    bucket: &str,
    under: &str,
    publish: &PublishSettings,
    out: &mut String,
) -> anyhow::Result<()> {
    let bucket = Bucket::from_arg(bucket).await?;
    let recovered = recover_bucket(&bucket, under, publish).await?;
    if recovered.is_empty() {
        let place = if under.is_empty() {
            "the bucket"
        } else {
            under
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
    ensure!(
        failed == 0,
        "{failed} of {} output prefixes could not be recovered",
        recovered.len()
    );
    Ok(())
}

/// `list`: every function, its types, their output datasets and the inputs.
fn list(out: &mut String) -> anyhow::Result<()> {
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
    Ok(())
}
