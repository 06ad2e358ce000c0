//! Every implemented function x type on the original's fixtures: the documents must be
//! identical or equivalent to what the original wrote, and so must the step output.

use bydelsfakta_queries::functions;
use bydelsfakta_tests::{bucket_copy, compare_folders, fixtures, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_implemented_output_matches_the_original() {
    let root = fixtures();
    let (dir, bucket) = bucket_copy(&root.join("input"));
    let mut failures = vec![];
    let mut matched = 0;
    for function in functions::all() {
        for ty in function.types {
            let name = format!("{}__{}", function.name, ty.name);
            let event = std::fs::read_to_string(root.join(format!("events/{name}.json"))).unwrap();
            let outcome = match run(&bucket, &event).await {
                Ok(outcome) => outcome,
                Err(e) => {
                    failures.push(format!("{name}: run failed: {e}"));
                    continue;
                }
            };
            let expected_return: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(root.join(format!("returns/{name}.json"))).unwrap(),
            )
            .unwrap();
            let actual_return: serde_json::Value =
                serde_json::from_str(&outcome.step_output.to_python_string()).unwrap();
            if expected_return != actual_return {
                failures.push(format!(
                    "{name}: step output {actual_return} != {expected_return}"
                ));
            }
            let expected = root.join(format!("expected/{}/{}", function.name, ty.name));
            let actual = dir.path().join(&outcome.output_prefix);
            match compare_folders(&expected, &actual) {
                Ok(_) => matched += 1,
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{matched} matched; failures:\n{}",
        failures.join("\n\n")
    );
    println!("{matched} outputs identical or equivalent to the original's");
}
