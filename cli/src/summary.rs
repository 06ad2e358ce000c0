//! What `run-all` and `demo` print: a table or one JSON object, and the error that names
//! every failed output.

use crate::bench::peak_rss_bytes;
use crate::run_all::RunAllRow;

/// The table of a run of many outputs: dataset, documents, milliseconds (or the failure).
pub fn summary_table(rows: &[RunAllRow], out: &mut String) -> std::fmt::Result {
    use std::fmt::Write;
    let width = rows
        .iter()
        .map(|r| r.output_dataset.len())
        .max()
        .unwrap_or(0)
        .max(20);
    writeln!(
        out,
        "{:<width$}  {:>9}  {:>9}",
        "output dataset", "documents", "ms"
    )?;
    let (mut documents, mut millis) = (0, 0.0);
    for row in rows {
        match &row.outcome {
            Ok((docs, ms)) => {
                documents += docs;
                millis += ms;
                writeln!(out, "{:<width$}  {docs:>9}  {ms:>9.1}", row.output_dataset)?;
            }
            Err(_) => writeln!(
                out,
                "{:<width$}  {:>9}  {:>9}",
                row.output_dataset, "FAILED", "-"
            )?,
        }
    }
    let total = format!("total ({} outputs)", rows.len());
    writeln!(out, "{total:<width$}  {documents:>9}  {millis:>9.1}")
}

/// `run-all --format json`.
pub fn json_summary(rows: &[RunAllRow], wall_ms: f64) -> serde_json::Value {
    let outputs: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| match &row.outcome {
            Ok((documents, ms)) => serde_json::json!({
                "output_dataset": row.output_dataset, "documents": documents, "ms": ms
            }),
            Err(e) => serde_json::json!({"output_dataset": row.output_dataset, "error": e}),
        })
        .collect();
    serde_json::json!({
        "outputs": outputs,
        "wall_ms": wall_ms,
        "peak_rss_bytes": peak_rss_bytes(),
    })
}

/// An error naming every failed output, if any failed.
pub fn failures(rows: &[RunAllRow]) -> anyhow::Result<()> {
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| r.outcome.is_err())
        .map(|r| r.output_dataset.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} of {} outputs failed: {}",
            failed.len(),
            rows.len(),
            failed.join(", ")
        )
    }
}
