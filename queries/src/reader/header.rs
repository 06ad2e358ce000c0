//! The header row: read with a bound, checked against the catalog.

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::catalog;
use crate::error::{Error, Result};

/// The most of an object read to find its header row: a CSV file whose first line is
/// longer is not one of the platform's.
pub const HEADER_LIMIT: u64 = 64 * 1024;

/// The object's first line as column names; an empty object, or a first line longer than
/// [`HEADER_LIMIT`], is an error naming the dataset and the object.
pub async fn read_header(
    store: &dyn ObjectStore,
    path: &Path,
    dataset: &str,
    key: &str,
) -> Result<Vec<String>> {
    let problem = |problem: String| Error::InputFile {
        dataset: dataset.into(),
        file: key.into(),
        line: Some(1),
        column: None,
        problem,
    };
    let meta = store.head(path).await?;
    if meta.size == 0 {
        return Err(problem(
            "the object is empty (0 bytes); a header row is expected".into(),
        ));
    }
    let end = meta.size.min(HEADER_LIMIT);
    let bytes = store.get_range(path, 0..end).await?;
    let line_end = bytes.iter().position(|b| *b == b'\n');
    let line = match line_end {
        Some(at) => &bytes[..at],
        None if end == meta.size => &bytes[..],
        None => {
            return Err(problem(format!(
                "no line ends within the first {} KiB; is this a ;-separated CSV file?",
                HEADER_LIMIT / 1024
            )));
        }
    };
    let text = String::from_utf8_lossy(line);
    let text = text.trim_start_matches('\u{feff}').trim_end_matches('\r');
    Ok(text
        .split(';')
        .map(|c| c.trim_matches('"').to_string())
        .collect())
}

pub fn check_header(dataset: &catalog::InputDataset, file: &str, found: &[String]) -> Result<()> {
    let expected = dataset.column_names();
    let header_error = |problem: String| Error::Header {
        dataset: dataset.id.into(),
        file: file.into(),
        problem,
        expected: expected.clone(),
        found: found.to_vec(),
    };
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = found.iter().find(|c| !seen.insert(c.as_str())) {
        return Err(header_error(format!("column '{dup}' appears twice")));
    }
    let missing: Vec<&str> = expected
        .iter()
        .filter(|c| !found.contains(c))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(header_error(format!(
            "missing columns [{}]",
            missing.join(", ")
        )));
    }
    if dataset.exact_order && found != expected.as_slice() {
        return Err(header_error(
            "the columns must be exactly these, in this order".into(),
        ));
    }
    Ok(())
}
