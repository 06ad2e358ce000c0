//! OpenLineage run events, as the OpenLineage clients send them: `START` when a run knows
//! its function and type, then `COMPLETE` or `FAIL`, each a `RunEvent` of the 2-0-2 schema
//! POSTed as JSON to `OPENLINEAGE_URL` + `/api/v1/lineage` (`OPENLINEAGE_ENDPOINT`
//! changes the path), with `OPENLINEAGE_API_KEY` as bearer token when it is set.
//!
//! The job is the function's type (`namespace` `OPENLINEAGE_NAMESPACE`, default
//! `bydelsfakta`; `name` `function.type`); the datasets are the input objects and the
//! output prefix, named in the bucket's namespace (its URL). Dry runs publish nothing and
//! send nothing; a run whose event does not parse names no job and sends nothing.
//!
//! One thread sends the events in order, so a run never waits for the endpoint. An
//! endpoint that is down or slow is logged as a warning and never fails a run: each POST
//! is bounded by [`TIMEOUT`], and at most [`QUEUE_LIMIT`] events wait (later ones are
//! dropped with a warning).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::{flag, variable};
use crate::run_report::RunReport;

/// The schema the events follow.
pub const SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";

/// Who made the events: this program and its version.
pub const PRODUCER: &str = concat!("urn:bydelsfakta:", env!("CARGO_PKG_VERSION"));

/// How long one POST may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// How many events may wait to be sent.
pub const QUEUE_LIMIT: usize = 1000;

/// How long [`flush`] waits for the queue to drain.
const FLUSH_LIMIT: Duration = Duration::from_secs(30);

/// The `START` event of the run `report` tells of, sent in the background.
pub fn run_started(report: &RunReport) {
    send(report, "START");
}

/// The `COMPLETE` or `FAIL` event of the run `report` tells of, sent in the background.
pub fn run_ended(report: &RunReport) {
    send(
        report,
        if report.error.is_some() {
            "FAIL"
        } else {
            "COMPLETE"
        },
    );
}

fn send(report: &RunReport, event_type: &str) {
    if report.dry_run {
        return;
    }
    let Some(sink) = Sink::get() else {
        return;
    };
    if let Some(event) = run_event(report, event_type, &sink.namespace, SystemTime::now()) {
        sink.queue(event);
    }
}

/// Waits until the events queued so far are sent (or given up), at most [`FLUSH_LIMIT`].
pub fn flush() {
    if let Some(Some(sink)) = SINK.get() {
        sink.flush();
    }
}

/// The `RunEvent` of `event_type` for the run `report` tells of, or `None` when the run
/// names no job (its event did not parse).
pub fn run_event(
    report: &RunReport,
    event_type: &str,
    job_namespace: &str,
    at: SystemTime,
) -> Option<Value> {
    let (function, dataset_type) = (report.function.as_ref()?, report.dataset_type.as_ref()?);
    let mut run_facets = json!({
        "processing_engine": facet(
            "1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet",
            json!({"version": env!("CARGO_PKG_VERSION"), "name": "bydelsfakta"}),
        ),
    });
    if let Some(error) = &report.error {
        run_facets["errorMessage"] = facet(
            "1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
            json!({"message": format!("{}: {}", error.kind, error.message), "programmingLanguage": "Rust"}),
        );
    }
    let namespace = &report.bucket;
    let inputs: Vec<Value> = report
        .inputs
        .iter()
        .map(|input| {
            let mut dataset = json!({
                "namespace": namespace,
                "name": input.key,
                "inputFacets": {"inputStatistics": facet(
                    "1-0-0/InputStatisticsInputDatasetFacet.json#/$defs/InputStatisticsInputDatasetFacet",
                    json!({"size": input.size}),
                )},
            });
            if let Some(edition) = &input.edition {
                dataset["facets"] = json!({"version": facet(
                    "1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
                    json!({"datasetVersion": edition}),
                )});
            }
            dataset
        })
        .collect();
    let mut output = json!({"namespace": namespace, "name": report.output_prefix});
    if let (Some(documents), Some(bytes)) = (report.documents, report.bytes) {
        output["outputFacets"] = json!({"outputStatistics": facet(
            "1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet",
            json!({"fileCount": documents, "size": bytes}),
        )});
    }
    let event_time: chrono::DateTime<chrono::Utc> = at.into();
    Some(json!({
        "eventType": event_type,
        "eventTime": event_time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": report.run_id, "facets": run_facets},
        "job": {
            "namespace": job_namespace,
            "name": format!("{function}.{dataset_type}"),
            "facets": {"jobType": facet(
                "2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
                json!({"processingType": "BATCH", "integration": "BYDELSFAKTA", "jobType": "JOB"}),
            )},
        },
        "inputs": inputs,
        "outputs": match report.output_prefix {
            Some(_) => vec![output],
            None => vec![],
        },
    }))
}

/// A facet: its fields, with who made it and the schema it follows.
fn facet(schema: &str, mut fields: Value) -> Value {
    fields["_producer"] = PRODUCER.into();
    fields["_schemaURL"] = format!("https://openlineage.io/spec/facets/{schema}").into();
    fields
}

static SINK: OnceLock<Option<Sink>> = OnceLock::new();

/// Where events go, and the thread that sends them.
struct Sink {
    namespace: String,
    sender: Mutex<mpsc::Sender<Message>>,
    queued: std::sync::Arc<AtomicUsize>,
}

enum Message {
    Event(Value),
    Flush(mpsc::SyncSender<()>),
}

impl Sink {
    /// The sink `OPENLINEAGE_URL` names, started on first use; `None` without it or with
    /// `OPENLINEAGE_DISABLED=true`.
    fn get() -> Option<&'static Sink> {
        SINK.get_or_init(Sink::from_env).as_ref()
    }

    fn from_env() -> Option<Sink> {
        if flag("OPENLINEAGE_DISABLED") {
            return None;
        }
        let base = variable("OPENLINEAGE_URL")?;
        let endpoint = variable("OPENLINEAGE_ENDPOINT").unwrap_or_else(|| "api/v1/lineage".into());
        let url = format!(
            "{}/{}",
            base.trim_end_matches('/'),
            endpoint.trim_start_matches('/')
        );
        let api_key = variable("OPENLINEAGE_API_KEY");
        let (sender, receiver) = mpsc::channel();
        let queued = std::sync::Arc::new(AtomicUsize::new(0));
        let sending = queued.clone();
        std::thread::Builder::new()
            .name("openlineage".into())
            .spawn(move || deliver(&url, api_key.as_deref(), receiver, &sending))
            .inspect_err(|e| {
                tracing::warn!("OpenLineage: no sender thread ({e}); no events are sent")
            })
            .ok()?;
        Some(Sink {
            namespace: variable("OPENLINEAGE_NAMESPACE").unwrap_or_else(|| "bydelsfakta".into()),
            sender: Mutex::new(sender),
            queued,
        })
    }

    fn queue(&self, event: Value) {
        if self.queued.fetch_add(1, Ordering::Relaxed) >= QUEUE_LIMIT {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            tracing::warn!("OpenLineage: {QUEUE_LIMIT} events wait already; this one is dropped");
            return;
        }
        let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        if sender.send(Message::Event(event)).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn flush(&self) {
        let (done, drained) = mpsc::sync_channel(1);
        let sent = {
            let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
            sender.send(Message::Flush(done)).is_ok()
        };
        if sent && drained.recv_timeout(FLUSH_LIMIT).is_err() {
            tracing::warn!("OpenLineage: events still unsent after {FLUSH_LIMIT:?}");
        }
    }
}

/// The sender thread: POSTs each event in order; a failure is a warning.
fn deliver(
    url: &str,
    api_key: Option<&str>,
    receiver: mpsc::Receiver<Message>,
    queued: &AtomicUsize,
) {
    let client = match reqwest::blocking::Client::builder()
        .timeout(TIMEOUT)
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!("OpenLineage: no HTTP client ({e}); no events are sent");
            return;
        }
    };
    for message in receiver {
        match message {
            Message::Event(event) => {
                let mut request = client.post(url).json(&event);
                if let Some(key) = api_key {
                    request = request.bearer_auth(key);
                }
                let outcome = request
                    .send()
                    .and_then(|response| response.error_for_status());
                if let Err(e) = outcome {
                    tracing::warn!(
                        event_type = %event["eventType"],
                        run_id = %event["run"]["runId"],
                        "OpenLineage: event not delivered to {url}: {e}"
                    );
                }
                queued.fetch_sub(1, Ordering::Relaxed);
            }
            Message::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}
