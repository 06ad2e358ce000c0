//! Logs of every binary: text for people, or JSON lines for a log pipeline (CloudWatch,
//! Loki), one object per line on the binary's log stream.
//!
//! A JSON line carries `timestamp`, `level`, `target` and `message`, the event's fields,
//! and the fields of the spans it happened in (the Lambda shim's `requestId`). A field
//! named [`RUN_FIELD`] holds a run's record ([`crate::run_report`]) as JSON text; the JSON
//! lines nest it as an object, so that a log query reaches into it.

use std::fmt;
use std::sync::OnceLock;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// `--log-format` and its variable on every binary.
pub const LOG_FORMAT_VARIABLE: &str = "BYDELSFAKTA_LOG_FORMAT";

/// The field that carries a run's record.
pub const RUN_FIELD: &str = "run";

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum LogFormat {
    /// One line of text per event.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the process's logger: `format` lines on `writer`, events as `RUST_LOG` says,
/// else as `default_filter` ([`default_filter`]).
pub fn init<W>(format: LogFormat, default_filter: &str, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| default_filter.to_string());
    init_filtered(format, &filter, writer);
}

/// [`init`] with the filter's directives as given (`info`, `warn,bydelsfakta::run=info`).
pub fn init_filtered<W>(format: LogFormat, filter: &str, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let _ = FORMAT.set(format);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(writer);
    // A second logger in one process (tests) keeps the first.
    let _ = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .try_init(),
    };
}

/// The format [`init`] installed (text before it runs).
static FORMAT: OnceLock<LogFormat> = OnceLock::new();

pub fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or_default()
}

/// A line for the person at the terminal (progress, what was written): as it is on stderr
/// with text logs, an `info` event with JSON logs, so that stderr holds JSON lines only.
pub fn note(text: &str) {
    match format() {
        LogFormat::Text => eprintln!("{text}"),
        LogFormat::Json => tracing::info!(target: "bydelsfakta", "{text}"),
    }
}

/// [`note`] for a problem: `warning: ` before it in text, a `warn` event in JSON.
pub fn warning(text: &str) {
    match format() {
        LogFormat::Text => eprintln!("warning: {text}"),
        LogFormat::Json => tracing::warn!(target: "bydelsfakta", "{text}"),
    }
}

/// [`note`] for a failure: `error: ` before it in text, an `error` event (with the error's
/// `kind` when it has one) in JSON.
pub fn error(text: &str, kind: Option<&str>) {
    match format() {
        LogFormat::Text => eprintln!("error: {text}"),
        LogFormat::Json => tracing::error!(target: "bydelsfakta", kind, "{text}"),
    }
}

/// The command line's filter: warnings, and with JSON lines each run's record too. Text
/// has lines of its own for what a run wrote or why it failed, so it leaves the records
/// out (`RUST_LOG=bydelsfakta::run=info` shows them). The scheduler that `--engine
/// standalone` runs in the process logs each failed job as an error of its own (`Job
/// failed: [038J67HZNM000]`); the run's error already says why, once and alike on every
/// engine, so that module is left out.
pub fn default_filter(format: LogFormat) -> &'static str {
    match format {
        LogFormat::Text => {
            "warn,bydelsfakta::run=off,ballista_scheduler::scheduler_server::query_stage_scheduler=off"
        }
        LogFormat::Json => {
            "warn,bydelsfakta::run=info,ballista_scheduler::scheduler_server::query_stage_scheduler=off"
        }
    }
}

/// Formats an event as one JSON object. Span fields come first (outermost span first), so
/// that the event's own fields win a clash.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut line = Map::new();
        let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        line.insert("timestamp".into(), timestamp.into());
        line.insert("level".into(), metadata.level().as_str().into());
        line.insert("target".into(), metadata.target().into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(fields)) = serde_json::from_str(fields.as_str()) {
                    line.extend(fields);
                }
            }
        }
        event.record(&mut JsonVisitor(&mut line));
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// An event's fields into a JSON object.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        let value = match field.name() {
            RUN_FIELD => serde_json::from_str(&text).unwrap_or(Value::String(text)),
            _ => Value::String(text),
        };
        self.0.insert(field.name().into(), value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Lines written by the logger under test.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_span_fields_and_nest_the_run_record() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("invocation", requestId = "req-1");
            let _entered = span.enter();
            let record = r#"{"function":"trangboddhet","documents":16}"#;
            tracing::info!(target: "bydelsfakta::run", run = %record, documents = 16u64, "run finished");
            tracing::warn!("plain \"quoted\" text");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["requestId"], "req-1");
        assert_eq!(lines[0]["target"], "bydelsfakta::run");
        assert_eq!(lines[0]["message"], "run finished");
        assert_eq!(lines[0]["run"]["function"], "trangboddhet");
        assert_eq!(lines[0]["documents"], 16);
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["message"], "plain \"quoted\" text");
        assert_eq!(lines[1]["requestId"], "req-1");
    }
}
