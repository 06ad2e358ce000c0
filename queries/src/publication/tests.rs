//! The protocol on a store in memory and on a local folder. Every failure, delay and kill
//! at every store call is exercised by `tests/tests/publication/`.

use std::time::Duration;

use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};

use super::*;

const PREFIX: &str = "out/edition=1/lambda_invoker/";

fn bucket() -> Bucket {
    Bucket::parse("memory://test").unwrap()
}

fn run(run_id: &str) -> RunRecord {
    RunRecord {
        run_id: run_id.into(),
        function: "test".into(),
        dataset_type: "status".into(),
        engine: "embedded".into(),
        started_at: "2026-11-28T00:00:00.000Z".into(),
        inputs: vec![records::InputObject::new(
            "fodte",
            "processed/green/fodte/version=1/edition=E/fodte.csv".into(),
            42,
            Some("\"etag\"".into()),
        )],
    }
}

fn documents(names: &[&str], text: &str) -> Vec<Document> {
    names
        .iter()
        .map(|name| Document {
            file_name: format!("{name}.json"),
            body: format!("{{\"{name}\": \"{text}\"}}"),
        })
        .collect()
}

async fn publish_as(
    store: &dyn ObjectStore,
    bucket: &Bucket,
    run_id: &str,
    docs: Vec<Document>,
    settings: PublishSettings,
) -> Result<Published> {
    let run = run(run_id);
    let publication = Publication {
        bucket,
        prefix: PREFIX,
        output_dataset: "test-output",
        published_date: "2026-11-28",
        run: &run,
        settings,
    };
    publish(store, &publication, docs).await
}

async fn keys(store: &dyn ObjectStore) -> Vec<String> {
    let mut keys: Vec<String> = store
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

async fn text(store: &dyn ObjectStore, key: &str) -> String {
    let bytes = store.get(&key.into()).await.unwrap().bytes().await.unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

async fn manifest(store: &dyn ObjectStore) -> Manifest {
    serde_json::from_str(&text(store, &format!("{PREFIX}_manifest.json")).await).unwrap()
}

fn in_prefix(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!("{PREFIX}{n}")).collect()
}

#[tokio::test]
async fn publishes_the_set_with_its_manifest_and_nothing_else() {
    let store = InMemory::new();
    let docs = documents(&["00", "01", "02"], "a");
    let published = publish_as(&store, &bucket(), "r1", docs.clone(), Default::default())
        .await
        .unwrap();
    assert_eq!(published.documents, 3);
    assert!(!published.already_published);
    assert_eq!(
        keys(&store).await,
        in_prefix(&["00.json", "01.json", "02.json", "_manifest.json"])
    );
    let manifest = manifest(&store).await;
    assert_eq!(manifest.run_id, "r1");
    assert_eq!(manifest.output_prefix, PREFIX);
    assert_eq!(manifest.inputs, run("r1").inputs);
    assert_eq!(
        manifest.documents,
        docs.iter().map(DocumentEntry::of).collect::<Vec<_>>()
    );
    assert_eq!(manifest.bytes(), published.bytes);
    for doc in &docs {
        assert_eq!(
            text(&store, &format!("{PREFIX}{}", doc.file_name)).await,
            doc.body
        );
    }
}

#[tokio::test]
async fn a_new_set_replaces_the_old_and_removes_what_it_no_longer_has() {
    let store = InMemory::new();
    let b = bucket();
    publish_as(
        &store,
        &b,
        "r1",
        documents(&["00", "01", "02"], "old"),
        Default::default(),
    )
    .await
    .unwrap();
    publish_as(
        &store,
        &b,
        "r2",
        documents(&["00", "01", "03"], "new"),
        Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        keys(&store).await,
        in_prefix(&["00.json", "01.json", "03.json", "_manifest.json"])
    );
    assert!(
        text(&store, &format!("{PREFIX}00.json"))
            .await
            .contains("new")
    );
    let manifest = manifest(&store).await;
    assert_eq!(
        (manifest.run_id.as_str(), manifest.removed),
        ("r2", vec!["02.json".to_string()])
    );
}

// A Ballista task can run twice: the second attempt of a run finds its set published.
#[tokio::test]
async fn the_same_run_twice_publishes_once() {
    let store = InMemory::new();
    let b = bucket();
    let docs = documents(&["00", "01"], "a");
    publish_as(&store, &b, "r1", docs.clone(), Default::default())
        .await
        .unwrap();
    let first = manifest(&store).await;
    let again = publish_as(&store, &b, "r1", docs, Default::default())
        .await
        .unwrap();
    assert!(again.already_published);
    assert_eq!(again.documents, 2);
    assert_eq!(manifest(&store).await, first, "nothing was rewritten");
}

#[tokio::test]
async fn a_held_lease_makes_the_other_publisher_wait_then_give_up() {
    let store = InMemory::new();
    let b = bucket();
    let site = Site::new(&store, &b, PREFIX);
    let settings = PublishSettings {
        lease_ttl: Duration::from_secs(60),
        wait: Duration::from_millis(200),
        deadline_ms: None,
    };
    let held = Lease::acquire(&site, "holder", &settings).await.unwrap();
    let err = publish_as(&store, &b, "r2", documents(&["00"], "x"), settings)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "PublicationInProgressError");
    assert!(err.to_string().contains("run holder"), "{err}");
    assert!(err.to_string().contains(PREFIX), "{err}");
    held.release(&site).await.unwrap();
    publish_as(&store, &b, "r2", documents(&["00"], "x"), settings)
        .await
        .unwrap();
    assert_eq!(
        keys(&store).await,
        in_prefix(&["00.json", "_manifest.json"])
    );
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_its_holder_stops_for_good() {
    let store = InMemory::new();
    let b = bucket();
    let site = Site::new(&store, &b, PREFIX);
    let short = PublishSettings {
        lease_ttl: Duration::from_millis(50),
        wait: Duration::from_secs(5),
        deadline_ms: None,
    };
    let mut stale = Lease::acquire(&site, "paused", &short).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    publish_as(&store, &b, "r2", documents(&["00"], "x"), short)
        .await
        .unwrap();
    let err = stale.check(&site).await.unwrap_err();
    assert_eq!(err.kind(), "LeaseLostError");

    // Every lease is released now, so the next publisher starts at generation 1 again:
    // the overtaken holder must not take that lease for its own, nor release it.
    let settings = PublishSettings {
        lease_ttl: Duration::from_secs(60),
        ..short
    };
    let mut again = Lease::acquire(&site, "r3", &settings).await.unwrap();
    let err = stale.check(&site).await.unwrap_err();
    assert_eq!(err.kind(), "LeaseLostError");
    stale.release(&site).await.unwrap();
    again.check(&site).await.unwrap();
    again.release(&site).await.unwrap();
}

/// A holder paused past its lease and overtaken: its next write is refused before it
/// starts, with the kind a lost lease has, and the other holder's document stays.
#[tokio::test]
async fn a_write_on_a_lease_taken_over_is_refused_before_it_starts() {
    let store = InMemory::new();
    let b = bucket();
    let paused = Site::new(&store, &b, PREFIX);
    let short = PublishSettings {
        lease_ttl: Duration::from_millis(50),
        wait: Duration::from_secs(5),
        deadline_ms: None,
    };
    paused
        .hold(Lease::acquire(&paused, "paused", &short).await.unwrap())
        .await;
    paused
        .put(&paused.document("00.json"), "mine")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let other = Site::new(&store, &b, PREFIX);
    let settings = PublishSettings {
        lease_ttl: Duration::from_secs(60),
        ..short
    };
    let taken = Lease::acquire(&other, "other", &settings).await.unwrap();
    other
        .put(&other.document("00.json"), "theirs")
        .await
        .unwrap();

    let refused = paused
        .put(&paused.document("00.json"), "mine again")
        .await
        .map_err(Error::from)
        .unwrap_err();
    assert_eq!(refused.kind(), "LeaseLostError", "{refused}");
    assert!(refused.to_string().contains("run paused"), "{refused}");
    let found = store
        .get(&b.path(&other.document("00.json")))
        .await
        .unwrap();
    assert_eq!(found.bytes().await.unwrap(), "theirs");
    taken.release(&other).await.unwrap();
}

#[tokio::test]
async fn two_publishers_at_once_take_turns() {
    let store = InMemory::new();
    let b = bucket();
    let (first, second) = tokio::join!(
        publish_as(
            &store,
            &b,
            "r1",
            documents(&["00", "01"], "one"),
            Default::default()
        ),
        publish_as(
            &store,
            &b,
            "r2",
            documents(&["00", "01"], "two"),
            Default::default()
        ),
    );
    first.unwrap();
    second.unwrap();
    let manifest = manifest(&store).await;
    let body = text(&store, &format!("{PREFIX}00.json")).await;
    let winner = if manifest.run_id == "r1" {
        "one"
    } else {
        "two"
    };
    assert!(
        body.contains(winner),
        "{body} under the manifest of {}",
        manifest.run_id
    );
    assert_eq!(
        keys(&store).await,
        in_prefix(&["00.json", "01.json", "_manifest.json"])
    );
}

#[tokio::test]
async fn bookkeeping_is_found_under_a_prefix_or_in_the_whole_bucket() {
    let store = InMemory::new();
    let b = bucket();
    for key in [
        "a/x/_publication/journal.json",
        "a/x/_publication/runs/r/staged/00.json",
        "b/_publication/lease/0000000001-r.json",
        "a/x/00.json",
    ] {
        store.put(&key.into(), "{}".into()).await.unwrap();
    }
    assert_eq!(
        find_bookkeeping(&store, &b, "").await.unwrap(),
        vec!["a/x/", "b/"]
    );
    assert_eq!(
        find_bookkeeping(&store, &b, "a").await.unwrap(),
        vec!["a/x/"]
    );
    assert!(find_bookkeeping(&store, &b, "c/").await.unwrap().is_empty());
}

/// A local folder keeps folders: once published, only the documents and the manifest are
/// left, and a put killed half-way (`<name>#<n>`) is cleaned up by the next holder.
#[tokio::test]
async fn a_local_folder_keeps_only_the_set() {
    let dir = tempfile::tempdir().unwrap();
    let store = object_store::local::LocalFileSystem::new();
    let b = Bucket::parse(&format!("file://{}", dir.path().display())).unwrap();
    publish_as(
        &store,
        &b,
        "r1",
        documents(&["00", "01"], "a"),
        Default::default(),
    )
    .await
    .unwrap();
    let folder = dir.path().join(PREFIX);
    std::fs::write(folder.join("01.json#3"), "half").unwrap();
    publish_as(
        &store,
        &b,
        "r2",
        documents(&["00", "01"], "b"),
        Default::default(),
    )
    .await
    .unwrap();
    let mut found: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(found, vec!["00.json", "01.json", "_manifest.json"]);
}

/// A process killed inside its lease's conditional put leaves `<lease>#<n>`: the next holder
/// deletes it once it is too old to be another publisher's put under way, and not before.
#[tokio::test]
async fn a_lease_write_killed_half_way_is_deleted_once_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let store = object_store::local::LocalFileSystem::new();
    let b = Bucket::parse(&format!("file://{}", dir.path().display())).unwrap();
    let leases = dir.path().join(PREFIX).join("_publication/lease");
    std::fs::create_dir_all(&leases).unwrap();
    let abandoned = leases.join("0000000001-dead.json#1");
    let under_way = leases.join("0000000001-live.json#1");
    for file in [&abandoned, &under_way] {
        std::fs::write(file, "half").unwrap();
    }
    let long_ago = std::time::SystemTime::now() - site::ABANDONED_LEASE_WRITE * 2;
    std::fs::File::options()
        .write(true)
        .open(&abandoned)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    publish_as(
        &store,
        &b,
        "r1",
        documents(&["00"], "a"),
        Default::default(),
    )
    .await
    .unwrap();
    assert!(!abandoned.exists(), "the abandoned write is deleted");
    assert!(under_way.exists(), "a write that may be under way is kept");
}
