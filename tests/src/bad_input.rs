//! Bad input, one case per class, as a careless or hostile sender makes it: an event that
//! cannot be run, or an input object that cannot be right. Every case must fail with its
//! error kind, name where (dataset, object, line, column), write nothing, and read the same
//! on every engine: `tests/tests/inputs.rs` runs the table embedded,
//! `cluster/tests/remote.rs` on the loopback cluster, `tests/tests/ballista.rs` the cases
//! about lines ([`line_cases`]) and objects that cannot be read ([`unreadable_cases`]) on
//! Ballista standalone.

use std::path::Path;

use serde_json::{Value, json};

use crate::{edit_csv, files_below, fixture_event, fixtures, input_csv};
use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_scheduler_client::{Engine, Error, run_event};

/// The event every case starts from, and its one input.
pub const EVENT: &str = "trangboddhet__over-2_status";
pub const DATASET: &str = "husholdninger-etter-rom-per-person";

/// One bad input.
pub struct Case {
    pub name: &'static str,
    /// Changes the bucket folder and the event.
    pub make: fn(&Path, &mut Value),
    pub kind: &'static str,
    /// Text the message must hold (the place, the problem).
    pub says: &'static [&'static str],
}

fn set_line(bucket: &Path, line: usize, edit: impl Fn(&str) -> String) {
    edit_csv(bucket, DATASET, |i, text| {
        Some(if i + 1 == line {
            edit(text)
        } else {
            text.to_string()
        })
    });
}

/// Line `blank` of the input emptied (the CSV reader skips it: no record).
fn blank_line(bucket: &Path, blank: usize) {
    set_line(bucket, blank, |_| String::new());
}

/// Line 6's sub-district name quoted, with a line break inside it: one record, two lines.
/// Lines past 6 move one down, so this goes after the other edits.
fn quoted_line_break(bucket: &Path) {
    set_line(bucket, 6, |l| {
        l.replacen(";Nedre Tøyen;", ";\"Nedre\nTøyen\";", 1)
    });
}

/// Every line ending of the input made CRLF (one inside quotes too).
fn crlf_endings(bucket: &Path) {
    let path = input_csv(bucket, DATASET);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(path, text.replace('\n', "\r\n")).unwrap();
}

/// Line 10's year, which is not one.
fn bad_year(bucket: &Path) {
    set_line(bucket, 10, |l| l.replacen("2015;", "abcd;", 1));
}

/// Line 6's last count (`rom_per_person_i_alt`) written as `value`.
fn last_count_on_line_6(bucket: &Path, value: &str) {
    set_line(bucket, 6, |l| {
        let (rest, _) = l.rsplit_once(';').unwrap();
        format!("{rest};{value}")
    });
}

/// Line 10 with a field too many.
fn extra_field(bucket: &Path) {
    set_line(bucket, 10, |l| format!("{l};99"));
}

fn set_prefix(event: &mut Value, prefix: &str) {
    event["payload"]["output_dataset"]["s3_prefix"] = json!(prefix);
}

/// The input's object key in the bucket.
pub fn input_key(bucket: &Path) -> String {
    input_csv(bucket, DATASET)
        .strip_prefix(bucket)
        .expect("inside the bucket")
        .display()
        .to_string()
}

/// Every case; the ones about the event come first, the ones about lines that are not
/// records ([`line_cases`]) last.
pub fn cases() -> Vec<Case> {
    let mut cases = vec![
        Case {
            name: "output prefix with ..",
            make: |_, e| set_prefix(e, "%stage%/x/../../y/"),
            kind: "InvalidEventError",
            says: &["payload.output_dataset.s3_prefix", "'..' segment"],
        },
        Case {
            name: "absolute output prefix",
            make: |_, e| set_prefix(e, "/etc/x/"),
            kind: "InvalidEventError",
            says: &["s3_prefix", "relative"],
        },
        Case {
            name: "output prefix with a control character",
            make: |_, e| set_prefix(e, "%stage%/a\u{1b}b/"),
            kind: "InvalidEventError",
            says: &["s3_prefix", "control character"],
        },
        Case {
            name: "output prefix on an input",
            make: |_, e| {
                let input = e["payload"]["step_data"]["s3_input_prefixes"][DATASET]
                    .as_str()
                    .unwrap()
                    .to_string();
                set_prefix(e, &input);
            },
            kind: "InvalidEventError",
            says: &["s3_prefix", "inside processed/"],
        },
        Case {
            name: "a value of the wrong type",
            make: |_, e| e["payload"]["output_dataset"]["s3_prefix"] = json!(7),
            kind: "InvalidEventError",
            says: &["payload.output_dataset.s3_prefix: invalid type: integer `7`"],
        },
        Case {
            name: "the type is not a string",
            make: |_, e| {
                e["payload"]["pipeline"]["task_config"]["lambda_invoker"]["type"] = json!(7)
            },
            kind: "TaskConfigError",
            says: &["task_config.lambda_invoker.type: expected a string, found 7"],
        },
        Case {
            name: "a truncated row",
            make: |b, _| set_line(b, 6, |l| l.rsplitn(3, ';').nth(2).unwrap().to_string()),
            kind: "InputFileError",
            says: &[DATASET, "line 6:", "11 fields expected, 9 found"],
        },
        Case {
            name: "an extra field",
            make: |b, _| set_line(b, 6, |l| format!("{l};99")),
            kind: "InputFileError",
            says: &[DATASET, "line 6:", "11 fields expected, 12 found"],
        },
        Case {
            name: "an unbalanced quote",
            make: |b, _| set_line(b, 6, |l| l.replacen(";Nedre", ";\"Nedre", 1)),
            kind: "InputFileError",
            says: &[DATASET, "line 6:", "unbalanced quote"],
        },
        Case {
            name: "bytes that are not UTF-8",
            make: |b, _| {
                let path = input_csv(b, DATASET);
                let mut bytes = std::fs::read(&path).unwrap();
                bytes.extend_from_slice(b"2015;0101;Lod\xffalen;01;Bydel;1;2;3;4;5;15\n");
                std::fs::write(path, bytes).unwrap();
            },
            kind: "InputFileError",
            says: &[DATASET, "line 1022, column 'delbydel_navn': not UTF-8 text"],
        },
        Case {
            name: "an empty object",
            make: |b, _| std::fs::write(input_csv(b, DATASET), "").unwrap(),
            kind: "InputFileError",
            says: &[DATASET, "line 1:", "empty (0 bytes)"],
        },
        Case {
            name: "a whole number beyond 64 bits",
            make: |b, _| last_count_on_line_6(b, "99999999999999999999"),
            kind: "InputCellError",
            says: &[
                "line 6, column 'rom_per_person_i_alt'",
                "beyond 64 bits",
                "'99999999999999999999'",
            ],
        },
        Case {
            name: "an infinite count",
            make: |b, _| last_count_on_line_6(b, "inf"),
            kind: "InputCellError",
            says: &[
                "line 6, column 'rom_per_person_i_alt'",
                "not a number",
                "'inf'",
            ],
        },
        Case {
            name: "a count beyond a float's range",
            make: |b, _| last_count_on_line_6(b, "1e400"),
            kind: "InputCellError",
            says: &[
                "line 6, column 'rom_per_person_i_alt'",
                "not a number",
                "'1e400'",
            ],
        },
        Case {
            name: "a header and no rows",
            make: |b, _| {
                let path = input_csv(b, DATASET);
                let text = std::fs::read_to_string(&path).unwrap();
                std::fs::write(&path, format!("{}\n", text.lines().next().unwrap())).unwrap();
            },
            kind: "InputFileError",
            says: &[DATASET, "a header and no rows"],
        },
        Case {
            name: "a district id that is not two digits",
            make: |b, _| {
                set_line(b, 6, |l| {
                    l.replacen(";01;Bydel Gamle Oslo", ";1;Bydel Gamle Oslo", 1)
                })
            },
            kind: "InputCellError",
            says: &["line 6, column 'bydel_id'", "two digits", "'1'"],
        },
        Case {
            name: "a sub-district of another district",
            make: |b, _| set_line(b, 6, |l| l.replacen(";0104;", ";0204;", 1)),
            kind: "InputCellError",
            says: &[
                "line 6, column 'delbydel_id'",
                "starts with its district's",
                "'0204'",
            ],
        },
        Case {
            name: "a first line longer than 64 KiB",
            make: |b, _| std::fs::write(input_csv(b, DATASET), "x".repeat(70_000)).unwrap(),
            kind: "InputFileError",
            says: &[DATASET, "line 1:", "64 KiB"],
        },
        Case {
            name: "a link out of the bucket",
            make: |b, _| {
                let path = input_csv(b, DATASET);
                let outside = b.parent().unwrap().join("secret.csv");
                std::fs::write(&outside, "root:x:0:0:root:/root:/bin/bash\n").unwrap();
                std::fs::remove_file(&path).unwrap();
                std::os::unix::fs::symlink(outside, path).unwrap();
            },
            kind: "InputFileError",
            says: &[DATASET, "outside the bucket"],
        },
    ];
    cases.extend(unreadable_cases());
    cases.extend(line_cases());
    cases
}

/// The input's key in the bucket, as the messages name it.
const KEY: &str = "(processed/green/husholdninger-etter-rom-per-person/version=1/edition=20240622T191428/husholdninger-etter-rom-per-person.csv)";

/// The input replaced by a link to `target`.
fn link_to(bucket: &Path, target: &str) {
    let path = input_csv(bucket, DATASET);
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(target, path).unwrap();
}

/// An object the file system cannot read (docs/inputs.md, step 1): named by its key in
/// the bucket, never by a path of the machine. (A file the process may not read is one
/// too, but a test run as root reads every file.)
pub fn unreadable_cases() -> Vec<Case> {
    vec![
        Case {
            name: "a link that loops",
            make: |b, _| link_to(b, "husholdninger-etter-rom-per-person.csv"),
            kind: "InputFileError",
            says: &[
                DATASET,
                KEY,
                "cannot be read: too many levels of symbolic links",
            ],
        },
        Case {
            name: "a link to nothing",
            make: |b, _| link_to(b, "no-such-file.csv"),
            kind: "InputFileError",
            says: &[
                DATASET,
                KEY,
                "cannot be read: a link to a file that does not exist",
            ],
        },
    ]
}

/// Bad rows and cells after lines that are no record of their own (a blank line, a line
/// break inside quotes) and with CRLF endings: the error names the line of the file all
/// the same (docs/inputs.md), whichever class it is.
pub fn line_cases() -> Vec<Case> {
    vec![
        Case {
            name: "a blank line before a bad cell",
            make: |b, _| {
                blank_line(b, 6);
                bad_year(b);
            },
            kind: "InputCellError",
            says: &["line 10, column 'aar'", "'abcd'"],
        },
        Case {
            name: "a blank line before an extra field",
            make: |b, _| {
                blank_line(b, 6);
                extra_field(b);
            },
            kind: "InputFileError",
            says: &[DATASET, "line 10:", "11 fields expected, 12 found"],
        },
        Case {
            name: "a blank line before a district id that is not two digits",
            make: |b, _| {
                blank_line(b, 6);
                set_line(b, 10, |l| {
                    l.replacen(";01;Bydel Gamle Oslo", ";1;Bydel Gamle Oslo", 1)
                });
            },
            kind: "InputCellError",
            says: &["line 10, column 'bydel_id'", "two digits", "'1'"],
        },
        Case {
            name: "a blank line before bytes that are not UTF-8",
            make: |b, _| {
                blank_line(b, 6);
                let path = input_csv(b, DATASET);
                let mut bytes = std::fs::read(&path).unwrap();
                bytes.extend_from_slice(b"2015;0101;Lod\xffalen;01;Bydel;1;2;3;4;5;15\n");
                std::fs::write(path, bytes).unwrap();
            },
            kind: "InputFileError",
            says: &[DATASET, "line 1022, column 'delbydel_navn': not UTF-8 text"],
        },
        Case {
            name: "a quoted line break before a bad cell",
            make: |b, _| {
                bad_year(b);
                quoted_line_break(b);
            },
            kind: "InputCellError",
            says: &["line 11, column 'aar'", "'abcd'"],
        },
        Case {
            name: "a quoted line break before an extra field",
            make: |b, _| {
                extra_field(b);
                quoted_line_break(b);
            },
            kind: "InputFileError",
            says: &[DATASET, "line 11:", "11 fields expected, 12 found"],
        },
        Case {
            name: "CRLF endings and a blank line before a bad cell",
            make: |b, _| {
                blank_line(b, 6);
                bad_year(b);
                crlf_endings(b);
            },
            kind: "InputCellError",
            says: &["line 10, column 'aar'", "'abcd'"],
        },
        Case {
            name: "CRLF endings, a blank line and a quoted line break before an extra field",
            make: |b, _| {
                blank_line(b, 4);
                extra_field(b);
                quoted_line_break(b);
                crlf_endings(b);
            },
            kind: "InputFileError",
            says: &[DATASET, "line 11:", "11 fields expected, 12 found"],
        },
    ]
}

/// The error of one case run on the engine `engine_for` builds for the case's bucket;
/// `Err` says what was wrong with it.
pub async fn check<F, Fut>(case: &Case, engine_for: F) -> Result<String, String>
where
    F: FnOnce(Bucket) -> Fut,
    Fut: std::future::Future<Output = Engine>,
{
    // The bucket is a folder of its own inside a parent, so a link can point out of it.
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("bucket");
    crate::copy_dir(&fixtures().join("input"), &dir);
    let bucket = Bucket::folder(&dir).expect("bucket");
    let mut event = fixture_event(EVENT);
    (case.make)(&dir, &mut event);
    let engine = engine_for(bucket.clone()).await;
    let options = crate::run_options();
    let outcome = run_event(&engine, &bucket, &event.to_string(), &options).await;
    let err: Error = match outcome {
        Ok(_) => return Err(format!("{}: the run succeeded", case.name)),
        Err(e) => e,
    };
    let text = err.to_string();
    if err.kind() != case.kind {
        return Err(format!(
            "{}: {} instead of {}: {text}",
            case.name,
            err.kind(),
            case.kind
        ));
    }
    for says in case.says {
        if !text.contains(says) {
            return Err(format!("{}: no '{says}' in: {text}", case.name));
        }
    }
    if text.contains("DataFusionError(") || text.contains("Shared(") {
        return Err(format!(
            "{}: an engine's wrapping reached the user: {text}",
            case.name
        ));
    }
    let written = files_below(&dir.join("intermediate"));
    if !written.is_empty() {
        return Err(format!("{}: wrote {written:?}", case.name));
    }
    Ok(text)
}
