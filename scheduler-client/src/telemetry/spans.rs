//! A run's spans, built when it ends from what its record measured: `event`, with
//! `contract` (parse and resolve the event), `read` (list and read the inputs), `plan`,
//! `execute` (on a cluster from submission to the job's end, with the job id) and
//! `publish` as its children. The parent is the context current where the run ends: the
//! Lambda shim makes that the invocation's trace header, so the spans join the caller's
//! trace. Nothing is built unless spans are exported ([`super::otlp`]).

use std::time::{Duration, SystemTime};

use opentelemetry::trace::{Span, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue, global};

use super::otlp::exporting;
use crate::run_report::RunReport;

/// The instrumentation scope of our spans.
const SCOPE: &str = "bydelsfakta";

/// Builds and ends the spans of the run `report` tells of.
pub fn export(report: &RunReport) {
    if !exporting() {
        return;
    }
    let Some(start) = report.started else {
        return;
    };
    let tracer = global::tracer(SCOPE);
    let end = start + Duration::from_millis(report.ms.total);
    let mut root = tracer
        .span_builder("event")
        .with_kind(SpanKind::Internal)
        .with_start_time(start)
        .with_attributes(event_attributes(report))
        .start_with_context(&tracer, &Context::current());
    if let Some(error) = &report.error {
        root.set_status(Status::error(format!("{}: {}", error.kind, error.message)));
    }
    let cx = Context::current_with_span(root);
    let phase =
        |name: &'static str, from: SystemTime, to: SystemTime, attributes: Vec<KeyValue>| {
            let mut span = tracer
                .span_builder(name)
                .with_start_time(from)
                .with_attributes(attributes)
                .start_with_context(&tracer, &cx);
            span.end_with_timestamp(to.clamp(from, end));
        };
    let after = |from: SystemTime, ms: u64| (from + Duration::from_millis(ms)).min(end);
    let mut at = start;
    for (name, ms) in [
        ("contract", report.ms.contract),
        ("read", report.ms.read),
        ("plan", report.ms.plan),
    ] {
        if let Some(ms) = ms {
            let to = after(at, ms);
            phase(name, at, to, vec![]);
            at = to;
        }
    }
    // Execution is what follows planning: on a cluster the job's queue and tasks, then the
    // writer's publication, which the writer timed itself.
    if report.ms.plan.is_some() {
        let publish_from = report.ms.publish.map_or(end, |ms| {
            end - Duration::from_millis(ms).min(end.duration_since(at).unwrap_or_default())
        });
        let mut attributes = vec![];
        if let Some(job_id) = &report.job_id {
            attributes.push(KeyValue::new("bydelsfakta.job_id", job_id.clone()));
        }
        if let Some(ms) = report.ms.execute {
            attributes.push(KeyValue::new("bydelsfakta.compute_ms", ms as i64));
        }
        phase("execute", at, publish_from, attributes);
        if report.ms.publish.is_some() {
            phase("publish", publish_from, end, vec![]);
        }
    }
    cx.span().end_with_timestamp(end);
}

/// What the `event` span says of the run.
fn event_attributes(report: &RunReport) -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new("bydelsfakta.run_id", report.run_id.clone()),
        KeyValue::new("bydelsfakta.engine", report.engine),
        KeyValue::new("bydelsfakta.outcome", report.outcome),
        KeyValue::new("bydelsfakta.inputs", report.inputs.len() as i64),
    ];
    let text = [
        ("bydelsfakta.function", &report.function),
        ("bydelsfakta.type", &report.dataset_type),
        ("bydelsfakta.output_dataset", &report.output_dataset),
        ("bydelsfakta.output_prefix", &report.output_prefix),
    ];
    for (key, value) in text {
        if let Some(value) = value {
            attributes.push(KeyValue::new(key, value.clone()));
        }
    }
    let counts = [
        ("bydelsfakta.documents", report.documents),
        ("bydelsfakta.bytes", report.bytes),
    ];
    for (key, value) in counts {
        if let Some(value) = value {
            attributes.push(KeyValue::new(key, value as i64));
        }
    }
    attributes
}
