//! The deliberate deviations (docs/deviations.md): D1 non-finite numbers fail the whole run
//! with a located error and nothing written; D5 the previous year of the same geography.

use bydelsfakta_tests::{
    bucket_copy, edit_csv, files_below, fixture_event, fixtures, run, zero_households_in_0501,
};

// D1/D2: a sub-district whose four categories are all zero gives 0/0; the original wrote
// the documents before the failing one; we write none.
#[tokio::test]
async fn a_zero_denominator_fails_the_run_and_writes_nothing() {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    zero_households_in_0501(dir.path());
    let err = run(
        &bucket,
        &fixture_event("trangboddhet__over-2_status").to_string(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), "NonFiniteValueError");
    let text = err.to_string();
    assert!(
        text.contains("trangboddhet-over-2-status")
            && text.contains("document 05.json")
            && text.contains("entry 0501")
            && text.contains("ratio"),
        "{text}"
    );
    assert!(
        files_below(&dir.path().join("intermediate")).is_empty(),
        "nothing may be written"
    );
}

// D5: change_ratio divides by the same sub-district's previous available year.
#[tokio::test]
async fn change_ratio_uses_the_previous_available_year() {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let mut population = std::collections::HashMap::new();
    edit_csv(dir.path(), "befolkning-etter-kjonn-og-alder", |i, line| {
        let cells: Vec<&str> = line.split(';').collect();
        (i == 0 || !(cells[1] == "0101" && cells[0] == "2015")).then(|| line.to_string())
    });
    let text = std::fs::read_to_string(bydelsfakta_tests::input_csv(
        dir.path(),
        "befolkning-etter-kjonn-og-alder",
    ))
    .unwrap();
    for line in text.lines().skip(1) {
        let cells: Vec<&str> = line.split(';').collect();
        if cells[1] == "0101" {
            let sum: i64 = cells[6..].iter().map(|c| c.parse::<i64>().unwrap()).sum();
            *population.entry(cells[0].to_string()).or_insert(0) += sum;
        }
    }
    let outcome = run(
        &bucket,
        &fixture_event("folkemengde__historisk-prosent").to_string(),
    )
    .await
    .unwrap();
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(&outcome.output_prefix).join("01.json")).unwrap(),
    )
    .unwrap();
    let entry = &doc["data"][0];
    assert_eq!(entry["id"], "0101");
    let y2016 = entry["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["date"] == 2016)
        .unwrap();
    let change = (population["2016"] - population["2014"]) as f64;
    assert_eq!(y2016["value"].as_f64().unwrap(), change);
    assert_eq!(
        y2016["ratio"].as_f64().unwrap(),
        change / population["2014"] as f64
    );
    assert!(
        entry["values"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["date"] != 2015)
    );
}

// A sub-district missing a year of the last ten leaves a hole in the key numbers: the
// original wrote NaN (and failed); we fail naming the geography.
#[tokio::test]
async fn key_numbers_need_every_recent_year() {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    edit_csv(dir.path(), "befolkning-etter-kjonn-og-alder", |i, line| {
        let cells: Vec<&str> = line.split(';').collect();
        (i == 0 || !(cells[1] == "0101" && cells[0] == "2020")).then(|| line.to_string())
    });
    let err = run(
        &bucket,
        &fixture_event("folkemengde__nokkeltall").to_string(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("01/0101"), "{err}");
    assert!(files_below(&dir.path().join("intermediate")).is_empty());
}
