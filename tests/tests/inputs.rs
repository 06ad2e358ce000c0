//! Reading the inputs (docs/contract.md §1.3, §2): one object per prefix, the header checked
//! against the catalog, cells that must parse, and the original's int-versus-float rule.

use bydelsfakta_tests::{
    bucket_copy, edit_csv, files_below, fixture_event, fixtures, input_csv, run,
};

const EVENT: &str = "trangboddhet__over-2_status";
const DATASET: &str = "husholdninger-etter-rom-per-person";

async fn run_edited(
    edit: impl Fn(usize, &str) -> Option<String>,
) -> (
    tempfile::TempDir,
    bydelsfakta_scheduler_client::Result<bydelsfakta_scheduler_client::RunOutcome>,
) {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    edit_csv(dir.path(), DATASET, edit);
    let result = run(&bucket, &fixture_event(EVENT).to_string()).await;
    (dir, result)
}

#[tokio::test]
async fn a_missing_column_names_dataset_expected_and_found() {
    let (dir, result) = run_edited(|_, line| {
        let mut cells: Vec<&str> = line.split(';').collect();
        cells.remove(6); // rom_per_person_0_5_til_0_9
        Some(cells.join(";"))
    })
    .await;
    let err = result.unwrap_err();
    assert_eq!(err.kind(), "InputHeaderError");
    let text = err.to_string();
    assert!(
        text.contains(DATASET) && text.contains("missing columns [rom_per_person_0_5_til_0_9]"),
        "{text}"
    );
    assert!(text.contains("found [aar, delbydel_id"), "{text}");
    assert!(files_below(&dir.path().join("intermediate")).is_empty());
}

#[tokio::test]
async fn an_unparsable_cell_names_line_and_column() {
    let (_dir, result) = run_edited(|i, line| {
        if i == 7 {
            let mut cells: Vec<String> = line.split(';').map(String::from).collect();
            cells[7] = "12x".into(); // rom_per_person_1_0_til_1_9
            Some(cells.join(";"))
        } else {
            Some(line.to_string())
        }
    })
    .await;
    let err = result.unwrap_err();
    assert_eq!(err.kind(), "InputCellError");
    let text = err.to_string();
    assert!(
        text.contains("line 8, column 'rom_per_person_1_0_til_1_9'") && text.contains("'12x'"),
        "{text}"
    );
}

#[tokio::test]
async fn an_empty_prefix_and_two_objects_are_errors() {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let csv = input_csv(dir.path(), DATASET);
    std::fs::copy(&csv, csv.with_file_name("second.csv")).unwrap();
    let err = run(&bucket, &fixture_event(EVENT).to_string())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "MultipleFilesInPrefixError");
    assert!(err.to_string().contains("second.csv"), "{err}");

    std::fs::remove_file(csv.with_file_name("second.csv")).unwrap();
    std::fs::remove_file(&csv).unwrap();
    let err = run(&bucket, &fixture_event(EVENT).to_string())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "EmptyPrefixError");
    assert!(
        err.to_string()
            .contains("processed/green/husholdninger-etter-rom-per-person/"),
        "{err}"
    );
}

// A column with one empty cell is float (docs/contract.md §2, §10.2): `299` becomes `299.0`.
#[tokio::test]
async fn one_empty_cell_makes_the_column_float() {
    let (dir, result) = run_edited(|i, line| {
        let mut cells: Vec<String> = line.split(';').map(String::from).collect();
        if i == 1 {
            cells[8] = String::new(); // one rom_per_person_2_0_og_over cell, in 2008
        }
        Some(cells.join(";"))
    })
    .await;
    let outcome = result.unwrap();
    let doc =
        std::fs::read_to_string(dir.path().join(&outcome.output_prefix).join("01.json")).unwrap();
    let first_value = doc.split("\"value\": ").nth(1).unwrap();
    let number: String = first_value.chars().take_while(|c| *c != ',').collect();
    assert!(
        number.ends_with(".0"),
        "expected a float value, got {number}"
    );
}

/// One input as read, as text: its fields and rows, or its error.
async fn reading(
    engine: &bydelsfakta_scheduler_client::Engine,
    bucket: &bydelsfakta_queries::bucket::Bucket,
    dataset: &str,
    prefix: &str,
    cache: Option<&bydelsfakta_queries::reader::InputCache>,
) -> String {
    use datafusion::arrow::util::pretty::pretty_format_batches;
    let read = bydelsfakta_queries::reader::read_input(
        engine.context(),
        engine,
        bucket,
        dataset,
        prefix,
        cache,
    )
    .await;
    match read {
        Err(e) => format!("error: {e}"),
        Ok(read) => {
            let frame = read.frame;
            let fields: Vec<String> = frame
                .schema()
                .fields()
                .iter()
                .map(|f| format!("{} {} {}", f.name(), f.data_type(), f.is_nullable()))
                .collect();
            let batches = frame.collect().await.unwrap();
            format!(
                "{}\n{}",
                fields.join(", "),
                pretty_format_batches(&batches).unwrap()
            )
        }
    }
}

/// Reads every input of the bucket both ways: in memory (the embedded engine's cache) and
/// as plans (what a cluster runs).
async fn both_readings(bucket_dir: &std::path::Path) -> Vec<(String, String, String)> {
    let bucket =
        bydelsfakta_queries::bucket::Bucket::parse(&format!("file://{}", bucket_dir.display()))
            .unwrap();
    let engine = bydelsfakta_scheduler_client::Engine::embedded(&bucket)
        .await
        .unwrap();
    let cache = bydelsfakta_queries::reader::InputCache::default();
    let mut readings = vec![];
    for dataset in bydelsfakta_queries::catalog::input_datasets() {
        let present = ["green", "yellow", "red"].iter().any(|conf| {
            bucket_dir
                .join("processed")
                .join(conf)
                .join(dataset.id)
                .exists()
        });
        if !present {
            continue;
        }
        let csv = input_csv(bucket_dir, dataset.id);
        let prefix = csv
            .parent()
            .unwrap()
            .strip_prefix(bucket_dir)
            .unwrap()
            .display()
            .to_string();
        readings.push((
            dataset.id.to_string(),
            reading(&engine, &bucket, dataset.id, &prefix, Some(&cache)).await,
            reading(&engine, &bucket, dataset.id, &prefix, None).await,
        ));
    }
    readings
}

#[tokio::test]
async fn in_memory_and_planned_typing_agree_on_every_input() {
    let (dir, _) = bucket_copy(&fixtures().join("input"));
    // Cells that move a column's kind: pandas' missing spellings, an empty cell, a decimal.
    edit_csv(dir.path(), DATASET, |i, line| {
        let mut cells: Vec<String> = line.split(';').map(String::from).collect();
        match i {
            2 => cells[6] = "NA".into(),
            3 => cells[7] = "n/a".into(),
            4 => cells[8] = String::new(),
            5 => cells[9] = "12.5".into(),
            _ => {}
        }
        Some(cells.join(";"))
    });
    let readings = both_readings(dir.path()).await;
    assert!(readings.len() >= 25, "{} inputs", readings.len());
    for (dataset, in_memory, planned) in &readings {
        assert!(!in_memory.starts_with("error"), "{dataset}: {in_memory}");
        assert_eq!(in_memory, planned, "{dataset}");
    }
    let edited = &readings.iter().find(|(d, _, _)| d == DATASET).unwrap().1;
    assert!(
        edited.contains("rom_per_person_0_5_til_0_9 Float64 true")
            && edited.contains("date Int64 true")
            && edited.contains("__row Int64 false"),
        "{edited}"
    );
}

#[tokio::test]
async fn in_memory_and_planned_typing_fail_alike() {
    for (column, value, problem) in [
        (7, "12x", "not a number"),
        (0, "2020.5", "not a whole year"),
    ] {
        let (dir, _) = bucket_copy(&fixtures().join("input"));
        edit_csv(dir.path(), DATASET, |i, line| {
            let mut cells: Vec<String> = line.split(';').map(String::from).collect();
            if i == 9 {
                cells[column] = value.into();
            }
            Some(cells.join(";"))
        });
        let readings = both_readings(dir.path()).await;
        let (_, in_memory, planned) = readings.iter().find(|(d, _, _)| d == DATASET).unwrap();
        assert_eq!(in_memory, planned);
        assert!(
            in_memory.contains("line 10")
                && in_memory.contains(problem)
                && in_memory.contains(value),
            "{in_memory}"
        );
    }
}

/// A row the CSV decoder refuses (a field missing), in a row past the first batch that the
/// in-memory read decodes (1,024 rows): both ways name the same line of the file.
#[tokio::test]
async fn a_bad_row_past_the_first_batch_is_named_alike() {
    let dataset = "flytting-fra-etter-alder";
    let (dir, _) = bucket_copy(&fixtures().join("input"));
    edit_csv(dir.path(), dataset, |i, line| match i {
        3000 => line.rsplit_once(';').map(|(kept, _)| kept.to_string()),
        _ => Some(line.to_string()),
    });
    let readings = both_readings(dir.path()).await;
    let (_, in_memory, planned) = readings.iter().find(|(d, _, _)| d == dataset).unwrap();
    assert_eq!(in_memory, planned);
    assert!(
        in_memory.starts_with("error") && in_memory.contains("line 3001"),
        "{in_memory}"
    );
}

/// Bad rows and cells after a blank line, after a quoted line break, with CRLF endings
/// (the bad-input table's line cases): in memory and as plans, the error names the same line,
/// the file's.
#[tokio::test]
async fn in_memory_and_planned_typing_name_the_files_line() {
    use bydelsfakta_tests::bad_input::line_cases;
    for case in line_cases() {
        let (dir, bucket) = bucket_copy(&fixtures().join("input"));
        (case.make)(dir.path(), &mut fixture_event(EVENT));
        let engine = bydelsfakta_scheduler_client::Engine::embedded(&bucket)
            .await
            .unwrap();
        let csv = input_csv(dir.path(), DATASET);
        let prefix = csv.parent().unwrap().strip_prefix(dir.path()).unwrap();
        let prefix = prefix.display().to_string();
        let cache = bydelsfakta_queries::reader::InputCache::default();
        let in_memory = reading(&engine, &bucket, DATASET, &prefix, Some(&cache)).await;
        let planned = reading(&engine, &bucket, DATASET, &prefix, None).await;
        assert_eq!(in_memory, planned, "{}", case.name);
        for says in case.says {
            assert!(in_memory.contains(says), "{}: {in_memory}", case.name);
        }
    }
}

/// Every case of the bad-input table, embedded: its error kind, its place, nothing written.
/// (`cluster/tests/remote.rs` runs the same table on the loopback cluster.)
#[tokio::test]
async fn every_bad_input_fails_clearly() {
    use bydelsfakta_tests::bad_input::{cases, check};
    let mut failures = vec![];
    for case in cases() {
        let checked = check(&case, |bucket| async move {
            bydelsfakta_scheduler_client::Engine::embedded(&bucket)
                .await
                .unwrap()
        })
        .await;
        match checked {
            Ok(message) => eprintln!("{}: {message}", case.name),
            Err(failure) => failures.push(failure),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One change to an input's bytes, as a careless export or a damaged transfer makes it.
#[derive(Debug, Clone)]
enum Damage {
    Delete(usize),
    Insert(usize, u8),
    Truncate(usize),
}

fn damage() -> impl proptest::strategy::Strategy<Value = Damage> {
    use proptest::prelude::*;
    let byte = prop_oneof![
        Just(b';'),
        Just(b'"'),
        Just(b'\n'),
        Just(b'\r'),
        Just(0xff_u8),
        Just(b'-'),
        Just(b'.'),
        any::<u8>(),
    ];
    prop_oneof![
        any::<usize>().prop_map(Damage::Delete),
        (any::<usize>(), byte).prop_map(|(at, b)| Damage::Insert(at, b)),
        any::<usize>().prop_map(Damage::Truncate),
    ]
}

// Property-based fuzzing of the CSV reader (`PROPTEST_CASES` sets how many; 24 by default,
// each a whole run): a damaged input is read, or fails with a typed error that no engine
// wrapped, and nothing is written.
proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(24)
    ))]
    #[test]
    fn a_damaged_input_is_read_or_refused_clearly(damages in proptest::collection::vec(damage(), 1..6)) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let original = std::fs::read(input_csv(&fixtures().join("input"), DATASET)).unwrap();
        // The header and the first 60 rows keep every case quick.
        let lines: Vec<&[u8]> = original.split_inclusive(|b| *b == b'\n').take(61).collect();
        let mut bytes = lines.concat();
        for damage in &damages {
            match *damage {
                Damage::Delete(at) if !bytes.is_empty() => {
                    bytes.remove(at % bytes.len());
                }
                Damage::Insert(at, b) => bytes.insert(at % (bytes.len() + 1), b),
                Damage::Truncate(at) => bytes.truncate(at % (bytes.len() + 1)),
                Damage::Delete(_) => {}
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let relative = input_csv(&fixtures().join("input"), DATASET)
            .strip_prefix(fixtures().join("input"))
            .unwrap()
            .to_path_buf();
        std::fs::create_dir_all(dir.path().join(&relative).parent().unwrap()).unwrap();
        std::fs::write(dir.path().join(&relative), &bytes).unwrap();
        let bucket = bydelsfakta_queries::bucket::Bucket::folder(dir.path()).unwrap();
        let outcome = runtime.block_on(run(&bucket, &fixture_event(EVENT).to_string()));
        if let Err(e) = outcome {
            let text = e.to_string();
            proptest::prop_assert!(!text.contains("DataFusionError("), "{text}");
            let written = files_below(&dir.path().join("intermediate"));
            proptest::prop_assert!(written.is_empty(), "{}: wrote {written:?}", e.kind());
        }
    }
}
