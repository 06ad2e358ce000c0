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
use bydelsfakta_scheduler_client::logging;
use bydelsfakta_scheduler_client::processed::processed_datasets;
use bydelsfakta_scheduler_client::run::{PlannedEvent, RunOptions, plan_event, run_planned};

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
///
/// On a cluster the outputs of one function (which read the same inputs) go as one job
/// (`Engine::run_writer_plans`): a job's fixed cost is paid per function, not per output.
pub async fn run_all(
    engine: &Engine,
    bucket: &Bucket,
    options: &RunAllOptions,
) -> anyhow::Result<Vec<RunAllRow>> {
    let runs = selected_outputs(options.changed.as_deref(), &options.outputs)?;
    // Rows come back in the selection's order, whatever the groups.
    let order: HashMap<&str, usize> = runs
        .iter()
        .enumerate()
        .map(|(i, (_, t))| (t.output_dataset, i))
        .collect();
    let prefixes = Arc::new(latest_input_prefixes(engine, bucket).await?);
    let edition = options
        .edition
        .clone()
        .unwrap_or_else(|| chrono::Utc::now().format("%Y%m%dT%H%M%S").to_string());
    let bar = indicatif::ProgressBar::new(runs.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}").expect("template"),
    );
    let readers_left = std::sync::Mutex::new(readers_per_input(&runs));
    let batch = Arc::new(Batch {
        readers_left,
        engine: engine.clone(),
        bucket: bucket.clone(),
        prefixes,
        edition,
        options: RunOptions {
            published_date: options.published_date.clone(),
            dry_run: false,
            function: None,
            publish: options.publish,
        },
    });
    let slots = Arc::new(tokio::sync::Semaphore::new(
        options.jobs.unwrap_or_else(default_jobs).max(1),
    ));
    // A task each, so that plans are built and run on every core; the semaphore bounds
    // how many are in flight (and so the memory they hold).
    let tasks: Vec<_> = groups(runs, engine.is_distributed())
        .into_iter()
        .map(|group| {
            let (batch, slots) = (batch.clone(), slots.clone());
            let outputs: Vec<&str> = group.iter().map(|(_, t)| t.output_dataset).collect();
            let task = tokio::spawn(async move {
                let _slot = slots.acquire_owned().await.expect("never closed");
                let rows = batch.run_group(&group).await;
                batch.finished(&group);
                rows
            });
            (outputs, task)
        })
        .collect();
    let mut rows = vec![];
    for (outputs, task) in tasks {
        // A panic in one group's plans is that group's failure, not the batch's.
        let group_rows = task.await.unwrap_or_else(|e| {
            outputs
                .iter()
                .map(|output| RunAllRow {
                    output_dataset: output.to_string(),
                    outcome: Err(format!("internal error: {e}")),
                })
                .collect()
        });
        for row in group_rows {
            bar.set_message(row.output_dataset.clone());
            if let Err(e) = &row.outcome {
                bar.suspend(|| logging::note(&format!("{}: {e}", row.output_dataset)));
            }
            bar.inc(1);
            rows.push(row);
        }
    }
    bar.finish_and_clear();
    rows.sort_by_key(|row| order.get(row.output_dataset.as_str()).copied());
    Ok(rows)
}

type Output = (&'static Function, &'static DatasetType);

/// The outputs that run together: on a cluster those of one function, else each alone.
fn groups(runs: Vec<Output>, by_function: bool) -> Vec<Vec<Output>> {
    if !by_function {
        return runs.into_iter().map(|run| vec![run]).collect();
    }
    let mut groups: Vec<Vec<Output>> = vec![];
    for run in runs {
        match groups.iter_mut().find(|g| g[0].0.name == run.0.name) {
            Some(group) => group.push(run),
            None => groups.push(vec![run]),
        }
    }
    groups
}

/// For each input dataset, how many of `runs` read it.
fn readers_per_input(runs: &[Output]) -> HashMap<&'static str, usize> {
    let mut readers = HashMap::new();
    for (function, _) in runs {
        for id in function.input_datasets() {
            *readers.entry(id).or_insert(0) += 1;
        }
    }
    readers
}

/// What every output of one `run-all` shares.
struct Batch {
    /// For each input dataset, how many outputs that read it have not finished: at none,
    /// what the engine keeps of it is freed, so that a batch holds in memory only the
    /// inputs (and the frames built from them) that its outputs still to run read.
    readers_left: std::sync::Mutex<HashMap<&'static str, usize>>,
    engine: Engine,
    bucket: Bucket,
    prefixes: Arc<HashMap<String, String>>,
    edition: String,
    options: RunOptions,
}

impl Batch {
    /// Counts the group's outputs as finished, and frees the inputs no later output reads.
    fn finished(&self, group: &[Output]) {
        let mut unread = vec![];
        {
            let mut left = self.readers_left.lock().expect("readers lock");
            for (function, _) in group {
                for id in function.input_datasets() {
                    // Every input of the batch's outputs was counted at its start.
                    if let Some(readers) = left.get_mut(id) {
                        *readers -= 1;
                        if *readers == 0 {
                            unread.push(id);
                        }
                    }
                }
            }
        }
        for id in unread {
            let (objects, frames) = self.engine.forget_input(id);
            tracing::debug!(
                input = id,
                objects,
                frames,
                "input no longer read by the batch"
            );
        }
    }

    /// Plans the group's outputs, runs those that planned, and reports each.
    async fn run_group(&self, group: &[Output]) -> Vec<RunAllRow> {
        let started = Instant::now();
        let planned = futures::future::join_all(
            group
                .iter()
                .map(|(function, dataset_type)| self.plan_output(function, dataset_type)),
        )
        .await;
        let (mut rows, mut ready, mut outputs) = (vec![], vec![], vec![]);
        for ((_, dataset_type), planned) in group.iter().zip(planned) {
            match planned {
                Ok(planned) => {
                    ready.push(planned);
                    outputs.push(dataset_type.output_dataset);
                }
                Err(e) => rows.push(RunAllRow {
                    output_dataset: dataset_type.output_dataset.into(),
                    outcome: Err(e),
                }),
            }
        }
        let outcomes = run_planned(&self.engine, ready).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        rows.extend(outputs.into_iter().zip(outcomes).map(|(output, outcome)| {
            RunAllRow {
                output_dataset: output.into(),
                outcome: outcome
                    .map(|o| (o.summary.documents, ms))
                    .map_err(|e| e.to_string()),
            }
        }));
        rows
    }

    async fn plan_output(
        &self,
        function: &'static Function,
        dataset_type: &'static DatasetType,
    ) -> std::result::Result<PlannedEvent, String> {
        let missing: Vec<&str> = function
            .input_datasets()
            .into_iter()
            .filter(|id| !self.prefixes.contains_key(*id))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "no edition under processed/ of input {}",
                missing.join(", ")
            ));
        }
        let event = event_for(function, dataset_type, &self.prefixes, &self.edition);
        plan_event(&self.engine, &self.bucket, &event, &self.options)
            .await
            .map_err(|e| e.to_string())
    }
}
