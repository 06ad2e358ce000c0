//! The same plans on Ballista standalone (a scheduler and an executor in this process, the
//! plan encoded with our codec and decoded by the executor) give the same documents.

use bydelsfakta_queries::functions;
use bydelsfakta_scheduler_client::Engine;
use bydelsfakta_tests::{bucket_copy, compare_folders, fixtures, run_on};

/// Encoding deep plans recurses more than a test thread's default stack allows in debug
/// builds; the CLI gives its runtime the same 16 MiB.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .thread_stack_size(16 * 1024 * 1024)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn ballista_standalone_writes_the_same_documents() {
    let rt = runtime();
    rt.block_on(async { tokio::spawn(same_documents()).await.unwrap() });
}

async fn same_documents() {
    let root = fixtures();
    let (dir, bucket) = bucket_copy(&root.join("input"));
    let engine = Engine::ballista_standalone(&bucket).await.unwrap();
    let mut failures = vec![];
    let mut matched = 0;
    for function in functions::all() {
        for ty in function.types {
            let name = format!("{}__{}", function.name, ty.name);
            let event = std::fs::read_to_string(root.join(format!("events/{name}.json"))).unwrap();
            match run_on(&engine, &bucket, &event).await {
                Ok(outcome) => {
                    let expected = root.join(format!("expected/{}/{}", function.name, ty.name));
                    match compare_folders(&expected, &dir.path().join(&outcome.output_prefix)) {
                        Ok(_) => matched += 1,
                        Err(e) => failures.push(format!("{name}: {e}")),
                    }
                }
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{matched} matched; failures:\n{}",
        failures.join("\n\n")
    );
    println!("{matched} outputs through Ballista standalone identical or equivalent");
}

#[test]
fn errors_raised_on_the_executor_reach_the_client() {
    let rt = runtime();
    rt.block_on(async { tokio::spawn(executor_errors()).await.unwrap() });
}

async fn executor_errors() {
    let root = fixtures();
    let (dir, bucket) = bucket_copy(&root.join("input"));
    bydelsfakta_tests::edit_csv(
        dir.path(),
        "husholdninger-etter-rom-per-person",
        |i, line| {
            let mut cells: Vec<String> = line.split(';').map(String::from).collect();
            if i > 0 && cells[1] == "0501" && cells[0] == "2024" {
                for cell in &mut cells[5..] {
                    *cell = "0".into();
                }
            }
            Some(cells.join(";"))
        },
    );
    let engine = Engine::ballista_standalone(&bucket).await.unwrap();
    let event = bydelsfakta_tests::fixture_event("trangboddhet__over-2_status").to_string();
    let err = run_on(&engine, &bucket, &event).await.unwrap_err();
    assert_eq!(err.kind(), "NonFiniteValueError", "{err}");
    assert!(err.to_string().contains("entry 0501"), "{err}");
    assert!(bydelsfakta_tests::files_below(&dir.path().join("intermediate")).is_empty());
}
