//! The bucket: a URL naming an object store and a root inside it (`file:///abs/dir`,
//! `s3://name`). Keys of the pipeline (prefixes, object keys) are relative to the root.
//!
//! A folder's name may hold anything a file system allows (`#`, `?`, `%`, spaces, `ø`): the
//! URL is built from the path (`Url::from_directory_path`), never pasted together, and the
//! root is kept as object_store names it, so keys are compared in one encoding.

use datafusion::execution::object_store::ObjectStoreUrl;
use object_store::path::{Path, PathPart};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};

/// A bucket URL, parsed once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Bucket {
    /// `file:///abs/folder/` or `s3://name/[root/]`, always with a trailing slash.
    url: Url,
    /// The store the bucket lives in: `file:///` or `s3://name/`.
    store: ObjectStoreUrl,
    /// The bucket's root inside its store (the folder of a `file://` bucket).
    root: Path,
}

impl Bucket {
    /// Parses `file:///abs/dir` (or `file://localhost/abs/dir`) or `s3://name[/root]`.
    pub fn parse(text: &str) -> Result<Self> {
        let problem = |problem: String| Error::Bucket {
            url: text.into(),
            problem,
        };
        let mut url = Url::parse(text).map_err(|e| {
            problem(format!(
                "not a URL ({e}); use file:///absolute/folder, a folder path, or s3://bucket"
            ))
        })?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(problem(
                "a bucket URL has no '?' or '#' part; give a folder with such characters as a path, or percent-encode them"
                    .into(),
            ));
        }
        match url.scheme() {
            "file" => {
                if let Some(host) = url
                    .host_str()
                    .filter(|h| !h.is_empty() && *h != "localhost")
                {
                    return Err(problem(format!(
                        "a file bucket is on this machine; '{host}' is another host (use file:///folder)"
                    )));
                }
                url.set_host(None).expect("a file URL can lose its host");
                if url.path().trim_matches('/').is_empty() {
                    return Err(problem(
                        "a file bucket needs a folder, e.g. file:///tmp/bucket".into(),
                    ));
                }
            }
            "s3" | "memory" => {
                if url.host_str().is_none_or(str::is_empty) && url.scheme() == "s3" {
                    return Err(problem(
                        "an S3 bucket needs a name, e.g. s3://my-bucket".into(),
                    ));
                }
            }
            other => {
                return Err(problem(format!(
                    "unsupported scheme '{other}'; use file:// or s3://"
                )));
            }
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        let root = Path::from_url_path(url.path()).map_err(|e| problem(e.to_string()))?;
        let store = ObjectStoreUrl::parse(format!(
            "{}://{}",
            url.scheme(),
            url.host_str().unwrap_or("")
        ))
        .map_err(|e| problem(e.to_string()))?;
        Ok(Self { url, store, root })
    }

    /// The bucket of an absolute folder, whatever its name holds.
    pub fn folder(folder: &std::path::Path) -> Result<Self> {
        let url = Url::from_directory_path(folder).map_err(|()| Error::Bucket {
            url: folder.display().to_string(),
            problem: "a bucket folder must be an absolute path".into(),
        })?;
        Self::parse(url.as_str())
    }

    /// A bucket URL as given (it has `://`), or a folder path, which must exist. The file
    /// system answers within the local call limit ([`crate::local_calls`]): a hung mount
    /// fails the command instead of holding it.
    pub async fn from_arg(arg: &str) -> Result<Self> {
        if arg.contains("://") {
            return Self::parse(arg);
        }
        let given = std::path::PathBuf::from(arg);
        let resolved = crate::local_calls::bounded("folder check", &given.clone(), false, || {
            std::fs::canonicalize(given).map(|folder| {
                let is_dir = folder.is_dir();
                (folder, is_dir)
            })
        })
        .await?;
        match resolved {
            Ok((folder, true)) => Self::folder(&folder),
            Ok((_, false)) => Err(Error::Bucket {
                url: arg.into(),
                problem: "not a folder".into(),
            }),
            Err(e) => Err(Error::Bucket {
                url: arg.into(),
                problem: format!("not a folder: {e}"),
            }),
        }
    }

    /// The URL, without its trailing slash.
    pub fn url(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }

    pub fn scheme(&self) -> &str {
        self.url.scheme()
    }

    /// The object store this bucket lives in (`file://`, `s3://name`).
    pub fn store_url(&self) -> ObjectStoreUrl {
        self.store.clone()
    }

    /// The store path of a bucket key. A key's segments are taken as they are (`#`, `%`
    /// and `ø` included); one that cannot name an object (`.`, `..`, a control character)
    /// is percent-encoded, so no key reaches outside the root.
    pub fn path(&self, key: &str) -> Path {
        let segments = key
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|segment| PathPart::parse(segment).unwrap_or_else(|_| PathPart::from(segment)));
        Path::from_iter(self.root.parts().chain(segments))
    }

    /// The bucket key of a store path (inverse of [`Bucket::path`]); a path outside the
    /// root keeps its whole name.
    pub fn key(&self, path: &Path) -> String {
        match path.prefix_match(&self.root) {
            Some(parts) => parts
                .map(|part| part.as_ref().to_string())
                .collect::<Vec<_>>()
                .join("/"),
            None => path.as_ref().to_string(),
        }
    }

    /// The folder of a bucket key when the bucket is a local folder: stores keep no
    /// folders, but a file system does, and an emptied one is left behind.
    pub fn local_folder(&self, key: &str) -> Option<std::path::PathBuf> {
        if self.scheme() != "file" {
            return None;
        }
        let mut folder = self.url.to_file_path().ok()?;
        folder.extend(key.split('/').filter(|s| !s.is_empty()));
        Some(folder)
    }

    /// Refuses an output prefix that leaves a local bucket through a link: a folder of the
    /// prefix that already exists must resolve inside the bucket, or the documents would
    /// land wherever the link points. Other buckets have no links. The file system's
    /// answers come within the local call limit ([`crate::local_calls`]).
    pub async fn check_output_prefix(&self, prefix: &str) -> Result<()> {
        let Some(root) = self.local_folder("") else {
            return Ok(());
        };
        let (url, prefix) = (self.url.to_string(), prefix.to_string());
        crate::local_calls::bounded("link check", &root.clone(), false, move || {
            links_stay_inside(&url, root, &prefix)
        })
        .await?
    }

    /// A URL DataFusion's readers accept for a bucket key (a key ending in `/` stays a
    /// folder), every segment percent-encoded as URLs require.
    pub fn object_url(&self, key: &str) -> String {
        let mut url = Url::parse(self.store.as_str()).expect("a store URL is a URL");
        {
            let mut segments = url.path_segments_mut().expect("a store URL has a path");
            segments.pop_if_empty();
            for part in self.path(key).parts() {
                segments.push(part.as_ref());
            }
            if key.ends_with('/') {
                segments.push("");
            }
        }
        url.into()
    }
}

impl TryFrom<String> for Bucket {
    type Error = Error;

    fn try_from(url: String) -> Result<Self> {
        Self::parse(&url)
    }
}

impl From<Bucket> for String {
    fn from(bucket: Bucket) -> Self {
        bucket.url().to_string()
    }
}

impl std::fmt::Display for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.url())
    }
}

/// [`Bucket::check_output_prefix`] of the bucket at `url`, whose folder is `root`.
fn links_stay_inside(url: &str, root: std::path::PathBuf, prefix: &str) -> Result<()> {
    let problem = |problem: String| Error::Bucket {
        url: url.to_string(),
        problem,
    };
    let Ok(canonical_root) = std::fs::canonicalize(&root) else {
        // A bucket folder that does not exist yet is made below it, link-free.
        return Ok(());
    };
    let mut folder = root;
    for segment in prefix.split('/').filter(|s| !s.is_empty()) {
        folder.push(segment);
        let Ok(resolved) = std::fs::canonicalize(&folder) else {
            return Ok(());
        };
        if !resolved.starts_with(&canonical_root) {
            return Err(problem(format!(
                "the output prefix '{prefix}' leaves the bucket: {} leads to {}; nothing is written through a link out of the bucket",
                folder.display(),
                resolved.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_folder_argument_must_be_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = Bucket::from_arg(&dir.path().display().to_string())
            .await
            .unwrap();
        let folder = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(bucket.local_folder(""), Some(folder.clone()));
        let file = folder.join("a.csv");
        std::fs::write(&file, "a\n").unwrap();
        for (arg, problem) in [
            (file.display().to_string(), "not a folder"),
            (
                format!("{}/none", folder.display()),
                "not a folder: No such file",
            ),
        ] {
            let e = Bucket::from_arg(&arg).await.unwrap_err().to_string();
            assert_eq!(
                e.split_once(": ").map(|(a, _)| a),
                Some(&*format!("bucket '{arg}'"))
            );
            assert!(e.contains(problem), "{e}");
        }
    }

    #[test]
    fn file_bucket_keys_and_urls() {
        let b = Bucket::parse("file:///tmp/my%20bucket/").unwrap();
        assert_eq!(b.store_url().as_str(), "file:///");
        assert_eq!(
            b.path("processed/a.csv").as_ref(),
            "tmp/my bucket/processed/a.csv"
        );
        assert_eq!(b.key(&b.path("processed/a.csv")), "processed/a.csv");
        assert_eq!(b.object_url("x/y.csv"), "file:///tmp/my%20bucket/x/y.csv");
        assert_eq!(b.object_url("x/"), "file:///tmp/my%20bucket/x/");
        assert_eq!(b.url(), "file:///tmp/my%20bucket");
    }

    /// An existing folder of the output prefix that is a link out of the bucket.
    #[tokio::test]
    async fn an_output_prefix_through_a_link_out_of_the_bucket_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (bucket_dir, elsewhere) = (dir.path().join("bucket"), dir.path().join("elsewhere"));
        std::fs::create_dir_all(bucket_dir.join("inside")).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, bucket_dir.join("intermediate")).unwrap();
        std::os::unix::fs::symlink(bucket_dir.join("inside"), bucket_dir.join("alias")).unwrap();
        let bucket = Bucket::folder(&bucket_dir).unwrap();
        let e = bucket
            .check_output_prefix("intermediate/x/lambda_invoker/")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("leaves the bucket"), "{e}");
        // A link inside the bucket, and folders still to be made, are fine.
        bucket
            .check_output_prefix("alias/x/lambda_invoker/")
            .await
            .unwrap();
        bucket
            .check_output_prefix("new/x/lambda_invoker/")
            .await
            .unwrap();
        Bucket::parse("s3://b")
            .unwrap()
            .check_output_prefix("intermediate/")
            .await
            .unwrap();
    }

    /// Folder names as people give them: what the file system holds is what is read.
    #[test]
    fn folders_with_any_name() {
        for name in ["b#x", "bøtte", "a b", "p%41q", "q?r", "%2e%2e"] {
            let folder = std::path::Path::new("/data").join(name);
            let b = Bucket::folder(&folder).unwrap();
            assert_eq!(
                b.local_folder("processed/a.csv").unwrap(),
                folder.join("processed/a.csv"),
                "{name}"
            );
            let path = b.path("processed/a.csv");
            assert_eq!(
                path.as_ref(),
                format!("data/{name}/processed/a.csv"),
                "{name}"
            );
            assert_eq!(b.key(&path), "processed/a.csv", "{name}");
            // DataFusion turns the object URL back into the same store path.
            let url = Url::parse(&b.object_url("processed/a.csv")).unwrap();
            assert_eq!(Path::from_url_path(url.path()).unwrap(), path, "{name}");
            assert_eq!(
                Bucket::parse(&String::from(b.clone())).unwrap(),
                b,
                "{name}"
            );
        }
    }

    #[test]
    fn s3_bucket() {
        let b = Bucket::parse("s3://data").unwrap();
        assert_eq!(b.store_url().as_str(), "s3://data/");
        assert_eq!(b.path("processed/a.csv").as_ref(), "processed/a.csv");
        assert_eq!(b.object_url("p/a.csv"), "s3://data/p/a.csv");
        assert_eq!(b.url(), "s3://data");
    }

    #[test]
    fn keys_never_leave_the_root() {
        let b = Bucket::parse("file:///tmp/b").unwrap();
        let path = b.path("a/../../etc/passwd");
        assert!(path.as_ref().starts_with("tmp/b/a/"), "{path}");
        assert!(!path.parts().any(|p| p.as_ref() == ".."), "{path}");
    }

    // Property-based fuzzing (`PROPTEST_CASES` sets how many cases; 256 by default).
    proptest::proptest! {
        /// Any text is a bucket or a typed refusal, never a panic.
        #[test]
        fn any_text_is_a_bucket_or_refused(text in "\\PC{0,48}|[a-z0-9]{1,5}://\\PC{0,40}") {
            if let Ok(bucket) = Bucket::parse(&text) {
                proptest::prop_assert!(Bucket::parse(bucket.url()).is_ok(), "{}", bucket.url());
            }
        }

        /// A folder of any name reads and writes itself: the same folder, the same keys.
        #[test]
        fn any_folder_name_round_trips(name in "[^/\\x00]{1,24}", key in "[a-z=0-9._#%ø ]{1,12}(/[a-z=0-9._#%ø ]{1,12}){0,3}") {
            let folder = std::path::Path::new("/data").join(&name);
            let Ok(bucket) = Bucket::folder(&folder) else {
                // Names object_store cannot hold (control characters, `.`, `..`) are refused.
                return Ok(());
            };
            proptest::prop_assert_eq!(bucket.local_folder(""), Some(folder.clone()));
            let keyed = key.split('/').all(|s| s != "." && s != "..");
            if keyed {
                let path = bucket.path(&key);
                proptest::prop_assert_eq!(bucket.key(&path), key.clone());
                let url = Url::parse(&bucket.object_url(&key)).unwrap();
                proptest::prop_assert_eq!(Path::from_url_path(url.path()).unwrap(), path);
                proptest::prop_assert_eq!(bucket.local_folder(&key), Some(folder.join(&key)));
            }
        }

        /// No key reaches outside the bucket's root, whatever it holds.
        #[test]
        fn no_key_leaves_the_root(key in "\\PC{0,40}|(\\.\\./){1,4}[a-z]{0,8}") {
            let bucket = Bucket::parse("file:///data/b").unwrap();
            let path = bucket.path(&key);
            let mut parts = path.parts();
            proptest::prop_assert_eq!(parts.next().map(|p| p.as_ref().to_string()), Some("data".to_string()));
            proptest::prop_assert_eq!(parts.next().map(|p| p.as_ref().to_string()), Some("b".to_string()));
            proptest::prop_assert!(parts.all(|p| p.as_ref() != ".." && p.as_ref() != "."), "{}", path);
        }
    }

    #[test]
    fn rejects_what_it_cannot_serve() {
        for (url, says) in [
            ("relative/dir", "not a URL"),
            ("ftp://x", "unsupported scheme"),
            ("file:///", "needs a folder"),
            ("file://server/share", "another host"),
            ("file:///tmp/b#x", "no '?' or '#'"),
            ("s3://", "needs a name"),
        ] {
            let e = Bucket::parse(url).unwrap_err().to_string();
            assert!(e.contains(says), "{url}: {e}");
        }
        assert_eq!(
            Bucket::parse("file://localhost/tmp/b").unwrap().url(),
            "file:///tmp/b"
        );
    }
}
