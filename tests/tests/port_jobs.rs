//! The Databricks port's three jobs (`tests/fixtures/PORT-JOBS.md`) on inputs the fixtures do not
//! show: suppressed (empty) cells, sub-districts missing in some years, zero counts, other
//! row orders. Where the port would fail on a value it writes, we fail with the located
//! error and write nothing (docs/deviations.md D1).

use std::path::Path;

use bydelsfakta_scheduler_client::{Result, RunOutcome};
use bydelsfakta_tests::{
    bucket_copy, compare_documents, compare_folders, edit_csv, entry, files_below, fixture_event,
    fixtures, input_csv, run,
};
use serde_json::Value;

/// Runs the fixture event `<function>__<type>` on a copy of the fixtures whose input
/// `dataset` was rewritten line by line by `edit` (the header is line 0).
async fn run_edited(
    dataset: &str,
    edit: impl Fn(usize, &[&str]) -> Option<String>,
    events: &[&str],
) -> (tempfile::TempDir, Vec<Result<RunOutcome>>) {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    edit_csv(dir.path(), dataset, |i, line| {
        let cells: Vec<&str> = line.split(';').collect();
        edit(i, &cells)
    });
    let mut results = vec![];
    for event in events {
        results.push(run(&bucket, &fixture_event(event).to_string()).await);
    }
    (dir, results)
}

fn document(dir: &Path, outcome: &RunOutcome, id: &str) -> String {
    std::fs::read_to_string(dir.join(&outcome.output_prefix).join(format!("{id}.json")))
        .expect("document")
}

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

fn entry_ids(doc: &Value) -> Vec<String> {
    doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

/// Every `value` of a document (recursively).
fn values(json: &Value, out: &mut Vec<Value>) {
    match json {
        Value::Array(items) => items.iter().for_each(|v| values(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                if k == "value" && v.is_number() {
                    out.push(v.clone());
                } else {
                    values(v, out);
                }
            }
        }
        _ => {}
    }
}

fn all_values_are_floats(text: &str) -> bool {
    let mut found = vec![];
    values(&parsed(text)["data"], &mut found);
    !found.is_empty() && found.iter().all(|v| v.is_f64())
}

/// The line with the cells at the given columns replaced.
fn with_cells(cells: &[&str], replace: &[(usize, &str)]) -> String {
    let mut cells: Vec<&str> = cells.to_vec();
    for &(column, value) in replace {
        cells[column] = value;
    }
    cells.join(";")
}

fn keep(cells: &[&str]) -> Option<String> {
    Some(cells.join(";"))
}

/// An edit that sets `cells` (column, value) on the data rows `selects` picks.
fn set_where<'a>(
    selects: impl Fn(&[&str]) -> bool + 'a,
    cells: &'a [(usize, &'a str)],
) -> impl Fn(usize, &[&str]) -> Option<String> + 'a {
    move |i, row| {
        if i > 0 && selects(row) {
            Some(with_cells(row, cells))
        } else {
            keep(row)
        }
    }
}

/// An edit that drops the data rows `selects` picks.
fn drop_where(selects: impl Fn(&[&str]) -> bool) -> impl Fn(usize, &[&str]) -> Option<String> {
    move |i, row| (i == 0 || !selects(row)).then(|| row.join(";"))
}

// median-totalpris: aar;delbydel_id;delbydel_navn;bydel_id;bydel_navn;enhetstype;totalpris

#[tokio::test]
async fn median_totalpris_rows_without_a_price_are_left_out() {
    let (dir, results) = run_edited(
        "median-totalpris",
        set_where(
            |cells| {
                matches!(
                    (cells[0], cells[1], cells[5]),
                    ("2023", "0101", "both") | ("2013", "0102", "both")
                )
            },
            &[(6, "")],
        ),
        &["median_totalpris__status", "median_totalpris__historisk"],
    )
    .await;
    let [status, historisk] = <[_; 2]>::try_from(results).ok().unwrap();
    let status = status.unwrap();
    let doc = document(dir.path(), &status, "01");
    assert!(!doc.contains("\"id\": \"0101\""), "{doc}");
    // One empty cell makes the whole column float, as pandas reads it.
    assert!(
        doc.contains("{\"value\": 4939000.0, \"date\": 2023}"),
        "{doc}"
    );
    assert!(all_values_are_floats(&doc));
    let historisk = historisk.unwrap();
    let doc = parsed(&document(dir.path(), &historisk, "01"));
    assert_eq!(entry(&doc, "0101")["values"].as_array().unwrap().len(), 11);
    let gronland_years: Vec<i64> = entry(&doc, "0102")["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["date"].as_i64().unwrap())
        .collect();
    assert_eq!(
        gronland_years,
        [2012].into_iter().chain(2014..=2023).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn median_totalpris_an_empty_price_in_a_row_never_written_still_makes_values_float() {
    let (dir, results) = run_edited(
        "median-totalpris",
        set_where(
            |cells| cells[0] == "2012" && cells[1] == "0101" && cells[5] == "leilighet",
            &[(6, "")],
        ),
        &["median_totalpris__status"],
    )
    .await;
    let outcome = results.into_iter().next().unwrap().unwrap();
    let doc = document(dir.path(), &outcome, "01");
    assert!(
        doc.contains("{\"value\": 3986000.0, \"date\": 2023}"),
        "{doc}"
    );
    assert!(all_values_are_floats(&doc));
}

// A sub-district first priced in a later year first appears later in the frame.
#[tokio::test]
async fn median_totalpris_a_sub_district_priced_later_comes_after_its_siblings() {
    let (dir, results) = run_edited(
        "median-totalpris",
        drop_where(|cells| matches!(cells[0], "2012" | "2013" | "2014") && cells[1] == "0102"),
        &["median_totalpris__historisk", "median_totalpris__status"],
    )
    .await;
    let [historisk, status] = <[_; 2]>::try_from(results).ok().unwrap();
    let doc = parsed(&document(dir.path(), &historisk.unwrap(), "01"));
    let ids = entry_ids(&doc);
    assert_eq!(ids[..2], ["0101", "0103"], "{ids:?}");
    assert_eq!(ids[ids.len() - 3..], ["0102", "01", "00"], "{ids:?}");
    assert_eq!(entry(&doc, "0102")["values"].as_array().unwrap().len(), 9);
    let outcome = status.unwrap();
    let expected =
        std::fs::read_to_string(fixtures().join("expected/median_totalpris/status/01.json"))
            .unwrap();
    compare_documents(&expected, &document(dir.path(), &outcome, "01")).unwrap();
}

// neets: aar;delbydel_id;delbydel_navn;bydel_id;bydel_navn;andel;antall

#[tokio::test]
async fn neets_empty_cells_in_rows_never_written_only_make_counts_float() {
    let (dir, results) = run_edited(
        "neets",
        set_where(
            |cells| cells[0] == "2024" && cells[3] == "99",
            &[(5, ""), (6, "")],
        ),
        &["neets__status"],
    )
    .await;
    let outcome = results.into_iter().next().unwrap().unwrap();
    let doc = document(dir.path(), &outcome, "01");
    assert!(
        doc.contains("{\"value\": 62.0, \"ratio\": 0.0807, \"date\": 2024}"),
        "{doc}"
    );
    assert!(all_values_are_floats(&doc));
    assert!(
        doc.contains(
            "\"scale\": {\"value\": [20.0, 13748.0], \"ratio\": [0.01893939393939394, 0.1440846001321877]}"
        ),
        "{doc}"
    );
}

// The port writes the documents before the one with the missing ratio and then fails;
// we fail before writing any.
#[tokio::test]
async fn neets_an_empty_ratio_in_a_written_row_fails_and_writes_nothing() {
    let (dir, results) = run_edited(
        "neets",
        set_where(|cells| cells[0] == "2017" && cells[1] == "0101", &[(5, "")]),
        &["neets__historisk"],
    )
    .await;
    let err = results.into_iter().next().unwrap().unwrap_err();
    assert_eq!(err.kind(), "NonFiniteValueError");
    let text = err.to_string();
    assert!(
        text.contains("neets-historisk")
            && text.contains("document 01.json")
            && text.contains("entry 0101")
            && text.contains("ratio"),
        "{text}"
    );
    assert!(files_below(&dir.path().join("intermediate")).is_empty());

    // The status documents show 2024 only, so the same file is fine there.
    let bucket =
        bydelsfakta_queries::bucket::Bucket::parse(&format!("file://{}", dir.path().display()))
            .unwrap();
    let outcome = run(&bucket, &fixture_event("neets__status").to_string())
        .await
        .unwrap();
    let expected = fixtures().join("expected/neets/status");
    compare_folders(&expected, &dir.path().join(&outcome.output_prefix)).unwrap();
}

#[tokio::test]
async fn neets_zero_counts_are_written_with_a_zero_ratio() {
    let (dir, results) = run_edited(
        "neets",
        set_where(
            |cells| cells[0] == "2024" && cells[1] == "0101",
            &[(5, "0.0"), (6, "0")],
        ),
        &["neets__status"],
    )
    .await;
    let outcome = results.into_iter().next().unwrap().unwrap();
    let doc = document(dir.path(), &outcome, "01");
    assert!(
        doc.contains("{\"value\": 0, \"ratio\": 0.0, \"date\": 2024}"),
        "{doc}"
    );
    assert!(
        doc.contains(
            "\"scale\": {\"value\": [0.0, 13748.0], \"ratio\": [0.0, 0.1440846001321877]}"
        ),
        "{doc}"
    );
}

// Oslo and district rows before the sub-districts: the Oslo document lists Oslo first.
#[tokio::test]
async fn neets_oslo_rows_first_put_oslo_first_in_the_oslo_document() {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let csv = input_csv(dir.path(), "neets");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    let level = |line: &&str| {
        let cells: Vec<&str> = line.split(';').collect();
        match (cells[1], cells[3]) {
            (_, "00") => 0,
            ("", _) => 1,
            _ => 2,
        }
    };
    let mut reordered = vec![header];
    for wanted in 0..3 {
        reordered.extend(rows.iter().filter(|l| level(l) == wanted));
    }
    std::fs::write(&csv, reordered.join("\n") + "\n").unwrap();
    let outcome = run(&bucket, &fixture_event("neets__historisk").to_string())
        .await
        .unwrap();
    let oslo = parsed(&document(dir.path(), &outcome, "00"));
    let ids = entry_ids(&oslo);
    let expected_ids: Vec<String> = std::iter::once("00".to_string())
        .chain((1..=15).map(|d| format!("{d:02}")))
        .collect();
    assert_eq!(ids, expected_ids);
    for d in 1..=15 {
        let id = format!("{d:02}");
        let expected =
            std::fs::read_to_string(fixtures().join(format!("expected/neets/historisk/{id}.json")))
                .unwrap();
        compare_documents(&expected, &document(dir.path(), &outcome, &id))
            .unwrap_or_else(|e| panic!("{id}: {e}"));
    }
}

// utdanning: aar;delbydel_id;delbydel_navn;bydel_id;bydel_navn;nivaa;kjonn;alder;antall

const INGEN: &str = "Ingen utdanning/Uoppgitt utdanning";

// A sub-district of 99 without a level in 2020: pandas' pivot turns every level column
// float, and the sub-district's total (missing) drops out of Oslo's while its other levels
// still count.
#[tokio::test]
async fn utdanning_a_pseudo_sub_district_without_a_level_makes_every_level_float() {
    let (dir, results) = run_edited(
        "utdanning",
        drop_where(|cells| cells[0] == "2020" && cells[1] == "9999" && cells[5] == INGEN),
        &["utdanning__status", "utdanning__historisk"],
    )
    .await;
    let [status, historisk] = <[_; 2]>::try_from(results).ok().unwrap();
    let status = status.unwrap();
    let doc = document(dir.path(), &status, "01");
    assert!(
        doc.contains("{\"value\": 546.0, \"ratio\": 0.2382, \"date\": 2023}"),
        "{doc}"
    );
    assert!(all_values_are_floats(&doc));
    let historisk = historisk.unwrap();
    let text = document(dir.path(), &historisk, "00");
    assert!(all_values_are_floats(&text));
    let oslo = parsed(&text);
    let levels = entry(&oslo, "00")["values"].as_array().unwrap();
    let ratio_sum = |year: i64| -> f64 {
        levels[..5]
            .iter()
            .map(|series| {
                series
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|v| v["date"] == year)
                    .unwrap()["ratio"]
                    .as_f64()
                    .unwrap()
            })
            .sum()
    };
    assert!(ratio_sum(2020) > 1.001, "{}", ratio_sum(2020));
    assert!((ratio_sum(2021) - 1.0).abs() < 0.001, "{}", ratio_sum(2021));
}

#[tokio::test]
async fn utdanning_a_written_sub_district_without_a_level_fails_and_writes_nothing() {
    let (dir, results) = run_edited(
        "utdanning",
        drop_where(|cells| cells[0] == "2023" && cells[1] == "0101" && cells[5] == "Grunnskole"),
        &["utdanning__status"],
    )
    .await;
    let err = results.into_iter().next().unwrap().unwrap_err();
    assert_eq!(err.kind(), "NonFiniteValueError");
    let text = err.to_string();
    assert!(
        text.contains("utdanning-status") && text.contains("entry 0101"),
        "{text}"
    );
    assert!(files_below(&dir.path().join("intermediate")).is_empty());
}

#[tokio::test]
async fn utdanning_zero_counts_give_a_zero_ratio() {
    let (dir, results) = run_edited(
        "utdanning",
        set_where(
            |cells| cells[0] == "2023" && cells[1] == "0101" && cells[5] == INGEN,
            &[(8, "0")],
        ),
        &["utdanning__status"],
    )
    .await;
    let outcome = results.into_iter().next().unwrap().unwrap();
    let doc = parsed(&document(dir.path(), &outcome, "01"));
    let lodalen = entry(&doc, "0101")["values"].as_array().unwrap();
    assert_eq!(lodalen.len(), 5);
    assert_eq!(
        lodalen[4].to_string(),
        r#"{"value":0,"ratio":0.0,"date":2023}"#
    );
}

// Sums and sorted groups: the order of the input rows does not matter.
#[tokio::test]
async fn utdanning_reversed_input_rows_give_the_same_documents() {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let csv = input_csv(dir.path(), "utdanning");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1..].reverse();
    std::fs::write(&csv, lines.join("\n") + "\n").unwrap();
    for ty in ["status", "historisk"] {
        let outcome = run(
            &bucket,
            &fixture_event(&format!("utdanning__{ty}")).to_string(),
        )
        .await
        .unwrap();
        compare_folders(
            &fixtures().join(format!("expected/utdanning/{ty}")),
            &dir.path().join(&outcome.output_prefix),
        )
        .unwrap_or_else(|e| panic!("{ty}: {e}"));
    }
}

// Rows are sorted by year, then ids, after the aggregation: a sub-district that first
// appears in a later year comes after its siblings, with a shorter history.
#[tokio::test]
async fn utdanning_a_sub_district_missing_in_early_years_has_a_shorter_history() {
    let (dir, results) = run_edited(
        "utdanning",
        drop_where(|cells| matches!(cells[0], "2018" | "2019") && cells[1] == "0102"),
        &["utdanning__historisk"],
    )
    .await;
    let outcome = results.into_iter().next().unwrap().unwrap();
    let doc = parsed(&document(dir.path(), &outcome, "01"));
    let ids = entry_ids(&doc);
    assert_eq!(ids[..2], ["0101", "0103"], "{ids:?}");
    assert_eq!(ids[ids.len() - 3..], ["0102", "01", "00"], "{ids:?}");
    let series = entry(&doc, "0102")["values"].as_array().unwrap();
    assert_eq!(series.len(), 6);
    for list in series {
        assert_eq!(list.as_array().unwrap().len(), 4);
    }
    let district = entry(&doc, "01")["values"].as_array().unwrap();
    assert_eq!(district[0].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn utdanning_a_suppressed_count_is_skipped_and_makes_levels_float() {
    let (dir, results) = run_edited(
        "utdanning",
        |i, cells| {
            let first = cells[0] == "2023"
                && cells[1] == "0101"
                && cells[5] == "Grunnskole"
                && cells[6] == "Menn"
                && cells[7] == "16-24 år";
            if i > 0 && first {
                assert_eq!(cells[8], "70");
                Some(with_cells(cells, &[(8, "")]))
            } else {
                keep(cells)
            }
        },
        &["utdanning__status"],
    )
    .await;
    let outcome = results.into_iter().next().unwrap().unwrap();
    let doc = document(dir.path(), &outcome, "01");
    assert!(all_values_are_floats(&doc));
    let doc = parsed(&doc);
    let grunnskole = &entry(&doc, "0101")["values"][0];
    assert_eq!(grunnskole["value"].as_f64(), Some(546.0 - 70.0));
}

#[tokio::test]
async fn utdanning_a_level_that_never_occurs_is_named() {
    let (dir, results) = run_edited(
        "utdanning",
        drop_where(|cells| cells[5] == INGEN),
        &["utdanning__historisk"],
    )
    .await;
    let err = results.into_iter().next().unwrap().unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("input utdanning: no row has nivaa 'Ingen utdanning/Uoppgitt utdanning'"),
        "{text}"
    );
    assert!(files_below(&dir.path().join("intermediate")).is_empty());
}
