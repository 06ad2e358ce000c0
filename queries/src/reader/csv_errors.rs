//! What DataFusion's CSV reader says about a bad row, as an error naming the input.
//!
//! The reader reports `incorrect number of fields for line 6, expected 11 got 9` or
//! `Encountered invalid UTF-8 data for line 1022 and field 3`, wrapped differently by every
//! engine (`Arrow error: Csv error: ...` embedded, `DataFusionError(Shared(External(...`
//! from Ballista). Its "lines" are records (the header is record 1; a blank line is no
//! record, a quoted line break no new one), its fields count from 1. The text is the same
//! whatever wraps it, so it is read from there; the error names the record as its line, and
//! [`super::lines::at_file_line`] makes that the file's line.

use crate::error::Error;

/// `e`, or the located error for input `dataset` (object `key`, columns `header`) when it
/// is the CSV reader's complaint about a row; its line is the record's number.
pub fn locate_csv_error(e: Error, dataset: &str, key: &str, header: &[String]) -> Error {
    let text = e.to_string();
    let file_error = |line: u64, column: Option<String>, problem: String| Error::InputFile {
        dataset: dataset.into(),
        file: key.into(),
        line: Some(line),
        column,
        problem,
    };
    if let Some(rest) = after(&text, "incorrect number of fields for line ")
        && let Some((line, rest)) = number(rest)
        && let Some(rest) = rest.strip_prefix(", expected ")
        && let Some((expected, rest)) = number(rest)
        && let Some(rest) = rest.strip_prefix(" got ")
    {
        let (more, rest) = match rest.strip_prefix("more than ") {
            Some(rest) => ("more than ", rest),
            None => ("", rest),
        };
        if let Some((got, _)) = number(rest) {
            return file_error(
                line,
                None,
                format!(
                    "{expected} fields expected, {more}{got} found (a field missing or too many, or an unbalanced quote)"
                ),
            );
        }
    }
    if let Some(rest) = after(&text, "Encountered invalid UTF-8 data for line ")
        && let Some((line, rest)) = number(rest)
        && let Some(rest) = rest.strip_prefix(" and field ")
        && let Some((field, _)) = number(rest)
    {
        let column = header.get((field as usize).wrapping_sub(1)).cloned();
        return file_error(line, column, "not UTF-8 text".into());
    }
    e
}

/// `e`, named for input `dataset`'s object `key`, from inferring the object's schema (the
/// SQL tables, `sql::schemas` of the client): a row with another number of fields than the
/// header, or bytes that are not UTF-8, located on their line; a store's failure as the
/// read of the object ([`Error::reading`]). Inference reads with the `csv` crate, which
/// says where the bad record starts as a line of the file, counting its LF line endings
/// (CRLF ends one line too); so unlike [`locate_csv_error`], the number is the file's line
/// already.
pub fn locate_inference_error(e: Error, dataset: &str, key: &str) -> Error {
    let text = e.to_string();
    let file_error = |line: u64, problem: String| Error::InputFile {
        dataset: dataset.into(),
        file: key.into(),
        line: Some(line),
        column: None,
        problem,
    };
    if let Some(rest) = after(
        &text,
        "Encountered unequal lengths between records on CSV file. Expected ",
    ) && let Some((expected, rest)) = number(rest)
        && let Some(rest) = rest.strip_prefix(" records, found ")
        && let Some((got, rest)) = number(rest)
        && let Some(rest) = rest.strip_prefix(" records at line ")
        && let Some((line, _)) = number(rest)
    {
        return file_error(
            line,
            format!(
                "{expected} fields expected, {got} found (a field missing or too many, or an unbalanced quote)"
            ),
        );
    }
    if let Some(rest) = after(&text, "Encountered UTF-8 error while reading CSV file: ")
        && let Some(rest) = after(rest, " at line ")
        && let Some((line, _)) = number(rest)
    {
        return file_error(line, "not UTF-8 text".into());
    }
    e.reading(dataset, key)
}

fn after<'t>(text: &'t str, marker: &str) -> Option<&'t str> {
    text.find(marker).map(|at| &text[at + marker.len()..])
}

/// The number at the start of `text`, and what follows it.
fn number(text: &str) -> Option<(u64, &str)> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    Some((text[..end].parse().ok()?, &text[end..]))
}

#[cfg(test)]
mod tests {
    use datafusion::error::DataFusionError;

    use super::*;

    fn header() -> Vec<String> {
        ["aar", "bydel_id", "bydel_navn"].map(String::from).to_vec()
    }

    #[test]
    fn the_readers_complaints_are_located_however_they_are_wrapped() {
        for wrapped in [
            "Arrow error: Csv error: incorrect number of fields for line 6, expected 11 got 9",
            "Job 038HV failed: Task failed due to runtime execution error: DataFusionError(Shared(External(ArrowError(CsvError(\"incorrect number of fields for line 6, expected 11 got 9\")))))",
        ] {
            let e = Error::from(DataFusionError::Execution(wrapped.into()));
            let e = locate_csv_error(e, "fodte", "processed/fodte.csv", &header());
            assert_eq!(e.kind(), "InputFileError");
            assert_eq!(
                e.to_string(),
                "input fodte (processed/fodte.csv), line 6: 11 fields expected, 9 found (a field missing or too many, or an unbalanced quote)"
            );
        }
        let e = Error::from(DataFusionError::Execution(
            "Csv error: Encountered invalid UTF-8 data for line 1022 and field 3".into(),
        ));
        assert_eq!(
            locate_csv_error(e, "fodte", "f.csv", &header()).to_string(),
            "input fodte (f.csv), line 1022, column 'bydel_navn': not UTF-8 text"
        );
        let other = Error::from(DataFusionError::Execution("something else".into()));
        assert_eq!(
            locate_csv_error(other, "fodte", "f.csv", &header()).to_string(),
            "something else"
        );
    }

    #[test]
    fn inference_complaints_are_located_on_their_line() {
        let inferred = |said: &str| {
            let e = Error::from(DataFusionError::Context(
                "Error when processing CSV file tmp/b/processed/f.csv".into(),
                Box::new(DataFusionError::Execution(said.into())),
            ));
            locate_inference_error(e, "fodte", "processed/f.csv")
        };
        let e = inferred(
            "Csv error: Encountered unequal lengths between records on CSV file. Expected 3 records, found 5 records at line 7",
        );
        assert_eq!(e.kind(), "InputFileError");
        assert_eq!(
            e.to_string(),
            "input fodte (processed/f.csv), line 7: 3 fields expected, 5 found (a field missing or too many, or an unbalanced quote)"
        );
        assert_eq!(
            inferred("Csv error: Encountered UTF-8 error while reading CSV file: invalid utf-8: invalid UTF-8 in field 1 near byte index 0 at line 4").to_string(),
            "input fodte (processed/f.csv), line 4: not UTF-8 text"
        );
        let store = Error::from(object_store::Error::NotFound {
            path: "processed/f.csv".into(),
            source: "gone".into(),
        });
        let e = locate_inference_error(store, "fodte", "processed/f.csv");
        assert_eq!(e.kind(), "StorageError");
        assert!(
            e.to_string()
                .starts_with("input fodte (processed/f.csv): cannot be read: "),
            "{e}"
        );
    }
}
