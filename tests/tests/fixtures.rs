//! Every implemented function x type on the original's fixtures, embedded: the documents
//! must be identical or equivalent to what the original wrote (the port, for its three
//! jobs: `PORT-JOBS.md`), and so must the step output.

use bydelsfakta_scheduler_client::Engine;
use bydelsfakta_tests::{bucket_copy, check_every_output, fixtures, serial};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_implemented_output_matches_the_original() {
    // All 84 outputs load the machine: never beside a test that asserts on time.
    let _serial = serial::shared().await;
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let engine = Engine::embedded(&bucket).await.unwrap();
    match check_every_output(&engine, &bucket, dir.path()).await {
        Ok(matched) => {
            println!("{matched} outputs identical or equivalent to the reference documents")
        }
        Err(failures) => panic!("{failures}"),
    }
}
