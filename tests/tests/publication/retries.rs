//! The S3 client's bounds, against the loopback server answering as a troubled S3 would:
//! server errors and throttling are retried, other errors are not, and a request that gets
//! no answer is given up after the request timeout, a bounded number of times. A
//! publication whose request timed out treats it as a call that may still land.

use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use s3s::S3ErrorCode;

use bydelsfakta_scheduler_client::stores::settings::StoreSettings;
use bydelsfakta_tests::s3::{MemoryS3, S3Server, ServerFault};
use bydelsfakta_tests::serial;

use super::settings;
use super::support::{Backend, Scenario, State, publish_set, recover_prefix};

const BUCKET: &str = "retries";
const KEY: (&str, &str) = ("retries-key", "retries-secret");

async fn client(settings: StoreSettings) -> (S3Server, impl ObjectStore) {
    let server = S3Server::start(MemoryS3::default(), &[KEY]).await;
    let builder = AmazonS3Builder::new()
        .with_endpoint(&server.endpoint)
        .with_bucket_name(BUCKET)
        .with_access_key_id(KEY.0)
        .with_secret_access_key(KEY.1)
        .with_region("us-east-1")
        .with_allow_http(true);
    let store = settings.apply(builder).build().unwrap();
    (server, store)
}

fn count(server: &S3Server, operation: &str) -> usize {
    server
        .requests_by(KEY.0)
        .iter()
        .filter(|r| r.operation == operation)
        .count()
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried() {
    let (server, store) = client(StoreSettings::default()).await;
    server.inject("PutObject", 1, ServerFault::Error(S3ErrorCode::SlowDown));
    server.inject(
        "PutObject",
        1,
        ServerFault::Error(S3ErrorCode::InternalError),
    );
    store.put(&Path::from("a.json"), "{}".into()).await.unwrap();
    assert_eq!(count(&server, "PutObject"), 3, "two failures, then the put");
    assert_eq!(
        store
            .get(&Path::from("a.json"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
        "{}"
    );
}

#[tokio::test]
async fn other_errors_are_not_retried() {
    let (server, store) = client(StoreSettings::default()).await;
    server.inject(
        "PutObject",
        1,
        ServerFault::Error(S3ErrorCode::AccessDenied),
    );
    let err = store
        .put(&Path::from("a.json"), "{}".into())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("403") || err.to_string().contains("AccessDenied"),
        "{err}"
    );
    assert_eq!(count(&server, "PutObject"), 1);
}

/// Retries stop at `max_retries`, even while there is time left.
#[tokio::test]
async fn retries_are_counted() {
    let settings = StoreSettings {
        max_retries: 2,
        ..StoreSettings::default()
    };
    let (server, store) = client(settings).await;
    server.inject("PutObject", 10, ServerFault::Error(S3ErrorCode::SlowDown));
    store
        .put(&Path::from("a.json"), "{}".into())
        .await
        .unwrap_err();
    assert_eq!(count(&server, "PutObject"), 3, "the try and two retries");
}

/// A server that never answers: each try ends at the request timeout, and no retry starts
/// after the retry timeout, so the call fails after a bounded number of tries.
#[tokio::test]
async fn a_server_that_never_answers_is_given_up() {
    // Counts tries within 700 ms: alone, on a machine not loaded.
    let _serial = serial::exclusive().await;
    let settings = StoreSettings {
        request_timeout: Duration::from_millis(300),
        retry_timeout: Duration::from_millis(700),
        max_retries: 100,
        ..StoreSettings::default()
    };
    let (server, store) = client(settings).await;
    server.inject(
        "GetObject",
        1000,
        ServerFault::Delay(Duration::from_secs(3600)),
    );
    store.put(&Path::from("a.json"), "{}".into()).await.unwrap();
    let err = store.get(&Path::from("a.json")).await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("timed out") || err.to_string().contains("timeout"),
        "{err}"
    );
    let tries = count(&server, "GetObject");
    // 700 ms of retries at 300 ms a try (plus backoff) leave room for four at most.
    assert!((1..=4).contains(&tries), "{tries} tries");
}

/// S3 may carry out a request after the client gave up on it, so a publication whose move
/// timed out (after the journal) writes nothing more, no rollback, and keeps its lease, as
/// for a local folder's call that did not answer; `recover` then puts the previous set back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publication_whose_request_timed_out_writes_nothing_more() {
    // Its lease lasts 150 ms: alone, so that a loaded machine does not outlast it.
    let _serial = serial::exclusive().await;
    let settings_s3 = StoreSettings {
        request_timeout: Duration::from_millis(300),
        retry_timeout: Duration::from_millis(700),
        ..StoreSettings::default()
    };
    let (backend, server) = Backend::s3_with(settings_s3).await;
    let prefix = backend.fresh_prefix();
    // The first publication has no documents to back up: its first copy is a move.
    Scenario::First.prepare(&backend, &prefix).await;
    let before = State::read(&backend, &prefix).await;
    server.inject(
        "CopyObject",
        1000,
        ServerFault::Delay(Duration::from_secs(3600)),
    );
    let e = publish_set(
        backend.store.as_ref(),
        &backend,
        &prefix,
        "new",
        "r1",
        settings(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), "RecoveryNeededError", "{e}");
    assert!(e.to_string().contains("may still land"), "{e}");
    server.clear_faults();
    let left = State::read(&backend, &prefix).await;
    assert!(left.holds_a_lease(), "the lease was released: {left:?}");
    assert_eq!(
        count_by(&server, "DeleteObject"),
        0,
        "nothing was deleted after the timeout"
    );
    recover_prefix(&backend, &prefix).await;
    let recovered = State::read(&backend, &prefix).await;
    recovered.assert_no_leftovers("after recover");
    assert_eq!(recovered.set(), before.set());
}

fn count_by(server: &S3Server, operation: &str) -> usize {
    server
        .requests_by(super::support::S3_KEY.0)
        .iter()
        .filter(|r| r.operation == operation)
        .count()
}
