//! Ad-hoc SQL on a real cluster on loopback: the CLI's session through our scheduler and
//! executors gives what the embedded one gives, and our scheduler's Flight SQL service
//! answers a real Flight SQL client with the same tables, functions and numbers, read-only.

use std::time::Duration;

use arrow_flight::sql::client::FlightSqlServiceClient;
use datafusion::arrow::array::RecordBatch;
use futures::TryStreamExt;

use crate::common::{Cluster, free_port, ran_tasks, run_alone, start_cluster_with};

use bydelsfakta_cli::sql::output::{Format, render};
use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_scheduler_client::Engine;
use bydelsfakta_scheduler_client::sql::limits::SqlLimits;
use bydelsfakta_scheduler_client::sql::{SqlSession, StatementResult};
use bydelsfakta_tests::{bucket_copy, fixtures};

/// Joins two datasets, aggregates with a built-in and our UDAF, and calls our UDF.
const JOINED: &str = "\
SELECT f.bydel_id, f.aar, SUM(f.antall_fodte) AS fodte, SUM(d.antall_dode) AS dode,
       sum_nans(CAST(f.antall_fodte AS DOUBLE), f.bydel_id) AS fodte_sum_nans,
       ratio(SUM(f.antall_fodte), SUM(d.antall_dode)) AS per_death
  FROM fodte f JOIN dode d ON f.delbydel_id = d.delbydel_id AND f.aar = d.aar
 WHERE f.aar >= 2020
 GROUP BY f.bydel_id, f.aar
 ORDER BY f.bydel_id, f.aar";

/// One edition out of the editions table, with its partition columns.
const EDITION: &str = "\
SELECT edition, bydel_id, SUM(antall_boliger) AS boliger
  FROM kommunale_boliger__editions
 WHERE edition = '20240930T080933'
 GROUP BY edition, bydel_id
 ORDER BY bydel_id";

async fn csv(session: &SqlSession, sql: &str) -> String {
    let results = session
        .run(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    render(&results[0], Format::Csv).unwrap()
}

#[test]
fn the_same_queries_embedded_and_on_the_cluster() {
    run_alone(same_results());
}

/// The CLI's session over `bucket`, embedded: the results to compare against.
async fn embedded_session(bucket: &Bucket) -> SqlSession {
    let engine = Engine::embedded(bucket).await.unwrap();
    SqlSession::open(engine, bucket, SqlLimits::cli())
        .await
        .unwrap()
}

async fn same_results() {
    let (_dir, bucket) = bucket_copy(&fixtures().join("input"));
    let cluster = start_cluster_with(2, &[], &[]);
    let scheduler = format!("df://127.0.0.1:{}", cluster.scheduler_port);
    let remote = Engine::remote(&scheduler, &bucket, Duration::from_secs(10))
        .await
        .unwrap();
    let remote = SqlSession::open(remote, &bucket, SqlLimits::cli())
        .await
        .unwrap();
    let embedded = embedded_session(&bucket).await;
    for sql in [
        JOINED,
        EDITION,
        "SELECT count(*) FROM befolkning_etter_kjonn_og_alder",
    ] {
        let expected = csv(&embedded, sql).await;
        assert!(expected.lines().count() > 1, "{sql}: {expected}");
        assert_eq!(csv(&remote, sql).await, expected, "{sql}");
    }
    // Catalog queries are answered by the client's own session.
    assert_eq!(
        csv(&remote, "SHOW FUNCTIONS LIKE 'sum_nans'").await,
        csv(&embedded, "SHOW FUNCTIONS LIKE 'sum_nans'").await
    );
    assert!(
        cluster.work_dirs.iter().any(|d| ran_tasks(d.path())),
        "the executors ran the queries"
    );
}

#[test]
fn flight_sql_serves_the_same_tables_read_only() {
    run_alone(flight_sql());
}

async fn flight_sql_query(
    client: &mut FlightSqlServiceClient<tonic::transport::Channel>,
    sql: &str,
) -> Result<Vec<RecordBatch>, String> {
    let info = client
        .execute(sql.to_string(), None)
        .await
        .map_err(|e| e.to_string())?;
    let mut batches = vec![];
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.expect("every endpoint has a ticket");
        let stream = client.do_get(ticket).await.map_err(|e| e.to_string())?;
        batches.extend(
            stream
                .try_collect::<Vec<_>>()
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(batches)
}

/// The result's CSV lines below the header, sorted: partitions may come in any order.
fn sorted_rows(result: &StatementResult) -> Vec<String> {
    let text = render(result, Format::Csv).unwrap();
    let mut rows: Vec<String> = text.lines().skip(1).map(str::to_string).collect();
    rows.sort();
    rows
}

/// A cluster of `executors` whose scheduler serves Flight SQL over `dir`, on its port.
fn flight_sql_cluster(
    executors: usize,
    dir: &std::path::Path,
    env: &[(&str, String)],
    args: &[&str],
) -> (Cluster, u16) {
    let port = free_port();
    let mut env = env.to_vec();
    env.push(("BYDELSFAKTA_BUCKET", dir.display().to_string()));
    let port_arg = port.to_string();
    let mut args = args.to_vec();
    args.extend(["--flight-sql", "--flight-sql-port", &port_arg]);
    (start_cluster_with(executors, &env, &args), port)
}

/// A Flight SQL client of the service on loopback `port`, once it listens (within 60 s).
async fn flight_sql_client(port: u16) -> FlightSqlServiceClient<tonic::transport::Channel> {
    let endpoint =
        tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}")).unwrap();
    for _ in 0..600 {
        if let Ok(channel) = endpoint.connect().await {
            return FlightSqlServiceClient::new(channel);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("Flight SQL on port {port} did not listen");
}

async fn flight_sql() {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let (_cluster, port) = flight_sql_cluster(2, dir.path(), &[], &[]);
    let mut client = flight_sql_client(port).await;
    client.handshake("analyst", "").await.unwrap();

    let embedded = embedded_session(&bucket).await;
    for sql in [JOINED, EDITION] {
        let batches = flight_sql_query(&mut client, sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let got = StatementResult {
            schema: batches[0].schema(),
            batches,
        };
        let expected = &embedded.run(sql).await.unwrap()[0];
        assert!(expected.rows() > 1);
        assert_eq!(sorted_rows(&got), sorted_rows(expected), "{sql}");
        let names = |r: &StatementResult| -> Vec<String> {
            r.schema.fields().iter().map(|f| f.name().clone()).collect()
        };
        assert_eq!(names(&got), names(expected), "{sql}");
    }

    let listed = flight_sql_query(
        &mut client,
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .await
    .unwrap();
    let listed = StatementResult {
        schema: listed[0].schema(),
        batches: listed,
    };
    assert_eq!(sorted_rows(&listed), ["58"]);

    let outside = tempfile::tempdir().unwrap();
    for sql in [
        "CREATE VIEW v AS SELECT * FROM fodte".to_string(),
        "DROP TABLE fodte".into(),
        "CREATE SCHEMA s".into(),
        format!(
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{}/'",
            outside.path().display()
        ),
        "INSERT INTO fodte SELECT * FROM fodte".into(),
        format!("COPY fodte TO '{}/x.csv'", outside.path().display()),
        "CREATE TABLE t AS SELECT 1".into(),
    ] {
        let err = flight_sql_query(&mut client, &sql)
            .await
            .err()
            .unwrap_or_else(|| panic!("{sql} was not refused"));
        // DataFusion reports a table its catalog refuses to drop as one that does not
        // exist; the table stays (checked below).
        let dropped = sql.starts_with("DROP") && err.contains("doesn't exist");
        assert!(
            err.contains("read-only")
                || err.contains("does not support")
                || err.contains("Unable to find factory")
                || dropped,
            "{sql}: {err}"
        );
    }
    assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
    // The tables are all still there.
    let count = flight_sql_query(&mut client, "SELECT count(*) FROM fodte")
        .await
        .unwrap();
    assert_eq!(count.iter().map(RecordBatch::num_rows).sum::<usize>(), 1);
}

/// With credentials configured, Flight SQL lets in only clients that present them; a
/// statement too deep for the planner, too hungry or too long gets a clear error, and the
/// scheduler goes on answering (the README, "Flight SQL": **Credentials** and **Limits**).
#[test]
fn flight_sql_asks_for_credentials_and_holds_its_limits() {
    run_alone(flight_sql_limits());
}

async fn flight_sql_limits() {
    let (dir, _bucket) = bucket_copy(&fixtures().join("input"));
    let secrets = tempfile::tempdir().unwrap();
    let password_file = secrets.path().join("password");
    std::fs::write(&password_file, "s3cret\n").unwrap();
    let (_cluster, port) = flight_sql_cluster(
        1,
        dir.path(),
        &[
            ("BYDELSFAKTA_FLIGHT_SQL_USER", "analyst".into()),
            (
                "BYDELSFAKTA_FLIGHT_SQL_PASSWORD_FILE",
                password_file.display().to_string(),
            ),
            ("BYDELSFAKTA_FLIGHT_SQL_TOKEN", "tok3n".into()),
        ],
        &[
            "--flight-sql-timeout",
            "10",
            "--flight-sql-memory-limit",
            "256MB",
        ],
    );
    let count = "SELECT count(*) FROM fodte";

    // No handshake, a wrong password, a wrong token: refused.
    let mut client = flight_sql_client(port).await;
    let err = flight_sql_query(&mut client, count).await.unwrap_err();
    assert!(err.contains("missing bearer token"), "{err}");
    let err = client.handshake("analyst", "s3cre").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("wrong user name, password or token"),
        "{err}"
    );
    client.set_header("authorization", "Bearer tok3");
    assert!(client.handshake("", "").await.is_err());

    // The token, then the user and password: let in.
    let mut client = flight_sql_client(port).await;
    client.set_header("authorization", "Bearer tok3n");
    client.handshake("", "").await.unwrap();
    assert_eq!(row_count(&mut client, count).await, 1);
    let mut client = flight_sql_client(port).await;
    client.handshake("analyst", "s3cret").await.unwrap();

    let chain = |n: usize, op: &str| vec!["1"; n].join(op);
    for (sql, says) in [
        (
            format!("SELECT {}", chain(100_000, "+")),
            "statement refused: the statements hold 99999 operators",
        ),
        (
            vec!["SELECT 1"; 5_000].join(" UNION ALL "),
            "statement refused: the statements hold 4999 operators",
        ),
        (
            format!("SELECT 1 WHERE {}", vec!["1=1"; 20_000].join(" AND ")),
            "statement refused: the statements hold 39999 operators",
        ),
        (
            "SELECT length(repeat('x', 2000000000))".into(),
            "repeat() could make 2000000000 bytes",
        ),
        (
            "SELECT max(value) FROM generate_series(1, 100000000000)".into(),
            "statement stopped after 10 s (--flight-sql-timeout)",
        ),
    ] {
        let err = flight_sql_query(&mut client, &sql)
            .await
            .err()
            .unwrap_or_else(|| panic!("{} was answered", &sql[..40]));
        assert!(err.contains(says), "{}: {err}", &sql[..40]);
        // The scheduler still answers. Its one executor has one task slot (`--vcores 1`):
        // had the stopped statement's job not been cancelled, this would wait behind it
        // and time out too.
        assert_eq!(row_count(&mut client, count).await, 1);
    }
}

async fn row_count(
    client: &mut FlightSqlServiceClient<tonic::transport::Channel>,
    sql: &str,
) -> usize {
    let batches = flight_sql_query(client, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// Flight SQL follows the bucket while the scheduler runs (README "Flight SQL"): with
/// `--flight-sql-refresh 1`, on a client's connection of before, a new edition becomes
/// the table and joins the editions table; a bad edition is refused with its object and
/// line while the other tables answer, and mended, it answers; a refresh whose read of the
/// new object hangs is given up at the local call limit (2 s here, against a hang of 600 s)
/// and the next one reads it. `/metrics` counts the refreshes and the unavailable tables.
#[test]
fn flight_sql_follows_the_bucket() {
    run_alone(follows_the_bucket());
}

async fn follows_the_bucket() {
    use bydelsfakta_tests::land_edition;
    use bydelsfakta_tests::metrics::Metrics;

    let (dir, _bucket) = bucket_copy(&fixtures().join("input"));
    let hung = "20990101T000000";
    // Only the first process to read the hung edition's object (the scheduler, which reads
    // it before any table points there) holds the read.
    let once = dir.path().join("hang-once");
    let (cluster, port) = flight_sql_cluster(
        1,
        dir.path(),
        &[
            ("BYDELSFAKTA_LOCAL_CALL_TIMEOUT", "2".into()),
            (
                "BYDELSFAKTA_FAULTS",
                format!(
                    "path=edition={hung},get#1=delay:600000,once={}",
                    once.display()
                ),
            ),
        ],
        &["--flight-sql-refresh", "1"],
    );
    let mut client = flight_sql_client(port).await;
    client.handshake("analyst", "").await.unwrap();
    let count = "SELECT count(*) AS n FROM fodte";
    let editions = "SELECT count(DISTINCT edition) AS n FROM fodte__editions";
    assert_eq!(number(&mut client, editions).await, Ok(1));
    let text = std::fs::read_to_string(bydelsfakta_tests::input_csv(dir.path(), "fodte")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let head = |n: usize| lines[..n].join("\n") + "\n";
    assert!(number(&mut client, count).await.unwrap() > 10);

    land_edition(dir.path(), "fodte", "20250101T000000", &head(6));
    let answered = until(&mut client, count, |n| n == &Ok(5)).await;
    assert!(
        answered.iter().all(|n| n.is_ok()),
        "a refresh never leaves a table without an answer: {answered:?}"
    );
    assert_eq!(number(&mut client, editions).await, Ok(2));

    // A bad row: refused with its object and line; the other tables answer.
    let why = bydelsfakta_tests::land_bad_edition(dir.path(), "fodte", "20250201T000000", &text, 5);
    let why = format!("table 'fodte' is not available: {why}");
    until(&mut client, count, |n| {
        n.as_ref().is_err_and(|e| e.contains(&why))
    })
    .await;
    assert!(
        number(&mut client, "SELECT count(*) FROM dode")
            .await
            .unwrap()
            > 10
    );
    let scrape = Metrics::scrape(cluster.scheduler_port);
    assert_eq!(
        scrape.labelled("bydelsfakta_sql_tables", "state", "unavailable"),
        2.0
    );
    assert_eq!(
        scrape.labelled("bydelsfakta_sql_tables", "state", "available"),
        56.0
    );
    land_edition(dir.path(), "fodte", "20250201T000000", &head(4));
    until(&mut client, count, |n| n == &Ok(3)).await;

    // The read of a new edition hangs: that refresh gives it up within the local call
    // limit, and a later one reads it (the hang alone would outlast this test).
    land_edition(dir.path(), "fodte", hung, &head(3));
    until(&mut client, count, |n| n == &Ok(2)).await;
    assert!(once.exists(), "the scheduler held a read");
    assert_eq!(number(&mut client, editions).await, Ok(4));
    let scrape = Metrics::scrape(cluster.scheduler_port);
    assert_eq!(
        scrape.labelled("bydelsfakta_sql_tables", "state", "unavailable"),
        0.0
    );
    assert!(scrape.labelled("bydelsfakta_sql_table_refreshes_total", "outcome", "ok") >= 4.0);
}

/// The one number a statement answers, or its error.
async fn number(
    client: &mut FlightSqlServiceClient<tonic::transport::Channel>,
    sql: &str,
) -> Result<i64, String> {
    use datafusion::arrow::array::{Array, Int64Array};
    let batches = flight_sql_query(client, sql).await?;
    let values: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            let column = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            (0..column.len())
                .map(|i| column.value(i))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(values.len(), 1, "{sql}: {values:?}");
    Ok(values[0])
}

/// Asks `sql` every 200 ms until its answer is `wanted` (within 60 s); every answer
/// before it, in order.
async fn until(
    client: &mut FlightSqlServiceClient<tonic::transport::Channel>,
    sql: &str,
    wanted: impl Fn(&Result<i64, String>) -> bool,
) -> Vec<Result<i64, String>> {
    let mut answers = vec![];
    for _ in 0..300 {
        let answer = number(client, sql).await;
        if wanted(&answer) {
            return answers;
        }
        answers.push(answer);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{sql}: not answered as wanted within 60 s: {answers:?}");
}
