//! The file's line of a record, for the errors that name one.
//!
//! DataFusion's CSV reader numbers records, not lines: its `line 6` is the sixth record (the
//! header is record 1), and the reader's row numbers (`__row`, the probe's first bad row)
//! count records too. A record and a line part ways after a blank line (the CSV tokenizer
//! skips it) and after a quoted field that holds a line break. So an error is built with the
//! record's number, and [`at_file_line`] makes that the line of the file where the record
//! starts, counting every line ending: LF, CRLF (one ending) and a lone CR, the endings the
//! tokenizer ends records at. Only a bad input pays for it: the object is read again, up to
//! the record, with the tokenizer DataFusion's reader runs (`csv_core`, as arrow-csv sets it
//! up for our options), so that the records are counted exactly as the reader counted them.

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::Error;

/// The inputs' field delimiter, for DataFusion's reader and for the count here alike.
pub const DELIMITER: u8 = b';';

/// The tokenizer as arrow-csv builds it for the reader's options (`;`, and otherwise the
/// defaults: `"` quotes, doubled to escape, no escape byte, no comments, CR, LF or CRLF
/// ends a record, and a line with nothing on it is no record).
fn tokenizer() -> csv_core::Reader {
    csv_core::ReaderBuilder::new().delimiter(DELIMITER).build()
}

/// Finds the line where record `record` (1-based, the header is record 1) starts, from the
/// object's bytes fed in order.
pub struct RecordLine {
    tokenizer: csv_core::Reader,
    /// The record sought.
    record: u64,
    /// Records the tokenizer has ended.
    ended: u64,
    /// Line endings in the bytes seen.
    endings: u64,
    /// The last byte seen was a CR, so an LF right after it ends no other line.
    after_cr: bool,
    /// Scratch room for the fields, which are not kept.
    fields: Vec<u8>,
    ends: Vec<usize>,
}

impl RecordLine {
    pub fn new(record: u64) -> Self {
        Self {
            tokenizer: tokenizer(),
            record: record.max(1),
            ended: 0,
            endings: 0,
            after_cr: false,
            fields: vec![0; 8 * 1024],
            ends: vec![0; 256],
        }
    }

    /// Counts the line endings of `bytes`.
    fn count(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'\r' => self.endings += 1,
                b'\n' if !self.after_cr => self.endings += 1,
                _ => {}
            }
            self.after_cr = b == b'\r';
        }
    }

    /// Feeds the object's next bytes; the record's line once they reach its first byte.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Option<u64> {
        while !bytes.is_empty() {
            if self.ended + 1 == self.record {
                // The record starts at the first byte that is not a line ending: the
                // tokenizer skips the rest of a CRLF and blank lines before a record.
                let start = bytes.iter().position(|b| !matches!(b, b'\r' | b'\n'));
                let skipped = start.unwrap_or(bytes.len());
                self.count(&bytes[..skipped]);
                return start.map(|_| self.endings + 1);
            }
            let (result, read, _, _) =
                self.tokenizer
                    .read_record(bytes, &mut self.fields, &mut self.ends);
            self.count(&bytes[..read]);
            bytes = &bytes[read..];
            match result {
                csv_core::ReadRecordResult::Record => self.ended += 1,
                // More room for fields that are not kept: the same room again.
                csv_core::ReadRecordResult::OutputFull
                | csv_core::ReadRecordResult::OutputEndsFull
                | csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::End => return None,
            }
        }
        None
    }
}

/// The line of object `path` where record `record` starts, reading it only that far;
/// `None` when it has fewer records.
async fn line_in_object(
    store: &dyn ObjectStore,
    path: &Path,
    record: u64,
) -> object_store::Result<Option<u64>> {
    let mut finder = RecordLine::new(record);
    let mut chunks = store.get(path).await?.into_stream();
    while let Some(chunk) = chunks.try_next().await? {
        if let Some(line) = finder.feed(&chunk) {
            return Ok(Some(line));
        }
    }
    Ok(None)
}

/// `e`, with the record number it names as its line made the line of object `path` where
/// that record starts. Only a bad cell's or a bad record's error names a record (any other
/// is returned as it is); if the object cannot be read again, the record number stays, and
/// a warning says so.
pub async fn at_file_line(e: Error, store: &dyn ObjectStore, path: &Path) -> Error {
    let record = match &e {
        Error::Cell { line, .. }
        | Error::InputFile {
            line: Some(line), ..
        } => *line,
        _ => return e,
    };
    let line = match line_in_object(store, path, record).await {
        Ok(Some(line)) => line,
        Ok(None) => {
            tracing::warn!(object = %path, record, "the object has no such record any more; its error names the record's number as its line");
            return e;
        }
        Err(read) => {
            tracing::warn!(object = %path, record, error = %read, "the object could not be read again; its error names the record's number as its line");
            return e;
        }
    };
    match e {
        Error::Cell {
            dataset,
            file,
            column,
            problem,
            value,
            ..
        } => Error::Cell {
            dataset,
            file,
            line,
            column,
            problem,
            value,
        },
        Error::InputFile {
            dataset,
            file,
            column,
            problem,
            ..
        } => Error::InputFile {
            dataset,
            file,
            line: Some(line),
            column,
            problem,
        },
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "aar;bydel_id;antall\n";

    /// The line of `bytes` where record `record` starts; `None` when it has fewer records.
    fn line_of_record(bytes: &[u8], record: u64) -> Option<u64> {
        RecordLine::new(record).feed(bytes)
    }

    /// Every record's line, fed whole and fed a byte at a time.
    fn lines(text: &[u8]) -> Vec<u64> {
        let mut found = vec![];
        for record in 1.. {
            let Some(line) = line_of_record(text, record) else {
                break;
            };
            let mut finder = RecordLine::new(record);
            let bytewise = text.iter().find_map(|b| finder.feed(&[*b]));
            assert_eq!(
                bytewise,
                Some(line),
                "record {record}, fed a byte at a time"
            );
            found.push(line);
        }
        found
    }

    #[test]
    fn without_blank_lines_or_quoted_breaks_records_are_lines() {
        let text = format!("{HEADER}2015;01;1\n2015;02;2\n2015;03;3\n");
        assert_eq!(lines(text.as_bytes()), [1, 2, 3, 4]);
        let unterminated = format!("{HEADER}2015;01;1\n2015;02;2");
        assert_eq!(lines(unterminated.as_bytes()), [1, 2, 3]);
    }

    #[test]
    fn blank_lines_are_counted() {
        let text = format!("{HEADER}2015;01;1\n\n2015;02;2\n\n\n2015;03;3\n\n");
        assert_eq!(lines(text.as_bytes()), [1, 2, 4, 7]);
        let leading = format!("\n{HEADER}2015;01;1\n");
        assert_eq!(lines(leading.as_bytes()), [2, 3]);
    }

    #[test]
    fn a_line_break_inside_quotes_is_a_line() {
        let text = format!("{HEADER}2015;\"0\n1\";1\n2015;\"a;\"\"b\"\"\r\nc\";2\n2015;03;3\n");
        assert_eq!(lines(text.as_bytes()), [1, 2, 4, 6]);
    }

    #[test]
    fn crlf_is_one_ending_and_a_lone_cr_is_one() {
        let crlf = format!("{HEADER}2015;01;1\n2015;02;2\n\n2015;03;3\n").replace('\n', "\r\n");
        assert_eq!(lines(crlf.as_bytes()), [1, 2, 3, 5]);
        let cr = format!("{HEADER}2015;01;1\n2015;02;2\n").replace('\n', "\r");
        assert_eq!(lines(cr.as_bytes()), [1, 2, 3]);
    }

    #[test]
    fn a_record_past_the_end_has_no_line() {
        let text = format!("{HEADER}2015;01;1\n\n\n");
        assert_eq!(line_of_record(text.as_bytes(), 2), Some(2));
        assert_eq!(line_of_record(text.as_bytes(), 3), None);
        assert_eq!(line_of_record(b"", 1), None);
    }

    #[test]
    fn a_wide_record_does_not_stop_the_count() {
        // Fields beyond the scratch room for them: the tokenizer asks for room again.
        let wide = vec!["x".repeat(100); 1000].join(";");
        let text = format!("{HEADER}{wide}\n\n2015;01;1\n");
        assert_eq!(lines(text.as_bytes()), [1, 2, 4]);
    }

    #[tokio::test]
    async fn an_error_names_the_line_of_its_record() {
        let store = object_store::memory::InMemory::new();
        let path = Path::from("d/f.csv");
        let text = format!("{HEADER}2015;01;1\n\n2015;\"0\n2\";2\n2015;x;3\n");
        store.put(&path, text.into_bytes().into()).await.unwrap();
        let cell = Error::Cell {
            dataset: "d".into(),
            file: "d/f.csv".into(),
            line: 4,
            column: "antall".into(),
            problem: "not a number",
            value: "x".into(),
        };
        let located = at_file_line(cell, &store, &path).await;
        assert!(
            located.to_string().contains("line 6, column 'antall'"),
            "{located}"
        );
        let record = Error::InputFile {
            dataset: "d".into(),
            file: "d/f.csv".into(),
            line: Some(3),
            column: None,
            problem: "3 fields expected, 4 found".into(),
        };
        let located = at_file_line(record, &store, &path).await;
        assert!(located.to_string().contains("line 4:"), "{located}");
        let past_the_end = Error::InputFile {
            dataset: "d".into(),
            file: "d/f.csv".into(),
            line: Some(9),
            column: None,
            problem: "p".into(),
        };
        let kept = at_file_line(past_the_end, &store, &path).await;
        assert!(kept.to_string().contains("line 9:"), "{kept}");
        let none = Error::InputFile {
            dataset: "d".into(),
            file: "d/f.csv".into(),
            line: None,
            column: None,
            problem: "a header and no rows".into(),
        };
        let kept = at_file_line(none, &store, &path).await;
        assert!(!kept.to_string().contains("line"), "{kept}");
    }
}
