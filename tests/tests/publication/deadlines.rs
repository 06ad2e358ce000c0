//! A publication with a deadline (the Lambda shim's, before its invocation's own) starts
//! nothing it could not finish: past it, no lease is taken; reached while staging, no
//! document changes; and another's lease is waited for only until then. Each case leaves
//! the previous set byte for byte and no bookkeeping, on a local folder and on S3.

use std::time::{Duration, SystemTime};

use bydelsfakta_queries::publication::records::PublishSettings;
use bydelsfakta_scheduler_client::stores::faults::{Action, Faults, FaultyStore, Operation};
use bydelsfakta_tests::serial;

use super::support::{Backend, Scenario, State, publish_set};
use super::{faulty, patient, spawn_publish_set};

/// Settings that would wait for another's lease far longer than any case here lasts, with
/// a deadline `after` from now.
fn due_in(after: Duration) -> PublishSettings {
    patient().with_deadline(SystemTime::now() + after)
}

fn assert_refused(outcome: &bydelsfakta_queries::Result<impl std::fmt::Debug>, step: &str) {
    let e = outcome.as_ref().expect_err("refused at its deadline");
    assert_eq!(e.kind(), "JobTimeoutError", "{e}");
    let text = e.to_string();
    assert!(text.contains("run r1 reached its deadline"), "{text}");
    assert!(text.contains(step), "{text}");
}

/// A deadline already past: not one store call.
async fn past_before_it_begins(backend: &Backend) {
    let prefix = backend.fresh_prefix();
    Scenario::Replace.prepare(backend, &prefix).await;
    let before = State::read(backend, &prefix).await;
    let counting = FaultyStore::new(backend.store.clone(), Faults::default());
    let settings = due_in(Duration::ZERO);
    let outcome = publish_set(&counting, backend, &prefix, "new", "r1", settings).await;
    assert_refused(&outcome, "before it took the lease");
    assert!(
        counting.calls().values().all(|&n| n == 0),
        "{:?}",
        counting.calls()
    );
    let after = State::read(backend, &prefix).await;
    assert_eq!(after.set(), before.set(), "{}", backend.name);
    after.assert_no_leftovers(backend.name);
}

/// The deadline passes while the first document is staged (a store that answers slowly):
/// the publication stops before its journal, deletes what it staged and backed up, and
/// lets go of its lease.
async fn reached_while_staging(backend: &Backend) {
    let prefix = backend.fresh_prefix();
    Scenario::Replace.prepare(backend, &prefix).await;
    let before = State::read(backend, &prefix).await;
    let slow = faulty(
        backend,
        Operation::Put,
        1,
        Action::Delay(Duration::from_secs(3)),
    );
    let settings = due_in(Duration::from_millis(1500));
    let outcome = publish_set(&slow, backend, &prefix, "new", "r1", settings).await;
    assert_refused(&outcome, "before it changed a document");
    // It got as far as the backups, and no further.
    let calls = slow.calls();
    assert!(calls[&Operation::Put] >= 1, "{calls:?}");
    let after = State::read(backend, &prefix).await;
    assert_eq!(after.set(), before.set(), "{}", backend.name);
    after.assert_no_leftovers(backend.name);
    // The lease is let go: the next publisher need not wait for it.
    let next = publish_set(
        backend.store.as_ref(),
        backend,
        &prefix,
        "next",
        "r2",
        due_in(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    assert!(!next.already_published);
    State::read(backend, &prefix)
        .await
        .assert_new_complete("next", "r2");
}

/// Another run holds the lease for longer than the deadline leaves: the wait ends at the
/// deadline with `PublicationInProgressError`, not at the 30 s publish wait, and the other
/// run publishes undisturbed.
async fn waits_only_until_it(backend: &Backend) {
    let prefix = backend.fresh_prefix();
    Scenario::Replace.prepare(backend, &prefix).await;
    let holder = std::sync::Arc::new(faulty(
        backend,
        Operation::Put,
        1,
        Action::Delay(Duration::from_secs(3)),
    ));
    let holding = spawn_publish_set(&holder, backend, &prefix, "one", "r2", patient());
    holder.fired().await;
    let settings = due_in(Duration::from_millis(500));
    let e = publish_set(
        backend.store.as_ref(),
        backend,
        &prefix,
        "two",
        "r1",
        settings,
    )
    .await
    .expect_err("the lease is held");
    assert_eq!(e.kind(), "PublicationInProgressError", "{e}");
    let text = e.to_string();
    assert!(text.contains("run r2"), "{text}");
    assert!(text.ends_with(", at the run's deadline"), "{text}");
    holding.await.unwrap().unwrap();
    let after = State::read(backend, &prefix).await;
    after.assert_new_complete("one", "r2");
    after.assert_no_leftovers(backend.name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publication_starts_nothing_it_cannot_finish_by_its_deadline() {
    // Deadlines of 0.5 and 1.5 s against holds of 3 s: alone, on a machine not loaded.
    let _serial = serial::exclusive().await;
    for backend in [Backend::local(), Backend::s3().await] {
        past_before_it_begins(&backend).await;
        reached_while_staging(&backend).await;
        waits_only_until_it(&backend).await;
    }
}
