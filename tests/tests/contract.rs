//! The pipeline event contract (docs/contract.md §1): strict keys, task config, routing,
//! input prefix checks in the original's order, the step output, and D3.

use bydelsfakta_tests::{bucket_copy, files_below, fixture_event, fixtures, run};

async fn error_of(event: &serde_json::Value) -> bydelsfakta_scheduler_client::Error {
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let err = run(&bucket, &event.to_string())
        .await
        .expect_err("the run must fail");
    assert!(
        files_below(&dir.path().join("intermediate")).is_empty(),
        "nothing may be written on {err}"
    );
    err
}

#[tokio::test]
async fn missing_or_extra_keys_in_the_payload_are_rejected() {
    let mut event = fixture_event("folkemengde__historisk");
    event["payload"]["output_dataset"]
        .as_object_mut()
        .unwrap()
        .remove("version");
    let err = error_of(&event).await;
    assert_eq!(err.kind(), "InvalidEventError");
    assert!(err.to_string().contains("version"), "{err}");

    let mut event = fixture_event("folkemengde__historisk");
    event["payload"]["step_data"]["surprise"] = serde_json::json!(1);
    let err = error_of(&event).await;
    assert_eq!(err.kind(), "InvalidEventError");
    assert!(err.to_string().contains("surprise"), "{err}");

    let mut event = fixture_event("folkemengde__historisk");
    event.as_object_mut().unwrap().remove("task");
    assert_eq!(error_of(&event).await.kind(), "InvalidEventError");
}

#[tokio::test]
async fn extra_top_level_keys_are_ignored() {
    let mut event = fixture_event("trangboddhet__over-2_status");
    event["something_else"] = serde_json::json!({"a": 1});
    let (_dir, bucket) = bucket_copy(&fixtures().join("input"));
    let outcome = run(&bucket, &event.to_string()).await.unwrap();
    assert_eq!(outcome.summary.documents, 16);
}

#[tokio::test]
async fn task_config_and_type_are_required() {
    let mut event = fixture_event("folkemengde__historisk");
    event["task"] = serde_json::json!("no_such_task");
    let err = error_of(&event).await;
    assert_eq!(err.kind(), "TaskConfigError");
    assert!(err.to_string().contains("no_such_task"), "{err}");

    let mut event = fixture_event("folkemengde__historisk");
    event["payload"]["pipeline"]["task_config"]["lambda_invoker"]
        .as_object_mut()
        .unwrap()
        .remove("type");
    assert_eq!(error_of(&event).await.kind(), "TaskConfigError");
}

#[tokio::test]
async fn missing_prefixes_are_reported_before_extra_ones() {
    let mut event = fixture_event("botid_ikke_vestlige__status");
    let prefixes = event["payload"]["step_data"]["s3_input_prefixes"]
        .as_object_mut()
        .unwrap();
    prefixes.remove("befolkning-etter-kjonn-og-alder");
    prefixes.insert("dode".into(), serde_json::json!("processed/green/dode/"));
    let err = error_of(&event).await;
    assert_eq!(err.kind(), "PrefixNotInInputError");
    assert!(
        err.to_string()
            .contains("[befolkning-etter-kjonn-og-alder]"),
        "{err}"
    );

    let mut event = fixture_event("botid_ikke_vestlige__status");
    let prefixes = event["payload"]["step_data"]["s3_input_prefixes"]
        .as_object_mut()
        .unwrap();
    prefixes.insert("dode".into(), serde_json::json!("processed/green/dode/"));
    prefixes.insert("fodte".into(), serde_json::json!("processed/green/fodte/"));
    let err = error_of(&event).await;
    assert_eq!(err.kind(), "ExtraPrefixesInInputError");
    assert!(err.to_string().contains("[dode, fodte]"), "{err}");
}

// docs/deviations.md D3: an unknown type is an error listing the valid ones; nothing is written.
#[tokio::test]
async fn unknown_type_lists_the_valid_types() {
    let mut event = fixture_event("trangboddhet__alle_status");
    event["payload"]["pipeline"]["task_config"]["lambda_invoker"]["type"] =
        serde_json::json!("bogus");
    let err = error_of(&event).await;
    assert_eq!(err.kind(), "UnknownDatasetTypeError");
    let text = err.to_string();
    assert!(
        text.contains("'bogus'")
            && text.contains("alle_status")
            && text.contains("over-2_historisk"),
        "{text}"
    );
}

#[tokio::test]
async fn step_output_and_output_prefix() {
    let mut event = fixture_event("trangboddhet__over-2_status");
    event["payload"]["output_dataset"]["s3_prefix"] =
        serde_json::json!("%stage%/x/%stage%/edition=1/");
    event["payload"]["step_data"]["errors"] = serde_json::json!(["earlier", {"k": 1.5}]);
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let outcome = run(&bucket, &event.to_string()).await.unwrap();
    assert_eq!(
        outcome.output_prefix,
        "intermediate/x/intermediate/edition=1/lambda_invoker/"
    );
    assert_eq!(
        outcome.step_output.to_python_string(),
        "{\"s3_input_prefixes\": {\"trangboddhet-over-2-status\": \"intermediate/x/intermediate/edition=1/lambda_invoker/\"}, \"status\": \"OK\", \"errors\": [\"earlier\", {\"k\": 1.5}]}"
    );
    // 16 documents and the manifest.
    assert_eq!(
        files_below(&dir.path().join(&outcome.output_prefix)).len(),
        17
    );
}

#[tokio::test]
async fn unknown_function_is_named() {
    let mut event = fixture_event("trangboddhet__over-2_status");
    event["payload"]["pipeline"]["task_config"]["lambda_invoker"]["arn"] =
        serde_json::json!("something-else");
    event["payload"]["output_dataset"]["id"] = serde_json::json!("no-such-output");
    let err = error_of(&event).await;
    assert_eq!(err.kind(), "UnknownFunctionError");
    assert!(err.to_string().contains("no-such-output"), "{err}");
}
