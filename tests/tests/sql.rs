//! Ad-hoc SQL over the sample bucket, embedded: the numbers against sums computed here from
//! the CSV files, table naming and typing, editions, and the read-only guard.

use std::collections::BTreeMap;
use std::path::Path;

use bydelsfakta_cli::sql::output::{Format, render};
use bydelsfakta_scheduler_client::Engine;
use bydelsfakta_scheduler_client::sql::limits::SqlLimits;
use bydelsfakta_scheduler_client::sql::{SqlError, SqlSession};
use bydelsfakta_tests::{
    bucket_copy, csv_table, edit_csv, fixtures, input_csv, land_bad_edition, land_edition,
};
use datafusion::arrow::datatypes::DataType;

async fn session(bucket_dir: &Path) -> SqlSession {
    let bucket =
        bydelsfakta_queries::bucket::Bucket::parse(&format!("file://{}", bucket_dir.display()))
            .unwrap();
    let engine = Engine::embedded(&bucket).await.unwrap();
    SqlSession::open(engine, &bucket, SqlLimits::cli())
        .await
        .unwrap()
}

/// The rows of one statement's result, as CSV cells.
async fn query(session: &SqlSession, sql: &str) -> Vec<Vec<String>> {
    let results = session
        .run(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(results.len(), 1);
    render(&results[0], Format::Csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| line.split(',').map(str::to_string).collect())
        .collect()
}

fn column(header: &[String], name: &str) -> usize {
    header.iter().position(|c| c == name).unwrap()
}

// pandas' missing spellings are NULL in SQL too; DataFusion's CSV reader alone would fail
// on `NA` in a number column.
#[tokio::test]
async fn pandas_missing_spellings_are_null() {
    let (dir, _) = bucket_copy(&fixtures().join("input"));
    edit_csv(dir.path(), "fodte", |i, line| {
        let mut cells: Vec<String> = line.split(';').map(String::from).collect();
        let last = cells.len() - 1;
        match i {
            1 => cells[last] = "NA".into(),
            2 => cells[last] = "n/a".into(),
            _ => {}
        }
        Some(cells.join(";"))
    });
    let session = session(dir.path()).await;
    let counted = query(
        &session,
        "SELECT COUNT(*) - COUNT(antall_fodte), arrow_typeof(MAX(antall_fodte)) FROM fodte",
    )
    .await;
    assert_eq!(counted, [["2".to_string(), "Int64".to_string()]]);
    let editions = query(
        &session,
        "SELECT COUNT(*) - COUNT(antall_fodte) FROM fodte__editions",
    )
    .await;
    assert_eq!(editions, [["2".to_string()]]);
}

#[tokio::test]
async fn yearly_births_are_the_sums_of_the_file() {
    let (dir, _) = bucket_copy(&fixtures().join("input"));
    let (header, rows) = csv_table(&input_csv(dir.path(), "fodte"));
    let (aar, count) = (column(&header, "aar"), column(&header, "antall_fodte"));
    let mut expected: BTreeMap<i64, i64> = BTreeMap::new();
    for row in &rows {
        *expected.entry(row[aar].parse().unwrap()).or_default() +=
            row[count].parse::<i64>().unwrap();
    }

    let session = session(dir.path()).await;
    let got: BTreeMap<i64, i64> = query(
        &session,
        "SELECT aar, SUM(antall_fodte) FROM fodte GROUP BY aar ORDER BY aar",
    )
    .await
    .iter()
    .map(|r| (r[0].parse().unwrap(), r[1].parse().unwrap()))
    .collect();
    assert_eq!(got, expected);
    assert_eq!(got.len(), 16);
}

// The sessions that plan our functions leave out the optimizer rules that rewrite
// subqueries (none of our plans has one); SQL has every rule.
#[tokio::test]
async fn subqueries_run() {
    let (dir, _) = bucket_copy(&fixtures().join("input"));
    let (header, rows) = csv_table(&input_csv(dir.path(), "fodte"));
    let (aar, count) = (column(&header, "aar"), column(&header, "antall_fodte"));
    let years: Vec<i64> = rows.iter().map(|r| r[aar].parse().unwrap()).collect();
    let latest = *years.iter().max().unwrap();
    let counts: Vec<i64> = rows.iter().map(|r| r[count].parse().unwrap()).collect();
    let in_latest: i64 = (years.iter().zip(&counts))
        .filter(|(year, _)| **year == latest)
        .map(|(_, n)| n)
        .sum();
    let mean = counts.iter().sum::<i64>() as f64 / counts.len() as f64;
    let above_mean = counts.iter().filter(|n| **n as f64 > mean).count();

    let session = session(dir.path()).await;
    let got = query(
        &session,
        "SELECT SUM(antall_fodte) FROM fodte WHERE aar IN (SELECT MAX(aar) FROM fodte)",
    )
    .await;
    assert_eq!(got, [[in_latest.to_string()]]);
    let got = query(
        &session,
        "SELECT COUNT(*) FROM fodte WHERE antall_fodte > (SELECT AVG(antall_fodte) FROM fodte)",
    )
    .await;
    assert_eq!(got, [[above_mean.to_string()]]);
}

#[tokio::test]
async fn population_per_district_with_our_row_sum_matches_the_file() {
    let (dir, _) = bucket_copy(&fixtures().join("input"));
    let (header, rows) = csv_table(&input_csv(dir.path(), "befolkning-etter-kjonn-og-alder"));
    let (aar, bydel) = (column(&header, "aar"), column(&header, "bydel_id"));
    let ages: Vec<usize> = (0..=120).map(|a| column(&header, &a.to_string())).collect();
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for row in rows.iter().filter(|r| r[aar] == "2024") {
        let people: i64 = ages.iter().map(|&i| row[i].parse::<i64>().unwrap()).sum();
        *expected.entry(row[bydel].clone()).or_default() += people;
    }

    let columns: Vec<String> = (0..=120).map(|a| format!("\"{a}\"")).collect();
    let sql = format!(
        "SELECT bydel_id, SUM(row_sum({})) FROM befolkning_etter_kjonn_og_alder \
         WHERE aar = 2024 GROUP BY bydel_id ORDER BY bydel_id",
        columns.join(", ")
    );
    let session = session(dir.path()).await;
    let got: BTreeMap<String, i64> = query(&session, &sql)
        .await
        .iter()
        .map(|r| (r[0].clone(), r[1].parse::<f64>().unwrap() as i64))
        .collect();
    assert_eq!(got, expected);
    // District ids keep their leading zero.
    assert!(got.contains_key("01"), "{got:?}");
}

#[tokio::test]
async fn float_sums_with_our_sum_nans_match_the_file() {
    let (dir, _) = bucket_copy(&fixtures().join("input"));
    let (header, rows) = csv_table(&input_csv(dir.path(), "husholdninger-med-barn"));
    let (aar, bydel, value) = (
        column(&header, "aar"),
        column(&header, "bydel_id"),
        column(&header, "ett_barn_i_hh"),
    );
    let mut expected: BTreeMap<String, f64> = BTreeMap::new();
    for row in rows.iter().filter(|r| r[aar] == "2020") {
        *expected.entry(row[bydel].clone()).or_default() += row[value].parse::<f64>().unwrap();
    }
    let session = session(dir.path()).await;
    let got = query(
        &session,
        "SELECT bydel_id, sum_nans(ett_barn_i_hh, bydel_id) FROM husholdninger_med_barn \
         WHERE aar = 2020 GROUP BY bydel_id ORDER BY bydel_id",
    )
    .await;
    assert_eq!(got.len(), expected.len());
    for row in got {
        let want = expected[&row[0]];
        let have: f64 = row[1].parse().unwrap();
        assert!((want - have).abs() <= 1e-9 * want.abs(), "{row:?}: {want}");
    }
}

#[tokio::test]
async fn every_dataset_is_a_table_and_an_editions_table_with_typed_ids() {
    let (dir, _) = bucket_copy(&fixtures().join("input"));
    let session = session(dir.path()).await;
    let set = session.tables();
    assert!(set.unavailable.is_empty(), "{:?}", set.unavailable);
    let names: Vec<&str> = set.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.len(), 2 * 29, "{names:?}");
    for name in [
        "befolkning_etter_kjonn_og_alder",
        "befolkning_etter_kjonn_og_alder__editions",
        "innvandrer_befolkningen_0_15_ar",
        "fodte",
    ] {
        assert!(names.contains(&name), "{name}: {names:?}");
    }

    let fodte = session.table("fodte").unwrap().schema();
    let types: Vec<(&str, &DataType)> = fodte
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type()))
        .collect();
    // The file's column order, the catalog's kinds.
    assert_eq!(
        types,
        [
            ("aar", &DataType::Int64),
            ("bydel_id", &DataType::Utf8),
            ("bydel_navn", &DataType::Utf8),
            ("delbydel_id", &DataType::Utf8),
            ("delbydel_navn", &DataType::Utf8),
            ("antall_fodte", &DataType::Int64),
        ]
    );
    let rows = query(
        &session,
        "SELECT delbydel_id, bydel_id, length(delbydel_id) FROM fodte \
         WHERE delbydel_id = '0101' AND aar = 2008",
    )
    .await;
    assert_eq!(rows, [["0101", "01", "4"]]);
    // Ids of a dataset the catalog does not know stay strings too, and columns the catalog
    // does not list are inferred.
    let trangbodde = session.table("trangbodde").unwrap().schema();
    assert_eq!(
        trangbodde.field_with_name("bydel_id").unwrap().data_type(),
        &DataType::Utf8
    );
    assert_eq!(
        trangbodde
            .field_with_name("antall_husholdninger")
            .unwrap()
            .data_type(),
        &DataType::Int64
    );

    // Reading `information_schema` lists the same tables.
    let listed = query(
        &session,
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .await;
    assert_eq!(listed, [["58"]]);
}

/// A second, newer edition of `fodte` whose counts are doubled, one of them a decimal.
fn add_newer_edition(bucket_dir: &Path) -> &'static str {
    let old = input_csv(bucket_dir, "fodte");
    let (header, rows) = csv_table(&old);
    let count = column(&header, "antall_fodte");
    let mut text = header.join(";") + "\n";
    for (i, row) in rows.iter().enumerate() {
        let mut row = row.clone();
        let doubled = 2 * row[count].parse::<i64>().unwrap();
        row[count] = if i == 0 {
            format!("{doubled}.5")
        } else {
            doubled.to_string()
        };
        text += &(row.join(";") + "\n");
    }
    let edition = "20991231T000000";
    let folder = bucket_dir.join(format!("processed/green/fodte/version=1/edition={edition}"));
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("fodte.csv"), text).unwrap();
    edition
}

#[tokio::test]
async fn the_latest_edition_by_default_and_any_edition_by_its_column() {
    let (dir, _) = bucket_copy(&fixtures().join("input"));
    let (header, rows) = csv_table(&input_csv(dir.path(), "fodte"));
    let total: i64 = rows
        .iter()
        .map(|r| r[column(&header, "antall_fodte")].parse::<i64>().unwrap())
        .sum();
    let newest = add_newer_edition(dir.path());
    let session = session(dir.path()).await;

    let latest = query(&session, "SELECT SUM(antall_fodte) FROM fodte").await;
    assert_eq!(latest, [[format!("{}.5", 2 * total)]]);
    let table = session.table("fodte").unwrap();
    assert_eq!(table.editions, format!("version=1/edition={newest}"));

    let per_edition = query(
        &session,
        "SELECT version, edition, SUM(antall_fodte) FROM fodte__editions \
         GROUP BY version, edition ORDER BY edition",
    )
    .await;
    assert_eq!(
        per_edition,
        [
            [
                "1".to_string(),
                "20241215T063308".into(),
                format!("{total}.0")
            ],
            ["1".to_string(), newest.into(), format!("{}.5", 2 * total)],
        ]
    );
    let one = query(
        &session,
        "SELECT SUM(antall_fodte) FROM fodte__editions WHERE edition = '20241215T063308'",
    )
    .await;
    assert_eq!(one, [[format!("{total}.0")]]);
}

#[tokio::test]
async fn statements_that_write_create_drop_or_set_are_refused() {
    let (dir, _) = bucket_copy(&fixtures().join("input"));
    let outside = tempfile::tempdir().unwrap();
    let session = session(dir.path()).await;
    let target = outside.path().join("x.csv").display().to_string();
    for sql in [
        format!("CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{target}'"),
        "CREATE TABLE t AS SELECT 1".into(),
        "CREATE VIEW v AS SELECT * FROM fodte".into(),
        "CREATE SCHEMA s".into(),
        "CREATE DATABASE d".into(),
        "DROP TABLE fodte".into(),
        "DROP VIEW fodte".into(),
        "INSERT INTO fodte SELECT * FROM fodte".into(),
        "DELETE FROM fodte".into(),
        "UPDATE fodte SET aar = 1".into(),
        format!("COPY fodte TO '{target}'"),
        format!("COPY (SELECT 1) TO '{target}' STORED AS CSV"),
        format!("EXPLAIN COPY fodte TO '{target}'"),
        "SET datafusion.execution.batch_size = 1".into(),
        "RESET datafusion.execution.batch_size".into(),
        "PREPARE p AS SELECT 1".into(),
        "EXECUTE p".into(),
        "DEALLOCATE p".into(),
        // The refusal stops the whole run, the read before it included.
        "SELECT 1; DROP TABLE fodte".into(),
    ] {
        match session.run(&sql).await {
            Err(SqlError::ReadOnly(message)) => {
                assert!(message.starts_with("read-only"), "{sql}: {message}")
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
    assert!(
        std::fs::read_dir(outside.path()).unwrap().next().is_none(),
        "nothing written"
    );
    assert_eq!(query(&session, "SELECT count(*) FROM fodte").await.len(), 1);

    // Files outside the bucket are not tables.
    let err = session
        .run("SELECT * FROM '/etc/hostname'")
        .await
        .unwrap_err();
    assert!(
        matches!(err, SqlError::DataFusion(_)) && err.to_string().contains("not found"),
        "{err}"
    );
}

#[tokio::test]
async fn malformed_queries_give_datafusions_message() {
    let (dir, _) = bucket_copy(&fixtures().join("input"));
    let session = session(dir.path()).await;
    for (sql, message) in [
        (
            "SELEC 1",
            "syntax error: sql parser error: Expected: an SQL statement",
        ),
        ("SELECT nope FROM fodte", "No field named nope"),
        (
            "SELECT * FROM no_such_table",
            "table 'datafusion.public.no_such_table' not found",
        ),
        ("SELECT sum_nans(antall_fodte) FROM fodte", "sum_nans"),
        ("", "no SQL statement"),
    ] {
        let err = session.run(sql).await.unwrap_err().to_string();
        assert!(err.contains(message), "{sql}: {err}");
    }
}

#[tokio::test]
async fn show_functions_lists_ours_and_they_run() {
    let (dir, _) = bucket_copy(&fixtures().join("input"));
    let session = session(dir.path()).await;
    let listed = query(
        &session,
        "SELECT routine_name, function_type FROM information_schema.routines \
         WHERE routine_name IN ('ratio', 'row_sum', 'ensure', 'required', 'round_half_even', \
         'sum_nans') ORDER BY routine_name",
    )
    .await;
    assert_eq!(
        listed,
        [
            ["ensure", "SCALAR"],
            ["ratio", "SCALAR"],
            ["required", "SCALAR"],
            ["round_half_even", "SCALAR"],
            ["row_sum", "SCALAR"],
            ["sum_nans", "AGGREGATE"],
        ]
    );
    // SHOW FUNCTIONS shows the functions with fixed parameters (not the variadic row_sum).
    for name in ["ratio", "sum_nans", "round_half_even"] {
        let rows = query(&session, &format!("SHOW FUNCTIONS LIKE '{name}'")).await;
        assert!(
            rows.iter()
                .any(|r| r.first().is_some_and(|cell| cell == name)),
            "{name}: {rows:?}"
        );
    }
    let rows = query(&session, "SELECT ratio(1, 4), round_half_even(2.5, 0)").await;
    assert_eq!(rows, [["0.25", "2.0"]]);
}

/// A bad row makes its dataset's tables unavailable, and a statement that names one is
/// told why, with the object and line, alike embedded and on Ballista standalone; the
/// other datasets answer.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_whose_objects_cannot_be_read_says_why() {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    edit_csv(dir.path(), "dode", |i, line| {
        Some(if i == 3 {
            format!("{line};1;2")
        } else {
            line.into()
        })
    });
    let key = input_csv(dir.path(), "dode");
    let key = key.strip_prefix(dir.path()).unwrap().display().to_string();
    let fields = csv_table(&input_csv(dir.path(), "dode")).0.len();
    let why = format!(
        "input dode ({key}), line 4: {fields} fields expected, {} found (a field missing or too many, or an unbalanced quote)",
        fields + 2
    );
    let standalone = Engine::ballista_standalone(&bucket).await.unwrap();
    let standalone = SqlSession::open(standalone, &bucket, SqlLimits::cli())
        .await
        .unwrap();
    for session in [session(dir.path()).await, standalone] {
        refuses_dode(&session, &why).await;
    }
}

async fn refuses_dode(session: &SqlSession, why: &str) {
    for table in ["dode", "dode__editions"] {
        let Err(SqlError::DataFusion(e)) = session.run(&format!("SELECT * FROM {table}")).await
        else {
            panic!("{table} was answered");
        };
        assert_eq!(
            e.strip_backtrace(),
            format!("Error during planning: table '{table}' is not available: {why}")
        );
        let Err(SqlError::Unavailable(said)) = session.table(table) else {
            panic!("{table} is described");
        };
        assert_eq!(said, format!("table '{table}' is not available: {why}"));
    }
    assert_eq!(
        query(session, "SELECT count(*) > 0 FROM fodte").await,
        [["true"]]
    );
    let set = session.tables();
    assert_eq!(set.tables.len(), 2 * 28);
    assert_eq!(set.unavailable.len(), 2);
}

/// Found again, the tables follow the bucket (as the scheduler finds them at an interval):
/// a new edition becomes the latest table and joins the editions table, reading only the
/// new object; a bad edition, or one the store fails to read, makes the dataset's tables
/// unavailable with the reason until a later round reads it; a bucket that cannot be
/// listed keeps the tables found before.
#[tokio::test]
async fn tables_found_again_follow_the_bucket() {
    use bydelsfakta_scheduler_client::sql::bucket_tables::BucketTables;
    use bydelsfakta_scheduler_client::stores::faults::{Faults, FaultyStore, Operation};

    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let runtime = bydelsfakta_scheduler_client::stores::runtime_for(&bucket).unwrap();
    let plain = runtime.object_store(bucket.store_url()).unwrap();
    let serve_with_faults = |faults: &str| {
        let faulty = FaultyStore::new(plain.clone(), Faults::parse(faults).unwrap());
        runtime.register_object_store(bucket.store_url().as_ref(), std::sync::Arc::new(faulty));
    };
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_default_features()
        .with_runtime_env(runtime.clone())
        .build();
    let tables = BucketTables::find(state, bucket.clone()).await.unwrap();
    let editions = |name: &str| {
        let set = tables.current();
        match (set.table(name), set.unavailable(name)) {
            (Some(table), None) => table.editions.clone(),
            (None, Some(unavailable)) => format!("unavailable: {}", unavailable.reason),
            other => panic!("{name}: {other:?}"),
        }
    };
    assert_eq!(editions("fodte"), "version=1/edition=20241215T063308");
    assert_eq!(
        tables.refresh().await.unwrap(),
        0,
        "nothing changed, nothing read"
    );

    let text = std::fs::read_to_string(input_csv(dir.path(), "fodte")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let head = |n: usize| lines[..n].join("\n") + "\n";
    land_edition(dir.path(), "fodte", "20250101T000000", &head(6));
    assert_eq!(tables.refresh().await.unwrap(), 1);
    assert_eq!(editions("fodte"), "version=1/edition=20250101T000000");
    assert_eq!(editions("fodte__editions"), "2 editions");

    // A bad row: refused with its line, the other datasets as they were.
    let why = land_bad_edition(dir.path(), "fodte", "20250201T000000", &text, 5);
    assert_eq!(tables.refresh().await.unwrap(), 1);
    let why = format!("unavailable: {why}");
    assert_eq!(editions("fodte"), why);
    assert_eq!(editions("fodte__editions"), why);
    assert_eq!(editions("dode"), "version=1/edition=20240628T173629");
    // Mended in place: read again, as a changed object.
    land_edition(dir.path(), "fodte", "20250201T000000", &head(5));
    assert_eq!(tables.refresh().await.unwrap(), 1);
    assert_eq!(editions("fodte"), "version=1/edition=20250201T000000");
    assert_eq!(editions("fodte__editions"), "3 editions");

    // The store fails the new object's read: unavailable, naming it, until it is read.
    serve_with_faults("path=edition=20250301T000000,get#1=fail");
    let landed = land_edition(dir.path(), "fodte", "20250301T000000", &head(3));
    let key = landed
        .strip_prefix(dir.path())
        .unwrap()
        .display()
        .to_string();
    assert_eq!(tables.refresh().await.unwrap(), 1);
    let said = editions("fodte");
    assert!(
        said.starts_with(&format!(
            "unavailable: input fodte ({key}): cannot be read: Generic FaultyStore error: injected get failure"
        )),
        "{said}"
    );
    assert_eq!(tables.refresh().await.unwrap(), 1);
    assert_eq!(editions("fodte"), "version=1/edition=20250301T000000");
    assert_eq!(editions("fodte__editions"), "4 editions");

    // Every listing fails: the refresh fails, and the tables found before stay.
    let before = tables.current();
    let lists: Vec<String> = (1..=200).map(|n| format!("list#{n}=fail")).collect();
    serve_with_faults(&lists.join(","));
    land_edition(dir.path(), "fodte", "20250401T000000", &head(2));
    assert!(tables.refresh().await.is_err());
    assert!(std::sync::Arc::ptr_eq(&before, &tables.current()));
    // The store answers again: the edition is read.
    serve_with_faults("");
    assert_eq!(tables.refresh().await.unwrap(), 1);
    assert_eq!(editions("fodte"), "version=1/edition=20250401T000000");

    // One listing of `processed/` gives every edition's objects, five of `fodte` among them.
    let counting = std::sync::Arc::new(FaultyStore::new(plain.clone(), Faults::default()));
    runtime.register_object_store(bucket.store_url().as_ref(), counting.clone());
    assert_eq!(tables.refresh().await.unwrap(), 0);
    assert_eq!(editions("fodte__editions"), "5 editions");
    let calls = counting.calls();
    assert_eq!(calls.get(&Operation::List), Some(&1), "{calls:?}");
    assert_eq!(calls.get(&Operation::Get), None, "{calls:?}");
}
