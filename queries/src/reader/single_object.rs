//! Finding the one object under an input prefix.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

use futures::TryStreamExt;
use object_store::ObjectStore;

use crate::bucket::Bucket;
use crate::error::{Error, Result};
use crate::local_calls;
use crate::publication::records::InputObject;

/// The single object under `prefix`, with S3 prefix semantics (`a/b` also matches
/// `a/bc/...`).
pub async fn locate_single_object(
    store: &dyn ObjectStore,
    bucket: &Bucket,
    dataset: &str,
    prefix: &str,
) -> Result<InputObject> {
    let (dir, partial) = match prefix.rfind('/') {
        Some(i) => (&prefix[..i], &prefix[i + 1..]),
        None => ("", prefix),
    };
    // In a local bucket, an entry the process cannot read fails the store's listing (a
    // link that loops) naming neither the input nor the object, or is skipped by it (a link
    // that leads nowhere); only then is the folder walked, to name it.
    let listed: Vec<_> = match store.list(Some(&bucket.path(dir))).try_collect().await {
        Ok(listed) => listed,
        Err(object_store::Error::NotFound { .. }) => vec![],
        Err(e) => {
            let failed = unreadable(bucket, dataset, dir, partial)
                .await
                .unwrap_or_else(|| Error::from(e));
            return Err(failed.reading(dataset, prefix));
        }
    };
    let mut found: Vec<InputObject> = listed
        .into_iter()
        .map(|meta| {
            let key = bucket.key(&meta.location);
            InputObject::new(dataset, key, meta.size, meta.e_tag)
        })
        .filter(|object| {
            let key = &object.key;
            let rest = key.strip_prefix(dir).unwrap_or(key).trim_start_matches('/');
            rest.starts_with(partial)
        })
        .collect();
    match found.len() {
        0 => Err(match unreadable(bucket, dataset, dir, partial).await {
            Some(failed) => failed.reading(dataset, prefix),
            None => Error::EmptyPrefix {
                dataset: dataset.into(),
                prefix: prefix.into(),
            },
        }),
        1 => {
            let object = found.remove(0);
            if let Some(file) = bucket.local_folder(&object.key)
                && !checked_before(bucket, &object)
            {
                let (in_bucket, dataset, key) =
                    (bucket.clone(), dataset.to_string(), object.key.clone());
                local_calls::bounded("link check", &file, false, move || {
                    inside_the_bucket(&in_bucket, &dataset, &key)
                })
                .await
                .map_err(|e| e.reading(&object.dataset, &object.key))??;
                remember_checked(bucket, &object);
            }
            Ok(object)
        }
        _ => {
            let mut objects: Vec<String> = found.into_iter().map(|o| o.key).collect();
            objects.sort();
            Err(Error::MultipleFiles {
                dataset: dataset.into(),
                prefix: prefix.into(),
                objects,
            })
        }
    }
}

/// Objects of local buckets whose link check passed, by URL and entity tag: a local
/// folder's tag is the file's inode, modification time and size, so a file replaced by a
/// link, or a link pointed elsewhere, lists with another tag and is checked again. A batch
/// reads an object for several outputs; checked once, it costs one call of the file
/// system, not one per output (each call a trip to the blocking pool, [`local_calls`]).
static CHECKED: LazyLock<Mutex<HashSet<(String, String)>>> = LazyLock::new(Mutex::default);

/// How many checked objects are remembered at most; then the memory starts again.
const CHECKED_AT_MOST: usize = 4096;

fn checked_before(bucket: &Bucket, object: &InputObject) -> bool {
    object.e_tag.as_ref().is_some_and(|tag| {
        let checked = CHECKED.lock().expect("checked objects");
        checked.contains(&(bucket.object_url(&object.key), tag.clone()))
    })
}

fn remember_checked(bucket: &Bucket, object: &InputObject) {
    if let Some(tag) = &object.e_tag {
        let mut checked = CHECKED.lock().expect("checked objects");
        if checked.len() >= CHECKED_AT_MOST {
            checked.clear();
        }
        checked.insert((bucket.object_url(&object.key), tag.clone()));
    }
}

/// In a local bucket, the first entry under the prefix's folder that the process cannot
/// read, as the input's error (or the walk's, if the folder does not answer).
async fn unreadable(bucket: &Bucket, dataset: &str, dir: &str, partial: &str) -> Option<Error> {
    let folder = bucket.local_folder(dir)?;
    let (key, partial) = (dir.to_string(), partial.to_string());
    let walked = local_calls::bounded("walk", &folder.clone(), false, move || {
        unreadable_entry(&folder, &key, &partial, MAX_FOLDER_DEPTH)
    })
    .await;
    let (file, problem) = match walked {
        Ok(found) => found?,
        Err(unanswered) => return Some(unanswered),
    };
    Some(Error::InputFile {
        dataset: dataset.into(),
        file,
        line: None,
        column: None,
        problem,
    })
}

/// In a local bucket, the object must be a file inside the bucket's folder that the process
/// may read: a symbolic link out of it (to `/etc/passwd`, say) is refused before anything
/// is read, and a file it may not open is named here rather than by the store's error.
fn inside_the_bucket(bucket: &Bucket, dataset: &str, key: &str) -> Result<()> {
    let (Some(root), Some(file)) = (bucket.local_folder(""), bucket.local_folder(key)) else {
        return Ok(());
    };
    let refused = |problem: String| Error::InputFile {
        dataset: dataset.into(),
        file: key.into(),
        line: None,
        column: None,
        problem,
    };
    let root = std::fs::canonicalize(&root)
        .map_err(|e| refused(format!("the bucket folder cannot be resolved: {e}")))?;
    let target = std::fs::canonicalize(&file)
        .map_err(|e| refused(format!("the object cannot be resolved: {e}")))?;
    if !target.starts_with(&root) {
        return Err(refused(
            "a link to a file outside the bucket; it is not read".into(),
        ));
    }
    std::fs::File::open(&target).map_err(|e| refused(cannot_be_read(&e)))?;
    Ok(())
}

/// `cannot be read: permission denied`, from the file system's error.
fn cannot_be_read(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    let mut chars = text.chars();
    let first = chars.next().map(|c| c.to_lowercase().to_string());
    format!(
        "cannot be read: {}{}",
        first.unwrap_or_default(),
        chars.as_str()
    )
}

/// How many folders deep below an input prefix [`unreadable_entry`] looks. An input prefix
/// holds one object, most often directly; the bound keeps the recursion finite, and what
/// lies deeper is left to the store's listing.
const MAX_FOLDER_DEPTH: usize = 8;

/// In a local bucket, the first entry under `folder` (bucket key `key`, and at most `depth`
/// folders further down) whose name starts with `partial` that cannot be read, and why: a
/// link that loops or leads nowhere, a file or folder the process may not read. The store
/// fails on some of them naming neither the input nor the object (a loop), and skips
/// others as if there were no object (a link that leads nowhere).
fn unreadable_entry(
    folder: &std::path::Path,
    key: &str,
    partial: &str,
    depth: usize,
) -> Option<(String, String)> {
    let cannot = |key: String, e: &std::io::Error| Some((key, cannot_be_read(e)));
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        // No folder: no object, which the listing reports.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return None;
        }
        Err(e) => return cannot(format!("{key}/"), &e),
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => return cannot(format!("{key}/"), &e),
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(partial) {
            continue;
        }
        let entry_key = match key {
            "" => name,
            key => format!("{key}/{name}"),
        };
        let path = entry.path();
        let link = entry.file_type().is_ok_and(|t| t.is_symlink());
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if link {
                    return Some((
                        entry_key,
                        "cannot be read: a link to a file that does not exist".into(),
                    ));
                }
                // Gone since the folder was read.
            }
            Err(e) => return cannot(entry_key, &e),
            // A linked folder is left to the store, which finds the loops among folders.
            Ok(meta) if meta.is_dir() && !link => {
                let below = depth.checked_sub(1);
                if let Some(found) = below.and_then(|d| unreadable_entry(&path, &entry_key, "", d))
                {
                    return Some(found);
                }
            }
            // Only a regular file is opened (a named pipe would wait for a writer); the
            // store lists nothing else.
            Ok(meta) if meta.is_file() => {
                if let Err(e) = std::fs::File::open(&path) {
                    return cannot(entry_key, &e);
                }
            }
            Ok(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::local::LocalFileSystem;

    const PREFIX: &str = "processed/green/d/version=1/edition=1/";

    /// A bucket whose prefix holds `d.csv`, made by `make` in the prefix's folder.
    async fn located(make: impl Fn(&std::path::Path)) -> Result<InputObject> {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join(PREFIX);
        std::fs::create_dir_all(&folder).unwrap();
        make(&folder);
        let bucket = Bucket::folder(dir.path()).unwrap();
        locate_single_object(&LocalFileSystem::new(), &bucket, "d", PREFIX).await
    }

    fn message(located: Result<InputObject>) -> (&'static str, String) {
        let e = located.expect_err("the object cannot be read");
        (e.kind(), e.to_string())
    }

    /// A checked object is not checked again while it lists the same; replaced by a link
    /// out of the bucket, it lists with another tag and is refused.
    #[tokio::test]
    async fn a_file_replaced_by_a_link_out_of_the_bucket_is_checked_again() {
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("bucket"), dir.path().join("outside.csv"));
        let folder = root.join(PREFIX);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("d.csv"), "a;b\n1;2\n").unwrap();
        std::fs::write(&outside, "a;b\n1;2\n").unwrap();
        let bucket = Bucket::folder(&root).unwrap();
        let store = LocalFileSystem::new();
        let first = locate_single_object(&store, &bucket, "d", PREFIX)
            .await
            .unwrap();
        assert!(checked_before(&bucket, &first));
        std::fs::remove_file(folder.join("d.csv")).unwrap();
        std::os::unix::fs::symlink(&outside, folder.join("d.csv")).unwrap();
        let (kind, said) = message(locate_single_object(&store, &bucket, "d", PREFIX).await);
        assert_eq!(kind, "InputFileError");
        assert!(said.contains("outside the bucket"), "{said}");
    }

    #[tokio::test]
    async fn an_object_that_cannot_be_read_is_named_by_its_key() {
        let key = format!("input d ({PREFIX}d.csv): cannot be read: ");
        let looped = located(|f| std::os::unix::fs::symlink("d.csv", f.join("d.csv")).unwrap());
        assert_eq!(
            message(looped.await),
            (
                "InputFileError",
                format!("{key}too many levels of symbolic links")
            )
        );
        let nowhere = located(|f| std::os::unix::fs::symlink("gone.csv", f.join("d.csv")).unwrap());
        assert_eq!(
            message(nowhere.await),
            (
                "InputFileError",
                format!("{key}a link to a file that does not exist")
            )
        );
        let folder = located(|f| {
            std::fs::create_dir(f.join("sub")).unwrap();
            std::os::unix::fs::symlink("d.csv", f.join("sub/d.csv")).unwrap();
        });
        assert!(
            message(folder.await)
                .1
                .contains(&format!("({PREFIX}sub/d.csv)")),
            "an object below a folder under the prefix"
        );
        let fine = located(|f| std::fs::write(f.join("d.csv"), "a;b\n1;2\n").unwrap());
        assert_eq!(fine.await.unwrap().key, format!("{PREFIX}d.csv"));
    }

    #[tokio::test]
    async fn a_file_the_process_may_not_read_is_named_by_its_key() {
        use std::os::unix::fs::PermissionsExt;
        let closed = |f: &std::path::Path| {
            let file = f.join("d.csv");
            std::fs::write(&file, "a;b\n1;2\n").unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
        };
        let probe = tempfile::tempdir().unwrap();
        closed(probe.path());
        if std::fs::File::open(probe.path().join("d.csv")).is_ok() {
            eprintln!("skipped: this process reads every file (root)");
            return;
        }
        assert_eq!(
            message(located(closed).await),
            (
                "InputFileError",
                format!("input d ({PREFIX}d.csv): cannot be read: permission denied")
            )
        );
    }
}
