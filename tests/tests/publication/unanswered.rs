//! A local folder whose calls hang: each call of a publication, and of a recovery after a
//! crash, is held past the store's limit ([`BoundedStore`], as every local bucket is
//! bounded), so the publisher is told that the call did not answer while it goes on and
//! lands later, as a hung file system's call does. Nothing written after that may be
//! overtaken by it: the publisher writes nothing more and keeps its lease (to expire), in
//! whatever step it met the call, even in its clean-up after the commit; once the held
//! call has landed and `recover` has run, the previous set is there byte for byte
//! (manifest included) or the new set is complete, and no bookkeeping is left.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bydelsfakta_queries::publication::recover;
use bydelsfakta_scheduler_client::stores::bounded::BoundedStore;
use bydelsfakta_scheduler_client::stores::faults::{Action, Faults, FaultyStore, Operation};
use bydelsfakta_tests::serial;

use super::recovery::crashed_before_commit;
use super::support::{Backend, Scenario, State, publish_set, recover_prefix};
use super::{count_calls, faulty, settings};

/// How long a call may take before the publisher is told it did not answer.
const LIMIT: Duration = Duration::from_millis(60);
/// How long the held call takes to land.
const HELD: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_of_a_local_folder_unanswered() {
    // Its leases last 150 ms: alone, so that a loaded machine does not outlast them.
    let _serial = serial::exclusive().await;
    let backend = Backend::local();
    let mut report = vec![];
    for scenario in Scenario::ALL {
        let calls = count_calls(&backend, scenario).await;
        let (mut failed, mut published) = (0, 0);
        for (&operation, &count) in &calls {
            for nth in 1..=count {
                let what = format!("{scenario:?}: {operation} #{nth} unanswered");
                let prefix = backend.fresh_prefix();
                scenario.prepare(&backend, &prefix).await;
                let before = State::read(&backend, &prefix).await;
                let held = faulty(&backend, operation, nth, Action::Delay(HELD));
                let store = BoundedStore::new(Arc::new(held), LIMIT);
                let outcome = publish_set(&store, &backend, &prefix, "new", "r1", settings()).await;
                assert_lease_kept(&backend, &prefix, &calls, operation, nth, &what).await;
                match &outcome {
                    Ok(_) => published += 1,
                    Err(e) => {
                        let kind = e.kind();
                        assert!(
                            kind == "WriteError" || kind == "RecoveryNeededError",
                            "{what}: {e}"
                        );
                        assert!(e.to_string().contains("did not answer"), "{what}: {e}");
                        failed += 1;
                    }
                }
                // The held call lands.
                tokio::time::sleep(HELD * 2).await;
                recover_prefix(&backend, &prefix).await;
                let recovered = State::read(&backend, &prefix).await;
                recovered.assert_no_leftovers(&what);
                if outcome.is_ok() || recovered.set() != before.set() {
                    recovered.assert_new_complete("new", "r1");
                }
            }
        }
        assert!(failed > 0, "{scenario:?}: no call failed the publication");
        report.push(format!(
            "{scenario:?}: {failed} failed, {published} published"
        ));
    }
    eprintln!("unanswered calls: {}", report.join("; "));
}

/// Each call of a recovery after a crash before the commit, held past the limit: the
/// recovery writes nothing more and keeps its lease; once the call has landed, the next
/// `recover` puts the previous set back and leaves nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_of_a_recovery_unanswered() {
    let _serial = serial::exclusive().await;
    let backend = Backend::local();
    let (prefix, _) = crashed_before_commit(&backend).await;
    let counting = FaultyStore::new(backend.store.clone(), Faults::default());
    recover(&counting, &backend.bucket, &prefix, &settings())
        .await
        .unwrap();
    let calls: BTreeMap<Operation, u64> = counting.calls().into_iter().collect();
    let mut failed = 0;
    for (&operation, &count) in &calls {
        for nth in 1..=count {
            let what = format!("recover: {operation} #{nth} unanswered");
            let (prefix, before) = crashed_before_commit(&backend).await;
            let held = faulty(&backend, operation, nth, Action::Delay(HELD));
            let store = BoundedStore::new(Arc::new(held), LIMIT);
            let outcome = recover(&store, &backend.bucket, &prefix, &settings()).await;
            if let Err(e) = &outcome {
                assert!(e.to_string().contains("did not answer"), "{what}: {e}");
                failed += 1;
            }
            assert_lease_kept(&backend, &prefix, &calls, operation, nth, &what).await;
            tokio::time::sleep(HELD * 2).await;
            recover_prefix(&backend, &prefix).await;
            let recovered = State::read(&backend, &prefix).await;
            recovered.assert_no_leftovers(&what);
            assert_eq!(recovered.set(), before.set(), "{what}");
        }
    }
    assert!(failed > 0, "no call failed the recovery");
}

/// Right after a run that met the held call: its lease is still there, unless the held
/// call was one of the lease's own: the listing and the create that take it (the first
/// of each in a run) or the release's delete (the last delete), which land in their time.
async fn assert_lease_kept(
    backend: &Backend,
    prefix: &str,
    calls: &BTreeMap<Operation, u64>,
    operation: Operation,
    nth: u64,
    what: &str,
) {
    let the_leases_own = match operation {
        Operation::List | Operation::Create => nth == 1,
        Operation::Delete => calls.get(&operation) == Some(&nth),
        _ => false,
    };
    if the_leases_own {
        return;
    }
    let state = State::read(backend, prefix).await;
    assert!(state.holds_a_lease(), "{what}: the lease was released");
}
