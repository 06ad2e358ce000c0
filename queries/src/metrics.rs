//! The pipeline's counters, on Prometheus' default registry beside Ballista's own, so that
//! the `/metrics` of the scheduler and of each executor (README "Metrics") show them with
//! no wiring: the writer and the publication count where they run, in process or on an
//! executor. Each count is one atomic add, scraped or not.

use std::sync::LazyLock;

use prometheus::core::Collector;
use prometheus::{Encoder, Gauge, IntCounter, TextEncoder};

use crate::publication::site::{BOOKKEEPING, MANIFEST};
use crate::reader::typed_record::RECORDS_PREFIX;

struct Counters {
    publications: IntCounter,
    documents: IntCounter,
    document_bytes: IntCounter,
    rolled_back: IntCounter,
    lease_renewals: IntCounter,
    input_bytes: IntCounter,
    bucket_clock_offset: Gauge,
}

static COUNTERS: LazyLock<Counters> = LazyLock::new(|| Counters {
    publications: counter(
        "bydelsfakta_publications_total",
        "Publications that replaced an output's documents (a run that found its set already published is not one)",
    ),
    documents: counter(
        "bydelsfakta_documents_written_total",
        "Documents those publications wrote",
    ),
    document_bytes: counter(
        "bydelsfakta_document_bytes_written_total",
        "Bytes of the documents those publications wrote",
    ),
    rolled_back: counter(
        "bydelsfakta_publications_rolled_back_total",
        "Publications undone: the previous documents restored after a failure, or by recovery",
    ),
    lease_renewals: counter(
        "bydelsfakta_lease_renewals_total",
        "Renewals of a publication's lease: a publication renews it once half of it is gone, so many mean slow store calls or a short lease",
    ),
    input_bytes: counter(
        "bydelsfakta_input_bytes_read_total",
        "Bytes read from the bucket's input objects (every object but the pipeline's own bookkeeping)",
    ),
    bucket_clock_offset: registered(Gauge::new(
        "bydelsfakta_bucket_clock_offset_seconds",
        "The least the bucket's clock is ahead of this process's (negative: behind), as the time stamp of the last lease this process wrote shows it; 0 while they may agree",
    )),
});

fn counter(name: &str, help: &str) -> IntCounter {
    registered(IntCounter::new(name, help))
}

/// `metric`, registered on the default registry. Call it once per metric (from a
/// `LazyLock`): a name registered twice is a bug, and panics.
pub fn registered<M: Collector + Clone + 'static>(metric: prometheus::Result<M>) -> M {
    let metric = metric.expect("a valid metric name and help");
    prometheus::register(Box::new(metric.clone())).expect("a metric registered once");
    metric
}

/// Registers the counters now, so that a scrape shows them at 0 before any work.
pub fn register() {
    LazyLock::force(&COUNTERS);
}

/// A publication replaced an output's documents with `documents` of `bytes` in all.
pub fn published(documents: usize, bytes: u64) {
    let counters = &*COUNTERS;
    counters.publications.inc();
    counters.documents.inc_by(documents as u64);
    counters.document_bytes.inc_by(bytes);
}

/// A publication was undone: the previous documents are back.
pub fn rolled_back() {
    COUNTERS.rolled_back.inc();
}

pub fn lease_renewed() {
    COUNTERS.lease_renewals.inc();
}

/// The bucket's clock is at least `seconds` ahead of this process's
/// ([`crate::publication::clock`]).
pub fn bucket_clock_offset(seconds: f64) {
    COUNTERS.bucket_clock_offset.set(seconds);
}

/// `bytes` of the object at store path `path` were read: counted unless the object is one
/// of the pipeline's own ([`is_bookkeeping`]).
pub fn object_read(path: &str, bytes: u64) {
    if !is_bookkeeping(path) {
        COUNTERS.input_bytes.inc_by(bytes);
    }
}

/// Whether the store path `path` is an object the pipeline keeps for itself: a manifest,
/// a publication's bookkeeping (lease, journal, staged documents, backups) or a record of
/// how an input was typed. The pipeline reads nothing else but its inputs.
pub fn is_bookkeeping(path: &str) -> bool {
    let own = [
        MANIFEST,
        BOOKKEEPING.trim_end_matches('/'),
        RECORDS_PREFIX.split('/').next().unwrap_or(RECORDS_PREFIX),
    ];
    path.split('/').any(|segment| own.contains(&segment))
}

/// Every metric of this process's default registry (ours, Ballista's, the process's) in
/// Prometheus' text format, and its content type.
pub fn text() -> (String, &'static str) {
    let mut text = vec![];
    TextEncoder::new()
        .encode(&prometheus::gather(), &mut text)
        .expect("the text format takes every metric");
    (
        String::from_utf8(text).expect("the text format is UTF-8"),
        prometheus::TEXT_FORMAT,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counters_are_in_the_text_from_the_start() {
        register();
        let (text, content_type) = text();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        for name in [
            "bydelsfakta_publications_total",
            "bydelsfakta_documents_written_total",
            "bydelsfakta_document_bytes_written_total",
            "bydelsfakta_publications_rolled_back_total",
            "bydelsfakta_input_bytes_read_total",
        ] {
            assert!(text.contains(&format!("# TYPE {name} counter")), "{name}");
        }
    }

    #[test]
    fn only_inputs_count_as_input_reads() {
        for input in [
            "processed/green/fodte/version=1/edition=E/fodte.csv",
            "tmp/bucket/processed/_a/edition=1/a_b.csv",
        ] {
            assert!(!is_bookkeeping(input), "{input}");
        }
        for own in [
            "out/edition=1/lambda_invoker/_manifest.json",
            "out/edition=1/lambda_invoker/_publication/journal.json",
            "tmp/bucket/_bydelsfakta/typed-inputs/x/y.json",
        ] {
            assert!(is_bookkeeping(own), "{own}");
        }
    }
}
