//! Edge cases on inputs the original never saw (`tests/fixtures/README.md`, "The input
//! data"), each held to its function's page in `docs/functions/`: duplicated rows in eieform,
//! ties at landbakgrunn's top-10 cut, deaths missing in a year or for one sub-district. Each
//! expectation is computed here from the edited CSV, not taken from our own output.

use std::collections::HashMap;
use std::path::Path;

use bydelsfakta_tests::{
    bucket_copy, compare_folders, edit_csv, fixture_event, fixtures, input_csv, run,
};
use serde_json::Value;

fn document(bucket_dir: &Path, output_prefix: &str, id: &str) -> Value {
    let path = bucket_dir.join(output_prefix).join(format!("{id}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("document")).expect("JSON")
}

// eieform step 3: `drop_duplicates()`; a row repeated in the file changes nothing.
#[tokio::test]
async fn duplicated_eieform_rows_collapse_to_the_first() {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    edit_csv(dir.path(), "eieform", |i, line| {
        Some(if i == 3 || i == 40 {
            format!("{line}\n{line}")
        } else {
            line.to_string()
        })
    });
    for ty in ["status", "historisk"] {
        let outcome = run(
            &bucket,
            &fixture_event(&format!("eieform__{ty}")).to_string(),
        )
        .await
        .unwrap();
        let expected = fixtures().join(format!("expected/eieform/{ty}"));
        compare_folders(&expected, &dir.path().join(&outcome.output_prefix))
            .unwrap_or_else(|e| panic!("eieform {ty}: {e}"));
    }
}

/// Countries of district `id` at its latest year with their totals, in file order.
fn countries_at_latest_year(bucket_dir: &Path, id: &str) -> Vec<(String, i64)> {
    let text = std::fs::read_to_string(input_csv(
        bucket_dir,
        "landbakgrunn-storste-innvandringsgrupper",
    ))
    .unwrap();
    let rows: Vec<Vec<String>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(';').map(String::from).collect())
        .filter(|cells: &Vec<String>| cells[1] == id)
        .collect();
    let latest = rows.iter().map(|r| r[0].clone()).max().unwrap();
    rows.iter()
        .filter(|r| r[0] == latest)
        .map(|r| {
            let n = |s: &str| s.parse::<i64>().unwrap_or(0);
            (r[3].clone(), n(&r[4]) + n(&r[5]))
        })
        .collect()
}

/// pandas' `nlargest(10, "total")`: descending, ties in row order.
fn top_ten(countries: &[(String, i64)]) -> Vec<String> {
    let mut ranked: Vec<&(String, i64)> = countries.iter().collect();
    ranked.sort_by_key(|c| std::cmp::Reverse(c.1));
    ranked.iter().take(10).map(|(c, _)| c.clone()).collect()
}

// landbakgrunn: two countries tied at the 10th place; the one earlier in the file stays.
#[tokio::test]
async fn a_tie_at_the_top_ten_cut_keeps_the_earlier_row() {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let before = countries_at_latest_year(dir.path(), "01");
    let ranked = top_ten(&before);
    let tenth = ranked[9].clone();
    let tenth_total = before.iter().find(|(c, _)| *c == tenth).unwrap().1;
    let position = |name: &str| before.iter().position(|(c, _)| c == name).unwrap();
    // Out of the top ten, the country that comes first in the file: give it the tenth's
    // total (all as immigrants), so that it must take the tenth place.
    let challenger = before
        .iter()
        .filter(|(c, _)| !ranked.contains(c) && position(c) < position(&tenth))
        .map(|(c, _)| c.clone())
        .next()
        .expect("a country outside the top ten before the tenth in the file");
    let latest = {
        let text = std::fs::read_to_string(input_csv(
            dir.path(),
            "landbakgrunn-storste-innvandringsgrupper",
        ))
        .unwrap();
        text.lines()
            .skip(1)
            .map(|l| l.split(';').next().unwrap().to_string())
            .max()
            .unwrap()
    };
    edit_csv(
        dir.path(),
        "landbakgrunn-storste-innvandringsgrupper",
        |_, line| {
            let cells: Vec<&str> = line.split(';').collect();
            if cells[0] == latest && cells[1] == "01" && cells[3] == challenger {
                Some(format!(
                    "{};{};{};{};{tenth_total};0",
                    cells[0], cells[1], cells[2], cells[3]
                ))
            } else {
                Some(line.to_string())
            }
        },
    );
    let after = countries_at_latest_year(dir.path(), "01");
    let expected = top_ten(&after);
    assert!(expected.contains(&challenger) && !expected.contains(&tenth));

    for ty in ["status", "historisk"] {
        let event = fixture_event(&format!("landbakgrunn_innvandringsgrupper__{ty}"));
        let outcome = run(&bucket, &event.to_string()).await.unwrap();
        let doc = document(dir.path(), &outcome.output_prefix, "01");
        let countries: Vec<String> = doc["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["geography"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(countries, expected, "{ty}");
    }
}

/// The history entries of sub-district or district `id` in a befolkningsutvikling document.
fn history<'a>(doc: &'a Value, id: &str) -> &'a Vec<Value> {
    let entry = doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("entry {id}"));
    entry["values"][0].as_array().unwrap()
}

fn population_by_year(bucket_dir: &Path, sub_district: &str) -> HashMap<i64, i64> {
    let text =
        std::fs::read_to_string(input_csv(bucket_dir, "befolkning-etter-kjonn-og-alder")).unwrap();
    let mut population = HashMap::new();
    for line in text.lines().skip(1) {
        let cells: Vec<&str> = line.split(';').collect();
        if cells[1] == sub_district {
            let sum: i64 = cells[6..].iter().map(|c| c.parse::<i64>().unwrap()).sum();
            *population.entry(cells[0].parse().unwrap()).or_insert(0) += sum;
        }
    }
    population
}

// docs/functions/befolkningsutvkl_forv_utvkl.md step 1 (and "Kept on purpose"): a year
// missing from the deaths disappears from every geography, and the next year's change
// (step 2) is over the year before the gap.
#[tokio::test]
async fn a_year_without_deaths_disappears_everywhere() {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    edit_csv(dir.path(), "dode", |i, line| {
        (i == 0 || !line.starts_with("2012;")).then(|| line.to_string())
    });
    let event = fixture_event("befolkningsutvkl_forv_utvkl__historisk");
    let outcome = run(&bucket, &event.to_string()).await.unwrap();
    let doc = document(dir.path(), &outcome.output_prefix, "01");
    for id in ["0101", "01"] {
        let dates: Vec<i64> = history(&doc, id)
            .iter()
            .map(|v| v["date"].as_i64().unwrap())
            .collect();
        assert!(!dates.contains(&2012) && dates.contains(&2011) && dates.contains(&2013));
    }
    let population = population_by_year(dir.path(), "0101");
    let y2013 = history(&doc, "0101")
        .iter()
        .find(|v| v["date"] == 2013)
        .unwrap();
    assert_eq!(
        y2013["change"].as_f64().unwrap(),
        population[&2013] as f64 / population[&2011] as f64 - 1.0
    );
}

// docs/functions/befolkningsutvkl_forv_utvkl.md step 6 (outer merge): one sub-district
// without deaths in one year keeps its row without the key, and its district's deaths are
// the others' sum (step 3).
#[tokio::test]
async fn deaths_missing_for_one_sub_district_leave_out_the_key() {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    edit_csv(dir.path(), "dode", |i, line| {
        (i == 0 || !line.starts_with("2015;01;Bydel Gamle Oslo;0101;")).then(|| line.to_string())
    });
    let text = std::fs::read_to_string(input_csv(dir.path(), "dode")).unwrap();
    let district_deaths: i64 = text
        .lines()
        .skip(1)
        .map(|l| l.split(';').collect::<Vec<_>>())
        .filter(|c| c[0] == "2015" && c[1] == "01" && !c[3].is_empty())
        .map(|c| c[5].parse::<i64>().unwrap())
        .sum();
    let event = fixture_event("befolkningsutvkl_forv_utvkl__historisk");
    let outcome = run(&bucket, &event.to_string()).await.unwrap();
    let doc = document(dir.path(), &outcome.output_prefix, "01");
    let in_2015 = |id: &str| {
        history(&doc, id)
            .iter()
            .find(|v| v["date"] == 2015)
            .cloned()
            .unwrap()
    };
    let sub_district = in_2015("0101");
    assert!(sub_district.get("deaths").is_none(), "{sub_district}");
    assert!(sub_district["births"].is_i64() && sub_district["population"].is_i64());
    assert_eq!(in_2015("01")["deaths"].as_i64().unwrap(), district_deaths);
}
