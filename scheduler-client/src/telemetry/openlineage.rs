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
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::{flag, variable};
use crate::run_report::RunReport;

/// The schema the events follow.
pub const SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";

/// Who made the events: this program and its version.
pub const PRODUCER: &str = concat!("urn:bydelsfakta:", env!("CARGO_PKG_VERSION"));

/// How long one POST may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// How many events may wait to be sent.
const QUEUE_LIMIT: usize = 1000;

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
                    json!({"size": input.size, "fileCount": 1}),
                )},
            });
            if let Some(rows) = input.rows {
                dataset["inputFacets"]["inputStatistics"]["rowCount"] = rows.into();
            }
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

/// Where events go and the bounds on sending them.
struct Settings {
    url: String,
    api_key: Option<String>,
    namespace: String,
    /// How long one POST may take.
    timeout: Duration,
    /// How many events may wait to be sent.
    queue_limit: usize,
}

impl Settings {
    /// As the environment says: `None` without `OPENLINEAGE_URL` or with
    /// `OPENLINEAGE_DISABLED=true`.
    fn from_env() -> Option<Settings> {
        if flag("OPENLINEAGE_DISABLED") {
            return None;
        }
        let base = variable("OPENLINEAGE_URL")?;
        let endpoint = variable("OPENLINEAGE_ENDPOINT").unwrap_or_else(|| "api/v1/lineage".into());
        Some(Settings {
            url: format!(
                "{}/{}",
                base.trim_end_matches('/'),
                endpoint.trim_start_matches('/')
            ),
            api_key: variable("OPENLINEAGE_API_KEY"),
            namespace: variable("OPENLINEAGE_NAMESPACE").unwrap_or_else(|| "bydelsfakta".into()),
            timeout: TIMEOUT,
            queue_limit: QUEUE_LIMIT,
        })
    }
}

/// Where events go, and the thread that sends them.
struct Sink {
    namespace: String,
    queue_limit: usize,
    sender: Mutex<mpsc::Sender<Message>>,
    /// Events queued and not yet sent or given up.
    queued: Arc<AtomicUsize>,
}

enum Message {
    Event(Value),
    Flush(mpsc::SyncSender<()>),
}

impl Sink {
    /// The sink the environment names, started on first use.
    fn get() -> Option<&'static Sink> {
        SINK.get_or_init(|| Sink::start(Settings::from_env()?))
            .as_ref()
    }

    /// Starts the sender thread; `None` (logged) when it cannot.
    fn start(settings: Settings) -> Option<Sink> {
        let (sender, receiver) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let sending = queued.clone();
        let (url, api_key, timeout) = (settings.url, settings.api_key, settings.timeout);
        std::thread::Builder::new()
            .name("openlineage".into())
            .spawn(move || deliver(&url, api_key.as_deref(), timeout, receiver, &sending))
            .inspect_err(|e| {
                tracing::warn!("OpenLineage: no sender thread ({e}); no events are sent")
            })
            .ok()?;
        Some(Sink {
            namespace: settings.namespace,
            queue_limit: settings.queue_limit,
            sender: Mutex::new(sender),
            queued,
        })
    }

    /// Queues `event` for the sender thread; `false` when it was dropped because the
    /// queue is full.
    fn queue(&self, event: Value) -> bool {
        let limit = self.queue_limit;
        if self.queued.fetch_add(1, Ordering::Relaxed) >= limit {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            tracing::warn!("OpenLineage: {limit} events wait already; this one is dropped");
            return false;
        }
        let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        if sender.send(Message::Event(event)).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    fn flush(&self) {
        self.flush_within(FLUSH_LIMIT);
    }

    /// Waits at most `limit` until the events queued so far are sent or given up; whether
    /// they were.
    fn flush_within(&self, limit: Duration) -> bool {
        let (done, drained) = mpsc::sync_channel(1);
        let sent = {
            let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
            sender.send(Message::Flush(done)).is_ok()
        };
        let drained = sent && drained.recv_timeout(limit).is_ok();
        if !drained {
            let waiting = self.queued.load(Ordering::Relaxed);
            tracing::warn!("OpenLineage: {waiting} events still unsent after {limit:?}");
        }
        drained
    }
}

/// The sender thread: POSTs each event in order; a failure is a warning.
fn deliver(
    url: &str,
    api_key: Option<&str>,
    timeout: Duration,
    receiver: mpsc::Receiver<Message>,
    queued: &AtomicUsize,
) {
    // Built here, off the caller's async runtime: a blocking client owns a runtime of its
    // own, which must not be created or dropped inside another.
    let client = match reqwest::blocking::Client::builder()
        .timeout(timeout)
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

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::TcpListener;

    use super::*;

    /// An endpoint on loopback that takes every request and never answers; the number of
    /// requests it took.
    fn stalled_endpoint() -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/v1/lineage", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        std::thread::spawn(move || {
            let mut held = vec![];
            for mut stream in listener.incoming().map_while(Result::ok) {
                // The request arrived once its first bytes did; it is never answered.
                let mut first = [0; 1];
                if stream.read(&mut first).is_ok_and(|n| n > 0) {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
                held.push(stream);
            }
        });
        (url, requests)
    }

    fn sink(url: String, timeout: Duration, queue_limit: usize) -> Sink {
        Sink::start(Settings {
            url,
            api_key: None,
            namespace: "test".into(),
            timeout,
            queue_limit,
        })
        .unwrap()
    }

    fn event(n: usize) -> Value {
        json!({"eventType": "START", "run": {"runId": n}})
    }

    #[test]
    fn a_stalled_endpoint_fills_the_queue_and_later_events_are_dropped() {
        let (url, requests) = stalled_endpoint();
        let sink = sink(url, Duration::from_millis(500), 3);
        // The first POST hangs, so three wait and the fourth and fifth are dropped.
        let queued: Vec<bool> = (0..5).map(|n| sink.queue(event(n))).collect();
        assert_eq!(queued, [true, true, true, false, false]);
        // Each queued event is tried once and given up at its timeout; then the queue is
        // empty and takes events again.
        assert!(sink.flush_within(Duration::from_secs(60)));
        assert_eq!(requests.load(Ordering::Relaxed), 3);
        assert_eq!(sink.queued.load(Ordering::Relaxed), 0);
        assert!(sink.queue(event(5)));
        assert!(sink.flush_within(Duration::from_secs(60)));
        assert_eq!(requests.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_flush_gives_up_at_its_limit() {
        let (url, _requests) = stalled_endpoint();
        let sink = sink(url, Duration::from_secs(10), 10);
        assert!(sink.queue(event(0)));
        // The POST waits out its 10 s; the flush does not.
        assert!(!sink.flush_within(Duration::from_millis(200)));
        assert_eq!(sink.queued.load(Ordering::Relaxed), 1);
    }
}
