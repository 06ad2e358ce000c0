//! Recovery under faults: a publication killed just before its commit (its journal written,
//! every document moved, the removed one deleted, no manifest yet) is recovered by a
//! `recover` whose every call fails, lands and then fails, or dies with it. Whatever that recovery did, the next `recover`
//! puts the previous set back byte for byte and leaves nothing else, on a local folder and
//! on S3 over loopback.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use bydelsfakta_queries::publication::{Recovered, recover};
use bydelsfakta_scheduler_client::stores::faults::{Action, Faults, FaultyStore, Operation, Rule};
use bydelsfakta_tests::serial;

use super::support::{Backend, Scenario, State, recover_prefix};
use super::{faulty, publish_killed_at_fault, settings};

/// Long enough to stand for a process that died there.
const FOREVER: Duration = Duration::from_secs(3600);

/// A fresh prefix holding a set, and a publication of a new one killed before it writes
/// its manifest: the same state every time (moves run side by side, so a kill between
/// them would leave a different mix each time, and recovery a different number of
/// calls). The state before that publication.
pub(super) async fn crashed_before_commit(backend: &Backend) -> (String, State) {
    let prefix = backend.fresh_prefix();
    Scenario::Replace.prepare(backend, &prefix).await;
    let before = State::read(backend, &prefix).await;
    let faults = Faults {
        rules: vec![Rule {
            operation: Operation::Put,
            nth: 1,
            action: Action::Delay(FOREVER),
        }],
        path: Some("lambda_invoker/_manifest.json".into()),
        ..Faults::default()
    };
    let store = FaultyStore::new(backend.store.clone(), faults);
    publish_killed_at_fault(backend, &prefix, store, "the manifest's put").await;
    (prefix, before)
}

/// How many of the planned faults took effect, and how many were planned. A recovery makes
/// the calls a clean one made, give or take a renewal of its lease (150 ms, as the
/// suite's): a fault planned for a call that a run did not make is not injected.
async fn every_recovery_call_fails_or_dies(backend: &Backend) -> (usize, usize) {
    let (prefix, _) = crashed_before_commit(backend).await;
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
    let (mut injected, mut planned) = (0, 0);
    for (operation, count) in calls {
        for nth in 1..=count {
            for action in [Action::Fail, Action::FailAfter, Action::Delay(FOREVER)] {
                let what = format!("{}: recover, {operation} #{nth} {action}", backend.name);
                let (prefix, before) = crashed_before_commit(backend).await;
                let store = Arc::new(faulty(backend, operation, nth, action));
                let mut recovering = {
                    let (store, backend, prefix) =
                        (Arc::clone(&store), backend.clone(), prefix.clone());
                    tokio::spawn(async move {
                        recover(store.as_ref(), &backend.bucket, &prefix, &settings()).await
                    })
                };
                let ended = async {
                    tokio::select! {
                        // Held forever: the recovery dies there.
                        () = store.fired(), if matches!(action, Action::Delay(_)) => {
                            recovering.abort();
                            let _ = (&mut recovering).await;
                            true
                        }
                        outcome = &mut recovering => {
                            if let Err(e) = outcome.unwrap() {
                                assert!(e.to_string().contains(&prefix), "{what}: {e}");
                            }
                            store.fired().now_or_never().is_some()
                        }
                    }
                };
                let fired = tokio::time::timeout(Duration::from_secs(60), ended)
                    .await
                    .unwrap_or_else(|_| panic!("{what}: the recovery neither ended nor died"));
                recover_prefix(backend, &prefix).await;
                let recovered = State::read(backend, &prefix).await;
                recovered.assert_no_leftovers(&what);
                assert_eq!(recovered.set(), before.set(), "{what}");
                injected += usize::from(fired);
                planned += 1;
            }
        }
    }
    (injected, planned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_under_faults() {
    // Its leases last 150 ms: alone, so that a loaded machine does not outlast them.
    let _serial = serial::exclusive().await;
    for backend in [Backend::local(), Backend::s3().await] {
        let (injected, planned) = every_recovery_call_fails_or_dies(&backend).await;
        eprintln!(
            "{}: {injected} of {planned} faults in recovery",
            backend.name
        );
        assert!(
            injected * 10 >= planned * 9,
            "{}: only {injected} of {planned} planned faults took effect",
            backend.name
        );
    }
}
