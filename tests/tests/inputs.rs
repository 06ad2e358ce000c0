//! Reading the inputs (00-common §1.3, §2): one object per prefix, the header checked
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

// A column with one empty cell is float (00-common §2, §10.2): `299` becomes `299.0`.
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
