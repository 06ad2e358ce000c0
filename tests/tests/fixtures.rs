//! Every implemented function x type on the original's fixtures, embedded: the documents
//! must be identical or equivalent to what the original wrote (the port, for its three
//! jobs: `PORT-JOBS.md`), and so must the step output.

use bydelsfakta_scheduler_client::Engine;
use bydelsfakta_tests::{Checked, Sending, bucket_copy, check_every_output, fixtures, serial};

/// What the fixtures hold: 84 function x type outputs (`tests/fixtures/public/events/`, one
/// per output; `bydelsfakta list`) with 1346 documents in their `expected/` folders. A
/// comparison finds its expected documents by folder name, and a folder that is not there
/// compares as empty; counting what was compared makes an output or document that silently
/// stops being found (a renamed function, type or folder) fail the test.
pub(crate) const EVERY_OUTPUT: Checked = Checked {
    outputs: 84,
    documents: 1346,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_implemented_output_matches_the_original() {
    // All 84 outputs load the machine: never beside a test that asserts on time.
    let _serial = serial::shared().await;
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let engine = Engine::embedded(&bucket).await.unwrap();
    match check_every_output(&engine, &bucket, dir.path(), Sending::OneByOne).await {
        Ok(matched) => assert_eq!(matched, EVERY_OUTPUT, "outputs and documents compared"),
        Err(failures) => panic!("{failures}"),
    }
}
