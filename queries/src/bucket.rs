//! The bucket: a URL naming an object store and a root inside it (`file:///abs/dir`,
//! `s3://name`). Keys of the pipeline (prefixes, object keys) are relative to the root.

use datafusion::execution::object_store::ObjectStoreUrl;
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};

/// A bucket URL, parsed once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    url: String,
}

impl Bucket {
    /// Parses `file:///abs/dir` or `s3://name[/root]`.
    pub fn parse(url: &str) -> Result<Self> {
        let parsed = Url::parse(url).map_err(|e| Error::Bucket {
            url: url.to_string(),
            problem: format!("not a URL ({e}); use file:///absolute/folder or s3://bucket"),
        })?;
        match parsed.scheme() {
            "file" => {
                if parsed.path().len() <= 1 {
                    return Err(Error::Bucket {
                        url: url.into(),
                        problem: "a file bucket needs an absolute folder, e.g. file:///tmp/bucket"
                            .into(),
                    });
                }
            }
            "s3" | "memory" => {
                if parsed.host_str().is_none_or(str::is_empty) && parsed.scheme() == "s3" {
                    return Err(Error::Bucket {
                        url: url.into(),
                        problem: "an S3 bucket needs a name, e.g. s3://my-bucket".into(),
                    });
                }
            }
            other => {
                return Err(Error::Bucket {
                    url: url.into(),
                    problem: format!("unsupported scheme '{other}'; use file:// or s3://"),
                });
            }
        }
        Ok(Self {
            url: url.trim_end_matches('/').to_string(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn scheme(&self) -> &str {
        self.url.split_once("://").map_or("", |(s, _)| s)
    }

    /// The object store this bucket lives in (`file://`, `s3://name`).
    pub fn store_url(&self) -> ObjectStoreUrl {
        let parsed = Url::parse(&self.url).expect("validated in parse");
        let host = parsed.host_str().unwrap_or("");
        ObjectStoreUrl::parse(format!("{}://{host}", parsed.scheme())).expect("scheme and host")
    }

    /// The root of the bucket inside its store (the folder for `file://`).
    fn root(&self) -> String {
        let parsed = Url::parse(&self.url).expect("validated in parse");
        let path = percent_decode(parsed.path());
        path.trim_matches('/').to_string()
    }

    /// The store path of a bucket key.
    pub fn path(&self, key: &str) -> Path {
        let root = self.root();
        let key = key.trim_start_matches('/');
        match (root.is_empty(), key.is_empty()) {
            (true, _) => Path::from(key),
            (false, true) => Path::from(root),
            (false, false) => Path::from(format!("{root}/{key}")),
        }
    }

    /// The bucket key of a store path (inverse of [`Bucket::path`]).
    pub fn key(&self, path: &Path) -> String {
        let root = self.root();
        let p = path.as_ref();
        if root.is_empty() {
            p.to_string()
        } else {
            p.strip_prefix(&root)
                .unwrap_or(p)
                .trim_start_matches('/')
                .to_string()
        }
    }

    /// The folder of a bucket key when the bucket is a local folder: stores keep no
    /// folders, but a file system does, and an emptied one is left behind.
    pub fn local_folder(&self, key: &str) -> Option<std::path::PathBuf> {
        (self.scheme() == "file").then(|| format!("/{}", self.path(key)).into())
    }

    /// A URL DataFusion's readers accept for a bucket key.
    pub fn object_url(&self, key: &str) -> String {
        format!("{}{}", self.store_url().as_str(), self.path(key))
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_bucket_keys_and_urls() {
        let b = Bucket::parse("file:///tmp/my%20bucket/").unwrap();
        assert_eq!(b.store_url().as_str(), "file:///");
        assert_eq!(
            b.path("processed/a.csv").as_ref(),
            "tmp/my bucket/processed/a.csv"
        );
        assert_eq!(b.key(&b.path("processed/a.csv")), "processed/a.csv");
        assert_eq!(b.object_url("x/y.csv"), "file:///tmp/my bucket/x/y.csv");
    }

    #[test]
    fn s3_bucket() {
        let b = Bucket::parse("s3://data").unwrap();
        assert_eq!(b.store_url().as_str(), "s3://data/");
        assert_eq!(b.path("processed/a.csv").as_ref(), "processed/a.csv");
        assert_eq!(b.object_url("p/a.csv"), "s3://data/p/a.csv");
    }

    #[test]
    fn rejects_what_it_cannot_serve() {
        assert!(Bucket::parse("relative/dir").is_err());
        assert!(Bucket::parse("ftp://x").is_err());
        assert!(Bucket::parse("file:///").is_err());
    }
}
