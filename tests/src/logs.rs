//! A process's JSON log lines (`--log-format json`), as an operator's log shipper reads them.

use serde_json::Value;

/// Every line of `stderr` as JSON; a line that is not JSON fails the test.
pub fn json_lines(stderr: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

/// The run records among log lines (target `bydelsfakta::run`, field `run`).
pub fn run_records(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|line| line["target"] == "bydelsfakta::run")
        .map(|line| &line["run"])
        .collect()
}
