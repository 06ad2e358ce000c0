//! `run-all`: events built from a bucket (the latest edition of every input under
//! `processed/`), and every output (or those an input feeds, or those named) run on them.

use std::collections::HashMap;

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_queries::publication::records::PublishSettings;
use bydelsfakta_queries::{DatasetType, Function, functions};
use bydelsfakta_scheduler_client::engine::Engine;
use bydelsfakta_scheduler_client::error::Result;
use bydelsfakta_scheduler_client::processed::processed_datasets;
use bydelsfakta_scheduler_client::run::{RunOptions, run_event};

/// For every input dataset under `processed/<confidentiality>/<id>/version=<v>/edition=<e>/`,
/// the prefix of its latest version and edition.
pub async fn latest_input_prefixes(
    engine: &Engine,
    bucket: &Bucket,
) -> Result<HashMap<String, String>> {
    let store = engine
        .context()
        .runtime_env()
        .object_store(bucket.store_url())?;
    Ok(processed_datasets(store.as_ref(), bucket)
        .await?
        .into_iter()
        .map(|dataset| {
            let prefix = dataset.latest().prefix.clone();
            (dataset.id, prefix)
        })
        .collect())
}

/// A pipeline event for `function`/`dataset_type` as the data platform would send it.
pub fn event_for(
    function: &Function,
    dataset_type: &DatasetType,
    input_prefixes: &HashMap<String, String>,
    edition: &str,
) -> String {
    let inputs: serde_json::Map<String, serde_json::Value> = function
        .input_datasets()
        .into_iter()
        .map(|id| {
            (
                id.to_string(),
                json!(input_prefixes.get(id).cloned().unwrap_or_default()),
            )
        })
        .collect();
    let output = dataset_type.output_dataset;
    json!({
        "execution_name": format!("bydelsfakta-{}-{}", function.name, dataset_type.name),
        "task": "lambda_invoker",
        "payload": {
            "pipeline": {
                "id": output,
                "task_config": {"lambda_invoker": {
                    "arn": format!("bydelsfakta-data-processing-{}", function.name.replace('_', "-")),
                    "type": dataset_type.name
                }}
            },
            "output_dataset": {
                "id": output,
                "version": "1",
                "edition": edition,
                "s3_prefix": format!("%stage%/yellow/bydelsfakta-grafdata/{output}/version=1/edition={edition}/")
            },
            "step_data": {"s3_input_prefixes": inputs, "status": "PENDING", "errors": []}
        }
    })
    .to_string()
}

/// What `run-all` does: which outputs, which edition, which publication date.
#[derive(Debug, Clone)]
pub struct RunAllOptions {
    /// The output edition (default: the run's timestamp, `YYYYMMDDTHHMMSS`).
    pub edition: Option<String>,
    /// Run only the outputs that read this input dataset.
    pub changed: Option<String>,
    /// Run only these output datasets (all when empty).
    pub outputs: Vec<String>,
    pub published_date: String,
    /// How many outputs run at once (default: twice the cores).
    pub jobs: Option<usize>,
    /// How publishers of one output prefix wait for each other.
    pub publish: PublishSettings,
}

/// Outputs in flight by default: twice the cores, so that a core whose output waits (for
/// an input or a shared frame another output is computing, or for the disk) takes the
/// next one.
pub fn default_jobs() -> usize {
    2 * std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// One output of a `run-all`: documents and milliseconds, or why it failed.
#[derive(Debug, Clone)]
pub struct RunAllRow {
    pub output_dataset: String,
    pub outcome: std::result::Result<(usize, f64), String>,
}

/// The outputs `run-all` runs: every one, or those whose function reads `changed`, and
/// of those the ones named in `outputs` when it names any.
pub fn selected_outputs(
    changed: Option<&str>,
    outputs: &[String],
) -> anyhow::Result<Vec<(&'static Function, &'static DatasetType)>> {
    if let Some(id) = changed
        && bydelsfakta_queries::catalog::input_dataset(id).is_none()
    {
        let known: Vec<&str> = bydelsfakta_queries::catalog::input_datasets()
            .iter()
            .map(|d| d.id)
            .collect();
        anyhow::bail!(
            "--changed: '{id}' is not an input dataset; input datasets: {}",
            known.join(", ")
        );
    }
    let every = functions::all()
        .iter()
        .flat_map(|f| f.types.iter().map(move |t| (f, t)));
    let unknown: Vec<&str> = outputs
        .iter()
        .map(String::as_str)
        .filter(|name| !every.clone().any(|(_, t)| t.output_dataset == *name))
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = every.map(|(_, t)| t.output_dataset).collect();
        anyhow::bail!(
            "--output: not an output dataset: {}; output datasets: {}",
            unknown.join(", "),
            known.join(", ")
        );
    }
    Ok(every
        .filter(|(f, _)| changed.is_none_or(|id| f.input_datasets().contains(&id)))
        .filter(|(_, t)| outputs.is_empty() || outputs.iter().any(|o| o == t.output_dataset))
        .collect())
}

/// Builds the event of every selected output from the latest edition of each input under
/// `processed/`, runs them (`jobs` at once) with a progress bar,
/// and reports each in the selection's order; one output failing does not stop the others.
pub async fn run_all(
    engine: &Engine,
    bucket: &Bucket,
    options: &RunAllOptions,
) -> anyhow::Result<Vec<RunAllRow>> {
    let runs = selected_outputs(options.changed.as_deref(), &options.outputs)?;
    let prefixes = Arc::new(latest_input_prefixes(engine, bucket).await?);
    let edition = options
        .edition
        .clone()
        .unwrap_or_else(|| chrono::Utc::now().format("%Y%m%dT%H%M%S").to_string());
    let bar = indicatif::ProgressBar::new(runs.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}").expect("template"),
    );
    let run_options = RunOptions {
        published_date: options.published_date.clone(),
        function: None,
        publish: options.publish,
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(
        options.jobs.unwrap_or_else(default_jobs).max(1),
    ));
    // A task each, so that plans are built and run on every core; the semaphore bounds
    // how many are in flight (and so the memory they hold).
    let tasks: Vec<_> = runs
        .into_iter()
        .map(|(function, dataset_type)| {
            let (engine, bucket, prefixes) = (engine.clone(), bucket.clone(), prefixes.clone());
            let (run_options, edition) = (run_options.clone(), edition.clone());
            let slots = slots.clone();
            let task = tokio::spawn(async move {
                let _slot = slots.acquire_owned().await.expect("never closed");
                let started = Instant::now();
                let missing: Vec<&str> = function
                    .input_datasets()
                    .into_iter()
                    .filter(|id| !prefixes.contains_key(*id))
                    .collect();
                let outcome = if missing.is_empty() {
                    let event = event_for(function, dataset_type, &prefixes, &edition);
                    run_event(&engine, &bucket, &event, &run_options)
                        .await
                        .map(|o| {
                            let ms = started.elapsed().as_secs_f64() * 1000.0;
                            (o.summary.documents, ms)
                        })
                        .map_err(|e| e.to_string())
                } else {
                    Err(format!(
                        "no edition under processed/ of input {}",
                        missing.join(", ")
                    ))
                };
                RunAllRow {
                    output_dataset: dataset_type.output_dataset.into(),
                    outcome,
                }
            });
            (dataset_type.output_dataset, task)
        })
        .collect();
    let mut rows = vec![];
    for (output_dataset, task) in tasks {
        // A panic in one output's plan is that output's failure, not the batch's.
        let row = task.await.unwrap_or_else(|e| RunAllRow {
            output_dataset: output_dataset.into(),
            outcome: Err(format!("internal error: {e}")),
        });
        bar.set_message(row.output_dataset.clone());
        if let Err(e) = &row.outcome {
            bar.suspend(|| eprintln!("{}: {e}", row.output_dataset));
        }
        bar.inc(1);
        rows.push(row);
    }
    bar.finish_and_clear();
    Ok(rows)
}
