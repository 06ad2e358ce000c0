//! An OTLP/HTTP trace receiver on loopback, as a collector serves it: `POST /v1/traces`
//! with an `ExportTraceServiceRequest` in protobuf, decoded here with the protocol's own
//! message types. <https://opentelemetry.io/docs/specs/otlp/#otlphttp>

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;

use crate::loopback::Loopback;

/// One span as received, with the service that sent it.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub service: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub attributes: Vec<(String, String)>,
    /// The status code (0 unset, 1 ok, 2 error) and message.
    pub status: (i32, String),
}

impl ReceivedSpan {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A receiver; dropping it stops serving.
pub struct OtlpReceiver {
    server: Loopback,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

impl OtlpReceiver {
    pub async fn start() -> Self {
        let spans = Arc::new(Mutex::new(vec![]));
        let app = Router::new()
            .route("/v1/traces", post(traces))
            .with_state(spans.clone());
        let server = Loopback::serve(app, "OTLP receiver").await;
        Self { server, spans }
    }

    /// The value of `OTEL_EXPORTER_OTLP_ENDPOINT` for an exporter.
    pub fn endpoint(&self) -> String {
        self.server.url()
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }

    /// The spans of the run `run_id`: its `event` span (found by `bydelsfakta.run_id`), and
    /// the other spans of its trace. Fails the test when the run sent no event span.
    pub fn run_spans(&self, run_id: &str) -> (ReceivedSpan, Vec<ReceivedSpan>) {
        let spans = self.spans();
        let root = spans
            .iter()
            .find(|s| s.name == "event" && s.attribute("bydelsfakta.run_id") == Some(run_id))
            .unwrap_or_else(|| panic!("no event span of {run_id}: {spans:?}"))
            .clone();
        let children = spans
            .into_iter()
            .filter(|s| s.trace_id == root.trace_id && s.span_id != root.span_id)
            .collect();
        (root, children)
    }
}

async fn traces(
    State(spans): State<Arc<Mutex<Vec<ReceivedSpan>>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/x-protobuf") {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "protobuf only").into_response();
    }
    let request = match ExportTraceServiceRequest::decode(body) {
        Ok(request) => request,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let mut received = spans.lock().unwrap();
    for resource_spans in request.resource_spans {
        let resource = resource_spans.resource.unwrap_or_default().attributes;
        let service = text(&resource, "service.name").unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                let status = span.status.unwrap_or_default();
                received.push(ReceivedSpan {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    start_unix_nano: span.start_time_unix_nano,
                    end_unix_nano: span.end_time_unix_nano,
                    attributes: span
                        .attributes
                        .iter()
                        .filter_map(|kv| {
                            Some((kv.key.clone(), text(std::slice::from_ref(kv), &kv.key)?))
                        })
                        .collect(),
                    status: (status.code, status.message),
                });
            }
        }
    }
    (
        [("content-type", "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
        .into_response()
}

/// An attribute's value as text (strings as they are, numbers and booleans printed).
fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        AnyValue::StringValue(s) => Some(s.clone()),
        AnyValue::IntValue(i) => Some(i.to_string()),
        AnyValue::BoolValue(b) => Some(b.to_string()),
        AnyValue::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
