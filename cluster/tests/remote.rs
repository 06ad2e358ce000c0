//! A real cluster on loopback: our scheduler and two executor processes, started from the
//! binaries this crate builds, and a client that only plans and submits.

use std::time::{Duration, Instant};

use crate::common::{
    assert_executors_ran_tasks, free_port, run_alone, start_cluster, workspace_binary,
};

use bydelsfakta_scheduler_client::engine::EngineKind;
use bydelsfakta_scheduler_client::{Engine, plan_event, run_planned};
use bydelsfakta_tests::bad_input::{DATASET, EVENT, input_key};
use bydelsfakta_tests::{
    bucket_copy, compare_folders, files_below, fixture_event, fixtures, run_on,
};

#[test]
fn a_remote_cluster_writes_the_same_documents() {
    run_alone(same_documents());
}

async fn same_documents() {
    let cluster = start_cluster(2, &[]);
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let scheduler = format!("df://127.0.0.1:{}", cluster.scheduler_port);
    let engine = Engine::remote(&scheduler, &bucket, Duration::from_secs(10))
        .await
        .unwrap();
    for (function, ty) in [
        ("trangboddhet", "over-2_status"),
        ("levekar_totalt", "status"),
        ("befolkningsutvkl_forv_utvkl", "historisk"),
    ] {
        let event = fixture_event(&format!("{function}__{ty}"));
        let outcome = run_on(&engine, &bucket, &event.to_string())
            .await
            .unwrap_or_else(|e| panic!("{function} {ty}: {e}"));
        assert!(outcome.job_id.is_some(), "the run names its cluster job");
        let expected = fixtures().join(format!("expected/{function}/{ty}"));
        compare_folders(&expected, &dir.path().join(&outcome.output_prefix))
            .unwrap_or_else(|e| panic!("{function} {ty}: {e}"));
    }
    // As `run-all` sends a function to the cluster: its outputs planned, then one job.
    let options = bydelsfakta_tests::run_options();
    let types = [
        "alle_status",
        "alle_historisk",
        "kort_status",
        "kort_historisk",
    ];
    let mut planned = vec![];
    for ty in types {
        let event = fixture_event(&format!("innvandrer_befolkning__{ty}")).to_string();
        planned.push(
            plan_event(&engine, &bucket, &event, &options)
                .await
                .unwrap(),
        );
    }
    let before = engine.jobs_submitted();
    let outcomes = run_planned(&engine, planned).await;
    assert_eq!(
        engine.jobs_submitted() - before,
        1,
        "one job for the function"
    );
    for (ty, outcome) in types.iter().zip(outcomes) {
        let outcome = outcome.unwrap_or_else(|e| panic!("innvandrer_befolkning {ty}: {e}"));
        let expected = fixtures().join(format!("expected/innvandrer_befolkning/{ty}"));
        compare_folders(&expected, &dir.path().join(&outcome.output_prefix))
            .unwrap_or_else(|e| panic!("innvandrer_befolkning {ty}: {e}"));
    }
    assert_executors_ran_tasks(&cluster.work_dirs);
    // The bad-input table on the cluster: the same kinds and places as embedded
    // (tests/tests/inputs.rs), and nothing written.
    let mut failures = vec![];
    for case in bydelsfakta_tests::bad_input::cases() {
        let scheduler = scheduler.clone();
        let checked = bydelsfakta_tests::bad_input::check(&case, |bucket| async move {
            Engine::remote(&scheduler, &bucket, Duration::from_secs(10))
                .await
                .unwrap()
        })
        .await;
        if let Err(failure) = checked {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The store fails while an input is read (every read of its object but the client's
/// read of its header): on the cluster, embedded and standalone the run fails with the
/// same `StorageError`, which names the input and says what the store said, and writes
/// nothing. So does a failed listing of the input's prefix, and an object deleted between
/// its listing and its read (embedded and standalone: the client lists). Once the
/// input's types are recorded, the read that fails is the output job's (no probe): the
/// same error again, and the documents of the run before stay as they were.
#[test]
fn a_store_failing_mid_read_names_the_input_alike_on_every_engine() {
    run_alone(failing_mid_read());
}

async fn failing_mid_read() {
    let file = format!("{DATASET}.csv");
    // Ballista retries a failed task, so every read after the first `skip` fails.
    let faults = |skip: u64| {
        let gets: Vec<String> = (skip + 1..=skip + 20)
            .map(|n| format!("get#{n}=fail"))
            .collect();
        format!("path={file},{}", gets.join(","))
    };
    // The executors read the object only: the client, without faults, reads the header.
    let cluster = start_cluster(2, &[("BYDELSFAKTA_FAULTS", faults(0))]);
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let scheduler = format!("df://127.0.0.1:{}", cluster.scheduler_port);
    let engine = Engine::remote(&scheduler, &bucket, Duration::from_secs(10))
        .await
        .unwrap();
    let event = fixture_event(EVENT).to_string();
    let on_cluster = || async {
        let error = run_on(&engine, &bucket, &event).await.unwrap_err();
        assert_eq!(error.kind(), "StorageError", "{error}");
        error.to_string()
    };
    let said = on_cluster().await;
    let key = input_key(dir.path());
    let named = format!(
        "input {DATASET} ({key}): cannot be read: Generic FaultyStore error: injected get failure at "
    );
    assert!(said.starts_with(&named) && said.ends_with(&key), "{said}");

    let event_file = dir.path().join("event.json");
    std::fs::write(&event_file, &event).unwrap();
    let cli = |engine: &str, faults: Option<String>| {
        let mut command = std::process::Command::new(workspace_binary("bydelsfakta"));
        command
            .args(["--engine", engine, "run", "--event"])
            .arg(&event_file)
            .arg("--bucket")
            .arg(dir.path());
        if let Some(faults) = faults {
            command.env("BYDELSFAKTA_FAULTS", faults);
        }
        // A blocking wait, off the runtime's workers, as `compose` runs the CLI; the CLI
        // bounds its own calls (`--local-call-timeout`, the job deadline).
        tokio::task::block_in_place(|| command.output()).unwrap()
    };
    let fails_saying = |engine: &str, said: &str| {
        let out = cli(engine, Some(faults(1)));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{engine}: {stderr}");
        let told: Vec<&str> = stderr
            .lines()
            .filter(|line| !line.starts_with("bydelsfakta: injected fault"))
            .collect();
        assert_eq!(told, [format!("error: {said}")], "{engine}: {stderr}");
    };
    for engine in ["embedded", "standalone"] {
        fails_saying(engine, &said);
    }
    assert!(files_below(&dir.path().join("intermediate")).is_empty());

    // The listing of the input's prefix fails (the client's call): named alike.
    let event_json: serde_json::Value = serde_json::from_str(&event).unwrap();
    let prefix = event_json["payload"]["step_data"]["s3_input_prefixes"][DATASET]
        .as_str()
        .unwrap()
        .to_string();
    let unlisted = format!(
        "input {DATASET} ({prefix}): cannot be read: Generic FaultyStore error: injected list failure at "
    );
    for engine in ["embedded", "standalone"] {
        let out = cli(engine, Some("path=processed/,list#1=fail".into()));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{engine}: {stderr}");
        assert!(
            stderr.contains(&format!("error: {unlisted}")),
            "{engine}: {stderr}"
        );
    }

    // The object is deleted between the listing and its read: the store's `NotFound`,
    // named alike on both engines.
    let csv = dir.path().join(&key);
    let kept = std::fs::read(&csv).unwrap();
    let mut told = vec![];
    for engine in ["embedded", "standalone"] {
        told.push(tokio::task::block_in_place(|| {
            deleted_while_read(&event_file, dir.path(), engine, &csv)
        }));
        std::fs::write(&csv, &kept).unwrap();
    }
    let gone = format!("input {DATASET} ({key}): cannot be read: Object at location ");
    assert!(
        told[0].starts_with(&gone) && told[0].contains("not found"),
        "{told:?}"
    );
    assert_eq!(told[0], told[1]);
    assert!(files_below(&dir.path().join("intermediate")).is_empty());

    // Typed and published once; then the output job's read fails.
    assert!(cli("standalone", None).status.success());
    let published = || {
        let below = dir.path().join("intermediate");
        let files = files_below(&below);
        let read = |f: &String| std::fs::read(below.join(f)).unwrap();
        files
            .iter()
            .map(|f| (f.clone(), read(f)))
            .collect::<Vec<_>>()
    };
    let before = published();
    assert!(before.len() > 1, "{:?}", before.len());
    fails_saying("standalone", &said);
    assert_eq!(on_cluster().await, said);
    assert!(before == published(), "the documents changed");
}

/// A `run` of `event_file` on `engine` whose second read of `csv` (after the client's
/// read of its header) is held while the file is deleted; the error it exits with.
fn deleted_while_read(
    event_file: &std::path::Path,
    bucket: &std::path::Path,
    engine: &str,
    csv: &std::path::Path,
) -> String {
    use std::io::{BufReader, Read};
    let name = csv.file_name().unwrap().to_string_lossy();
    let mut run = std::process::Command::new(workspace_binary("bydelsfakta"))
        .args(["--engine", engine, "run", "--event"])
        .arg(event_file)
        .arg("--bucket")
        .arg(bucket)
        .env(
            "BYDELSFAKTA_FAULTS",
            format!("path={name},get#2=delay:1500"),
        )
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(run.stderr.take().unwrap());
    bydelsfakta_tests::wait_for_fault(&mut stderr);
    std::fs::remove_file(csv).unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{engine}: {rest}");
    let errors: Vec<&str> = rest
        .lines()
        .filter_map(|l| l.strip_prefix("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{engine}: {rest}");
    errors[0].to_string()
}

/// A job that no executor takes: the client gives up at its deadline with a clear error
/// and cancels the job, so that an executor that joins later never runs it. Outputs sent
/// as one job each carry the job's error.
#[test]
fn a_job_past_its_deadline_is_cancelled() {
    run_alone(past_deadline());
}

async fn past_deadline() {
    let mut cluster = start_cluster(0, &[]);
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    // Sibling outputs run on a working cluster record how their inputs are typed, so that
    // planning the outputs below needs no probe job (which would miss the deadline too).
    let typing = Engine::new(EngineKind::Standalone, &bucket).await.unwrap();
    for sibling in [
        "trangboddhet__over-2_historisk",
        "innvandrer_befolkning__alle_historisk",
    ] {
        run_on(&typing, &bucket, &fixture_event(sibling).to_string())
            .await
            .unwrap_or_else(|e| panic!("{sibling}: {e}"));
    }
    let scheduler = format!("df://127.0.0.1:{}", cluster.scheduler_port);
    let engine = Engine::remote(&scheduler, &bucket, Duration::from_secs(10))
        .await
        .unwrap()
        .with_job_timeout(Duration::from_secs(2));
    let options = bydelsfakta_tests::run_options();
    let alone_and_grouped: [&[&str]; 2] = [
        &["trangboddhet__over-2_status"],
        &[
            "innvandrer_befolkning__alle_status",
            "innvandrer_befolkning__kort_status",
        ],
    ];
    let mut prefixes = vec![];
    for events in alone_and_grouped {
        let mut planned = vec![];
        for name in events {
            let event = fixture_event(name).to_string();
            let plan = plan_event(&engine, &bucket, &event, &options)
                .await
                .unwrap();
            prefixes.push(plan.output_prefix().to_string());
            planned.push(plan);
        }
        let errors: Vec<String> = run_planned(&engine, planned)
            .await
            .into_iter()
            .map(|outcome| {
                let error = outcome.expect_err("no executor, so no documents");
                assert_eq!(error.kind(), "JobTimeoutError", "{error}");
                error.to_string()
            })
            .collect();
        assert_eq!(errors.len(), events.len());
        assert!(
            errors[0].contains(&scheduler.replace("df://", "http://"))
                && errors[0].contains("did not finish within 2 s and was cancelled"),
            "{}",
            errors[0]
        );
        assert!(
            errors.iter().all(|e| e == &errors[0]),
            "one job, one error: {errors:?}"
        );
    }
    // An executor joins: it runs a new job, and never the cancelled ones.
    cluster.add_executor();
    let event = fixture_event("levekar_totalt__status").to_string();
    let engine = Engine::remote(&scheduler, &bucket, Duration::from_secs(10))
        .await
        .unwrap();
    run_on(&engine, &bucket, &event).await.unwrap();
    for prefix in prefixes {
        assert_eq!(
            files_under(&dir.path().join(&prefix)),
            0,
            "{prefix}: a cancelled job wrote documents"
        );
    }
}

fn files_under(path: &std::path::Path) -> usize {
    match std::fs::read_dir(path) {
        Err(_) => 0,
        Ok(entries) => entries
            .map(|entry| entry.unwrap().path())
            .map(|path| match path.is_dir() {
                true => files_under(&path),
                false => 1,
            })
            .sum(),
    }
}

#[tokio::test]
async fn an_unreachable_scheduler_is_a_clear_error() {
    // `alone()` in an async test (see there).
    let _alone = bydelsfakta_tests::serial::exclusive().await;
    let (_dir, bucket) = bucket_copy(&fixtures().join("input"));
    let scheduler = format!("df://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let err = match Engine::remote(&scheduler, &bucket, Duration::from_secs(2)).await {
        Ok(_) => panic!("nothing listens on {scheduler}"),
        Err(e) => e,
    };
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(err.kind(), "SchedulerUnavailableError");
    let text = err.to_string();
    assert!(
        text.contains(&scheduler) && text.contains("not reachable"),
        "{text}"
    );
}

/// The Lambda shim ends its invocation's cluster jobs before Lambda ends the invocation:
/// with a function timeout of 10 s and no executor to take the job, the job is cancelled
/// 5 s before the invocation's deadline, and the invocation fails with `JobTimeoutError`
/// saying so (instead of Lambda stopping the function while its job stays queued, to run
/// when an executor joins, with no one to report it).
#[test]
fn the_shim_cancels_its_jobs_before_the_invocations_deadline() {
    run_alone(shim_deadline());
}

async fn shim_deadline() {
    use bydelsfakta_tests::lambda_api::{Answer, RuntimeApi};
    use bydelsfakta_tests::metrics::Metrics;

    let cluster = start_cluster(0, &[]);
    let (dir, _bucket) = bucket_copy(&fixtures().join("input"));
    let api = RuntimeApi::start().await;
    let _shim = crate::common::Process::spawn(
        std::process::Command::new(workspace_binary("bydelsfakta-lambda-shim"))
            .envs(api.function_env())
            .env(
                "BYDELSFAKTA_BUCKET",
                format!("file://{}", dir.path().display()),
            )
            .env(
                "BYDELSFAKTA_SCHEDULER",
                format!("df://127.0.0.1:{}", cluster.scheduler_port),
            )
            .env_remove("BYDELSFAKTA_JOB_TIMEOUT_SECS")
            .env_remove("RUST_LOG"),
    );
    let cancelled = |scrape: &Metrics| scrape.value("job_cancelled_total");
    let before = cancelled(&Metrics::scrape(cluster.scheduler_port));
    let event = fixture_event(EVENT);
    let answer = api
        .invoke_with_function_timeout(&event, Duration::from_secs(10), Duration::from_secs(60))
        .await;
    let Answer::Error { body, .. } = answer else {
        panic!("no executor, so no step output: {answer:?}");
    };
    assert_eq!(body["errorType"], "JobTimeoutError", "{body}");
    let message = body["errorMessage"].as_str().unwrap();
    assert!(
        message.contains(", the time left before the invocation's deadline and was cancelled"),
        "{message}"
    );
    assert!(
        files_below(&dir.path().join("intermediate")).is_empty(),
        "nothing written"
    );
    // The scheduler counts the cancellation once it has handled it.
    let counted = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        cancelled(&Metrics::scrape(cluster.scheduler_port)) > before
    });
    assert!(counted, "the job was not cancelled");
}
