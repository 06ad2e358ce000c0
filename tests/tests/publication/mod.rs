//! Publication under faults: every store call a publication makes fails, fails after it
//! landed (a lost answer), or hangs while the publisher dies; a competitor arrives at each
//! of those points; on a local folder and on S3 over loopback. After every fault, the
//! previous documents are byte-identical or the new set is complete and matches its
//! manifest, `recover` leaves no bookkeeping behind, and the publication reported success
//! exactly when the new set was published; `/metrics` counts a rollback exactly when one
//! happened (the failures' own, and recovery's of a crashed publisher). `kills` does the
//! same to real `bydelsfakta run` processes with SIGKILL; `recovery` faults `recover`
//! itself, at every call, after a crash; `retries` checks the S3 client's bounds;
//! `unanswered` holds every call of a local folder past its limit and lands it later;
//! `deadlines` refuses what a publication could not finish by its deadline.

mod deadlines;
mod kills;
mod recovery;
mod retries;
mod support;
mod unanswered;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bydelsfakta_queries::publication::lease::LeaseRecord;
use bydelsfakta_queries::publication::records::PublishSettings;
use bydelsfakta_queries::publication::{Published, Recovered};
use bydelsfakta_scheduler_client::stores::faults::{Action, Faults, FaultyStore, Operation, Rule};
use bydelsfakta_tests::metrics::{Metrics, delta};
use bydelsfakta_tests::s3::MemoryS3;
use bydelsfakta_tests::serial;
use object_store::ObjectStoreExt;
use support::{Backend, Scenario, State, publish_set, recover_prefix};

/// The counter of publications undone, in this process's registry.
const ROLLED_BACK: &str = "bydelsfakta_publications_rolled_back_total";
/// The counter of lease renewals, in this process's registry.
const RENEWALS: &str = "bydelsfakta_lease_renewals_total";

/// A crashed publisher's lease expires after this long (it is this process, so it is not
/// known to be dead); the next holder waits for it.
const SHORT_LEASE: Duration = Duration::from_millis(150);

fn settings() -> PublishSettings {
    PublishSettings {
        lease_ttl: SHORT_LEASE,
        wait: Duration::from_secs(20),
        deadline_ms: None,
    }
}

/// How many calls of each operation one publication of `scenario` makes on `backend`.
async fn count_calls(backend: &Backend, scenario: Scenario) -> BTreeMap<Operation, u64> {
    let prefix = backend.fresh_prefix();
    scenario.prepare(backend, &prefix).await;
    let counting = FaultyStore::new(backend.store.clone(), Faults::default());
    publish_set(&counting, backend, &prefix, "new", "r1", settings())
        .await
        .unwrap();
    let state = State::read(backend, &prefix).await;
    state.assert_new_complete("new", "r1");
    counting.calls().into_iter().collect()
}

fn faulty(backend: &Backend, operation: Operation, nth: u64, action: Action) -> FaultyStore {
    let rule = Rule {
        operation,
        nth,
        action,
    };
    let faults = Faults {
        rules: vec![rule],
        ..Faults::default()
    };
    FaultyStore::new(backend.store.clone(), faults)
}

/// The new set with `text` published through `store` as run `run_id`, on a task of its own.
fn spawn_publish_set(
    store: &Arc<FaultyStore>,
    backend: &Backend,
    prefix: &str,
    text: &'static str,
    run_id: &'static str,
    settings: PublishSettings,
) -> tokio::task::JoinHandle<bydelsfakta_queries::Result<Published>> {
    let (store, backend, prefix) = (Arc::clone(store), backend.clone(), prefix.to_string());
    tokio::spawn(async move {
        publish_set(store.as_ref(), &backend, &prefix, text, run_id, settings).await
    })
}

/// `first` publishes the set "one" as run r1 on a task of its own; once its fault fires, a
/// competitor publishes "two" as r2 on the store itself. Both outcomes, the first's first.
async fn race(
    first: &Arc<FaultyStore>,
    backend: &Backend,
    prefix: &str,
    settings: PublishSettings,
) -> [bydelsfakta_queries::Result<Published>; 2] {
    let first_run = spawn_publish_set(first, backend, prefix, "one", "r1", settings);
    first.fired().await;
    let store = backend.store.as_ref();
    let second = publish_set(store, backend, prefix, "two", "r2", settings).await;
    [first_run.await.unwrap(), second]
}

/// Every call fails, or lands and then reports failure: the run reports the failure and
/// leaves the previous set byte for byte, or reports success with the new set complete.
async fn every_call_fails(
    backend: &Backend,
    scenario: Scenario,
    calls: &BTreeMap<Operation, u64>,
) -> usize {
    let (mut faults, mut rolled_back) = (0, 0.0);
    for (&operation, &count) in calls {
        for nth in 1..=count {
            for action in [Action::Fail, Action::FailAfter] {
                let what = format!("{} {scenario:?}: {operation} #{nth} {action}", backend.name);
                let prefix = backend.fresh_prefix();
                scenario.prepare(backend, &prefix).await;
                let before = State::read(backend, &prefix).await;
                let store = faulty(backend, operation, nth, action);
                let counted = Metrics::in_process();
                let outcome = publish_set(&store, backend, &prefix, "new", "r1", settings()).await;
                let after = State::read(backend, &prefix).await;
                let rollbacks = delta(&counted, &Metrics::in_process(), ROLLED_BACK);
                rolled_back += rollbacks;
                match &outcome {
                    Ok(_) => {
                        assert_eq!(rollbacks, 0.0, "{what}: published, and rolled back");
                        after.assert_new_complete("new", "r1")
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), "WriteError", "{what}: {e}");
                        assert!(e.to_string().contains(&prefix), "{what}: {e}");
                        assert_eq!(after.set(), before.set(), "{what}: {e}");
                    }
                }
                recover_prefix(backend, &prefix).await;
                let recovered = State::read(backend, &prefix).await;
                recovered.assert_no_leftovers(&what);
                match outcome {
                    Ok(_) => recovered.assert_new_complete("new", "r1"),
                    Err(_) => assert_eq!(recovered.set(), before.set(), "{what}"),
                }
                faults += 1;
            }
        }
    }
    // A failure once the journal is written undoes the documents already changed.
    assert!(rolled_back > 0.0, "{scenario:?}: no failure rolled back");
    faults
}

/// The new set published through `store` as run `r1` and killed (its task dropped, as a
/// process is killed) once `store`'s fault takes effect; `what` names the case.
async fn publish_killed_at_fault(backend: &Backend, prefix: &str, store: FaultyStore, what: &str) {
    let store = Arc::new(store);
    let publisher = spawn_publish_set(&store, backend, prefix, "new", "r1", settings());
    tokio::time::timeout(Duration::from_secs(60), store.fired())
        .await
        .unwrap_or_else(|_| panic!("{what}: the call was never made"));
    publisher.abort();
    let _ = publisher.await;
}

/// The publisher dies at every call, before it is made or once it has landed (its task is
/// dropped there, as a process is killed): `recover` leaves the previous set or the new
/// one complete, and nothing else.
async fn every_call_crashes(
    backend: &Backend,
    scenario: Scenario,
    calls: &BTreeMap<Operation, u64>,
) -> usize {
    let mut crashes = 0;
    for (&operation, &count) in calls {
        for nth in 1..=count {
            for action in [
                Action::Delay(Duration::from_secs(3600)),
                Action::DelayAfter(Duration::from_secs(3600)),
            ] {
                let what = format!("{} {scenario:?}: {operation} #{nth} {action}", backend.name);
                let prefix = backend.fresh_prefix();
                scenario.prepare(backend, &prefix).await;
                let before = State::read(backend, &prefix).await;
                let store = faulty(backend, operation, nth, action);
                publish_killed_at_fault(backend, &prefix, store, &what).await;
                let rollbacks = Metrics::in_process();
                let recovery = recover_prefix(backend, &prefix).await;
                // Recovery counts the publication it undid, and nothing else does.
                assert_eq!(
                    delta(&rollbacks, &Metrics::in_process(), ROLLED_BACK),
                    f64::from(u8::from(matches!(recovery, Recovered::RolledBack { .. }))),
                    "{what}: {recovery:?}"
                );
                let recovered = State::read(backend, &prefix).await;
                recovered.assert_no_leftovers(&what);
                if recovered.set() != before.set() {
                    recovered.assert_new_complete("new", "r1");
                }
                crashes += 1;
            }
        }
    }
    crashes
}

/// A second publisher arrives while the first is held up at each call: it waits for the
/// lease, so the sets never mix, and the last one to publish is the complete set.
async fn a_competitor_at_every_call(
    backend: &Backend,
    scenario: Scenario,
    calls: &BTreeMap<Operation, u64>,
) -> usize {
    let mut races = 0;
    for (&operation, &count) in calls {
        for nth in 1..=count {
            let what = format!(
                "{} {scenario:?}: competitor at {operation} #{nth}",
                backend.name
            );
            let prefix = backend.fresh_prefix();
            scenario.prepare(backend, &prefix).await;
            let held_up = Duration::from_millis(100);
            let first = Arc::new(faulty(backend, operation, nth, Action::Delay(held_up)));
            let patient = PublishSettings {
                lease_ttl: Duration::from_secs(60),
                wait: Duration::from_secs(30),
                deadline_ms: None,
            };
            let [first_outcome, second] = race(&first, backend, &prefix, patient).await;
            assert!(first_outcome.is_ok(), "{what}: {first_outcome:?}");
            assert!(second.is_ok(), "{what}: {second:?}");
            let state = State::read(backend, &prefix).await;
            state.assert_no_leftovers(&what);
            match state.manifest_run().as_deref() {
                Some("r1") => state.assert_new_complete("one", "r1"),
                Some("r2") => state.assert_new_complete("two", "r2"),
                other => panic!("{what}: manifest of {other:?}"),
            }
            races += 1;
        }
    }
    races
}

async fn suite(backend: Backend) {
    let mut report = vec![];
    for scenario in Scenario::ALL {
        let calls = count_calls(&backend, scenario).await;
        let failed = every_call_fails(&backend, scenario, &calls).await;
        let crashed = every_call_crashes(&backend, scenario, &calls).await;
        let mut line = format!("{scenario:?}: {failed} failures, {crashed} crashes");
        if scenario == Scenario::Replace {
            let raced = a_competitor_at_every_call(&backend, scenario, &calls).await;
            line.push_str(&format!(", {raced} competitors"));
        }
        let counts: Vec<String> = calls.iter().map(|(op, n)| format!("{op} {n}")).collect();
        report.push(format!("{line} (calls: {})", counts.join(", ")));
    }
    eprintln!("{}: {}", backend.name, report.join("; "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_on_a_local_folder() {
    // Its leases last 150 ms: alone, so that a loaded machine does not outlast them.
    let _serial = serial::exclusive().await;
    suite(Backend::local()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_on_s3() {
    // Its leases last 150 ms: alone, so that a loaded machine does not outlast them.
    let _serial = serial::exclusive().await;
    suite(Backend::s3().await).await;
}

/// A competitor that cannot wait as long as the holder takes gives up with
/// `PublicationInProgressError` and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impatient_competitor_gives_up_and_changes_nothing() {
    // A 100 ms wait must end before an 800 ms hold does: alone, on a machine not loaded.
    let _serial = serial::exclusive().await;
    let backend = Backend::local();
    let prefix = backend.fresh_prefix();
    Scenario::Replace.prepare(&backend, &prefix).await;
    let first = Arc::new(faulty(
        &backend,
        Operation::Rename,
        2,
        Action::Delay(Duration::from_millis(800)),
    ));
    let first_run = spawn_publish_set(&first, &backend, &prefix, "one", "r1", settings());
    first.fired().await;
    let impatient = PublishSettings {
        lease_ttl: Duration::from_secs(60),
        wait: Duration::from_millis(100),
        deadline_ms: None,
    };
    let err = publish_set(
        backend.store.as_ref(),
        &backend,
        &prefix,
        "two",
        "r2",
        impatient,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), "PublicationInProgressError", "{err}");
    assert!(err.to_string().contains("run r1"), "{err}");
    first_run.await.unwrap().unwrap();
    let state = State::read(&backend, &prefix).await;
    state.assert_new_complete("one", "r1");
    state.assert_no_leftovers("after the impatient competitor");
}

/// Patient settings for the races below: leases that outlast any hold of theirs.
fn patient() -> PublishSettings {
    PublishSettings {
        lease_ttl: Duration::from_secs(60),
        wait: Duration::from_secs(30),
        deadline_ms: None,
    }
}

/// Two publishers that both find no lease race for the same one: the first is held after
/// its look, the second takes the lease and is held while it moves its documents. The
/// first must then find the lease taken and wait, not take one of its own and sweep the
/// second's staged documents and backups.
async fn both_find_no_lease(backend: &Backend) {
    let prefix = backend.fresh_prefix();
    Scenario::Replace.prepare(backend, &prefix).await;
    let held = Duration::from_millis(300);
    let first = Arc::new(faulty(backend, Operation::Create, 1, Action::Delay(held)));
    let first_run = spawn_publish_set(&first, backend, &prefix, "one", "r1", patient());
    first.fired().await;
    let moving = Duration::from_secs(1);
    let second_store = faulty(backend, Operation::Rename, 1, Action::Delay(moving));
    let second = publish_set(&second_store, backend, &prefix, "two", "r2", patient()).await;
    let first_outcome = first_run.await.unwrap();
    let what = format!("{}: both found no lease", backend.name);
    let outcomes = [first_outcome, second];
    assert_took_turns(backend, &prefix, &what, &outcomes, ("one", "r1")).await;
}

/// Both publishers published, one after the other: the prefix holds the set of `last`
/// (its text and run), complete, and nothing else.
async fn assert_took_turns(
    backend: &Backend,
    prefix: &str,
    what: &str,
    outcomes: &[bydelsfakta_queries::Result<Published>; 2],
    last: (&str, &str),
) {
    for (publisher, outcome) in ["first", "second"].iter().zip(outcomes) {
        assert!(outcome.is_ok(), "{what}: the {publisher}: {outcome:?}");
    }
    let state = State::read(backend, prefix).await;
    state.assert_no_leftovers(what);
    state.assert_new_complete(last.0, last.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_publishers_that_find_no_lease_take_turns() {
    let _serial = serial::shared().await;
    both_find_no_lease(&Backend::local()).await;
    both_find_no_lease(&Backend::s3().await).await;
}

/// S3 retries a conditional put that was answered with a server error although it landed,
/// and the retry is refused as if another publisher had been first. The lease's create and
/// the journal's each lose their answer once: the publisher finds its own object there and
/// publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_was_lost_is_the_publishers_own() {
    let _serial = serial::shared().await;
    let memory = MemoryS3::default();
    let backend = Backend::s3_over(memory.clone()).await;
    for (lost, key_end) in [(1, ".json"), (2, "/journal.json")] {
        let what = format!("the answer to the create of *{key_end} lost");
        let prefix = backend.fresh_prefix();
        Scenario::Replace.prepare(&backend, &prefix).await;
        memory.lose_answer_of_create(key_end);
        let settings = PublishSettings {
            wait: Duration::from_secs(2),
            ..patient()
        };
        let published = publish_set(
            backend.store.as_ref(),
            &backend,
            &prefix,
            "new",
            "r1",
            settings,
        )
        .await;
        assert_eq!(memory.answers_lost(), lost, "{what}: the fault fired");
        assert!(published.is_ok(), "{what}: {published:?}");
        let state = State::read(&backend, &prefix).await;
        state.assert_new_complete("new", "r1");
        state.assert_no_leftovers(&what);
    }
}

/// What a watcher of the prefix's lease objects saw while they were there: every lease
/// that was already expired (a competitor would have taken it over), as `key: ms late`.
async fn watch_the_lease(backend: Backend, prefix: String, stop: Arc<AtomicBool>) -> Vec<String> {
    let mut expired = vec![];
    // Bounded: the publications it watches end within seconds.
    for _ in 0..1500 {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        for meta in backend
            .listed(&format!("{prefix}_publication/lease/"))
            .await
        {
            // Released between the listing and the read: nothing to see.
            let Ok(got) = backend.store.get(&meta.location).await else {
                continue;
            };
            let Ok(bytes) = got.bytes().await else {
                continue;
            };
            let record: LeaseRecord = serde_json::from_slice(&bytes).expect("a lease record");
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64;
            if record.expires_at_ms < now {
                let late = now - record.expires_at_ms;
                expired.push(format!(
                    "{} ({}): {late} ms late",
                    meta.location, record.run_id
                ));
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    expired
}

/// A step that takes longer than the lease, each of its calls within half the lease: the
/// manifest's delete, the moves and the old document's delete each take 450 ms against a
/// 1.2 s lease. The publisher renews its lease before a write that would start on less
/// than half of it, so the lease never lapses while it works (a competitor would take over
/// a lapsed one and recover from the journal while the moves go on), and a competitor that
/// arrives meanwhile waits for it.
async fn a_step_longer_than_the_lease(backend: &Backend) {
    let prefix = backend.fresh_prefix();
    Scenario::Replace.prepare(backend, &prefix).await;
    let slow = Action::Delay(Duration::from_millis(450));
    let rules = [(Operation::Delete, 1), (Operation::Delete, 2)]
        .into_iter()
        .chain((1..=4).map(|nth| (Operation::Rename, nth)))
        .map(|(operation, nth)| Rule {
            operation,
            nth,
            action: slow,
        })
        .collect();
    let faults = Faults {
        rules,
        ..Faults::default()
    };
    let first = Arc::new(FaultyStore::new(backend.store.clone(), faults));
    let settings = PublishSettings {
        lease_ttl: Duration::from_millis(1200),
        wait: Duration::from_secs(20),
        deadline_ms: None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn(watch_the_lease(
        backend.clone(),
        prefix.clone(),
        stop.clone(),
    ));
    let counted = Metrics::in_process();
    // The competitor comes at the manifest's delete, the first write of step 6.
    let outcomes = race(&first, backend, &prefix, settings).await;
    stop.store(true, Ordering::SeqCst);
    let expired = watcher.await.unwrap();
    let what = format!("{}: a step longer than the lease", backend.name);
    let renewals = delta(&counted, &Metrics::in_process(), RENEWALS);
    assert!(renewals >= 1.0, "{what}: {renewals} renewals counted");
    assert_eq!(
        first.calls()[&Operation::Rename],
        4,
        "{what}: the moves ran"
    );
    assert!(expired.is_empty(), "{what}: a lease lapsed: {expired:?}");
    assert_took_turns(backend, &prefix, &what, &outcomes, ("two", "r2")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_longer_than_the_lease_keeps_it() {
    let _serial = serial::shared().await;
    a_step_longer_than_the_lease(&Backend::local()).await;
    a_step_longer_than_the_lease(&Backend::s3().await).await;
}
