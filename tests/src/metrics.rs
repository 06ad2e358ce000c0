//! Metrics read as Prometheus reads them: the text format parsed by `prometheus-parse`,
//! from a process's `/metrics` over HTTP or from this process's own registry.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use prometheus_parse::{Scrape, Value};

/// One scrape's samples.
pub struct Metrics(Scrape);

impl Metrics {
    /// Parses the text format; a line it cannot read fails the test.
    pub fn parse(text: &str) -> Self {
        let lines = text.lines().map(|line| Ok(line.to_string()));
        Self(Scrape::parse(lines).expect("Prometheus' text format"))
    }

    /// This process's default registry, as its `/metrics` would serve it.
    pub fn in_process() -> Self {
        Self::parse(&bydelsfakta_queries::metrics::text().0)
    }

    /// `GET /metrics` on loopback `port`: it must answer 200 in the text format.
    pub fn scrape(port: u16) -> Self {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("connect to port {port}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a timeout");
        write!(stream, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response");
        let (head, body) = response
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP response from port {port}: {response}"));
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "port {port}: {head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/plain; version=0.0.4"),
            "port {port}: {head}"
        );
        Self::parse(body)
    }

    /// The value of counter, gauge or untyped sample `name` (summed over its labels); 0 when
    /// the process has none.
    pub fn value(&self, name: &str) -> f64 {
        self.0
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .map(|s| match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                _ => panic!("{name} is a histogram or a summary"),
            })
            .sum()
    }

    /// The value of counter or gauge `name` whose label `label` is `value`; 0 when the
    /// process has none.
    pub fn labelled(&self, name: &str, label: &str, value: &str) -> f64 {
        self.0
            .samples
            .iter()
            .filter(|s| s.metric == name && s.labels.get(label) == Some(value))
            .map(|s| match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                _ => panic!("{name} is a histogram or a summary"),
            })
            .sum()
    }

    /// How many observations histogram `name` holds (its `+Inf` bucket); 0 when absent.
    pub fn histogram_count(&self, name: &str) -> f64 {
        self.0
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .map(|s| match &s.value {
                Value::Histogram(buckets) => buckets
                    .iter()
                    .find(|b| b.less_than.is_infinite())
                    .map_or(0.0, |b| b.count),
                _ => panic!("{name} is no histogram"),
            })
            .sum()
    }

    /// Whether the scrape has a sample of `name` (a histogram by its own name).
    pub fn has(&self, name: &str) -> bool {
        self.0.samples.iter().any(|s| s.metric == name)
    }
}

/// What `value(name)` became from `before` to `after`.
pub fn delta(before: &Metrics, after: &Metrics, name: &str) -> f64 {
    after.value(name) - before.value(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_read_back() {
        let metrics = Metrics::parse(
            "# TYPE jobs_total counter\njobs_total 3\n\
             # TYPE took_seconds histogram\n\
             took_seconds_bucket{le=\"1\"} 1\ntook_seconds_bucket{le=\"+Inf\"} 2\n\
             took_seconds_sum 1.5\ntook_seconds_count 2\n",
        );
        assert_eq!(metrics.value("jobs_total"), 3.0);
        assert_eq!(metrics.histogram_count("took_seconds"), 2.0);
        assert_eq!(metrics.value("took_seconds_count"), 2.0);
        assert_eq!(metrics.value("absent_total"), 0.0);
    }
}
