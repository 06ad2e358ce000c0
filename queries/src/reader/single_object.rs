//! Finding the one object under an input prefix.

use futures::TryStreamExt;
use object_store::ObjectStore;

use crate::bucket::Bucket;
use crate::error::{Error, Result};
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
    let listed: Vec<_> = store
        .list(Some(&bucket.path(dir)))
        .try_collect()
        .await
        .or_else(|e| match e {
            object_store::Error::NotFound { .. } => Ok(vec![]),
            e => Err(e),
        })?;
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
        0 => Err(Error::EmptyPrefix {
            dataset: dataset.into(),
            prefix: prefix.into(),
        }),
        1 => {
            let object = found.remove(0);
            inside_the_bucket(bucket, dataset, &object.key)?;
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

/// In a local bucket, the object must be a file inside the bucket's folder: a symbolic
/// link out of it (to `/etc/passwd`, say) is refused before anything is read.
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
    Ok(())
}
