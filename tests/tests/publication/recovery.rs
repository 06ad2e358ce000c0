//! Recovery under faults: a publication killed while it moved its documents (its journal
//! written, the set half replaced) is recovered by a `recover` whose every call fails,
//! lands and then fails, or dies with it. Whatever that recovery did, the next `recover`
//! puts the previous set back byte for byte and leaves nothing else, on a local folder and
//! on S3 over loopback.

use std::sync::Arc;
use std::time::Duration;

use bydelsfakta_queries::publication::{Recovered, recover};
use bydelsfakta_scheduler_client::stores::faults::{Action, Faults, FaultyStore, Operation};
use bydelsfakta_tests::serial;

use super::support::{Backend, Scenario, State, publish_set, recover_prefix};
use super::{faulty, settings};

/// Long enough to stand for a process that died there.
const FOREVER: Duration = Duration::from_secs(3600);

/// A fresh prefix holding a set, and a publication of a new one killed before its second
/// move; the state before that publication.
async fn crashed_mid_move(backend: &Backend) -> (String, State) {
    let prefix = backend.fresh_prefix();
    Scenario::Replace.prepare(backend, &prefix).await;
    let before = State::read(backend, &prefix).await;
    let store = Arc::new(faulty(
        backend,
        Operation::Rename,
        2,
        Action::Delay(FOREVER),
    ));
    let publisher = {
        let (store, backend, prefix) = (Arc::clone(&store), backend.clone(), prefix.clone());
        tokio::spawn(async move {
            publish_set(store.as_ref(), &backend, &prefix, "new", "r1", settings()).await
        })
    };
    tokio::time::timeout(Duration::from_secs(60), store.fired())
        .await
        .expect("the publication reached its second move");
    publisher.abort();
    let _ = publisher.await;
    (prefix, before)
}

async fn every_recovery_call_fails_or_dies(backend: &Backend) -> usize {
    let (prefix, _) = crashed_mid_move(backend).await;
    let counting = FaultyStore::new(backend.store.clone(), Faults::default());
    let recovered = recover(&counting, &backend.bucket, &prefix, &settings())
        .await
        .unwrap();
    assert!(
        matches!(recovered, Recovered::RolledBack { .. }),
        "{recovered:?}"
    );
    let mut calls: Vec<_> = counting.calls().into_iter().collect();
    calls.sort();
    let mut faults = 0;
    for (operation, count) in calls {
        for nth in 1..=count {
            for action in [Action::Fail, Action::FailAfter, Action::Delay(FOREVER)] {
                let what = format!("{}: recover, {operation} #{nth} {action}", backend.name);
                let (prefix, before) = crashed_mid_move(backend).await;
                let store = Arc::new(faulty(backend, operation, nth, action));
                let recovering = {
                    let (store, backend, prefix) =
                        (Arc::clone(&store), backend.clone(), prefix.clone());
                    tokio::spawn(async move {
                        recover(store.as_ref(), &backend.bucket, &prefix, &settings()).await
                    })
                };
                if matches!(action, Action::Delay(_)) {
                    tokio::time::timeout(Duration::from_secs(60), store.fired())
                        .await
                        .unwrap_or_else(|_| panic!("{what}: the call was never made"));
                    recovering.abort();
                    let _ = recovering.await;
                } else {
                    let outcome = recovering.await.unwrap();
                    if let Err(e) = &outcome {
                        assert!(e.to_string().contains(&prefix), "{what}: {e}");
                    }
                }
                recover_prefix(backend, &prefix).await;
                let recovered = State::read(backend, &prefix).await;
                recovered.assert_no_leftovers(&what);
                assert_eq!(recovered.set(), before.set(), "{what}");
                faults += 1;
            }
        }
    }
    faults
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_under_faults() {
    // Its leases last 150 ms: alone, so that a loaded machine does not outlast them.
    let _serial = serial::exclusive().await;
    for backend in [Backend::local(), Backend::s3().await] {
        let faults = every_recovery_call_fails_or_dies(&backend).await;
        eprintln!("{}: {faults} faults in recovery", backend.name);
    }
}
