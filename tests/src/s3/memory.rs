//! An S3 bucket store in memory behind s3s's `S3` trait: the operations object_store uses
//! (list with or without a delimiter, head, ranged get, put and conditional put, copy,
//! delete, bulk delete), with no limit on key length. A test can have a conditional put
//! land and then answer with a server error, as when S3's answer is lost on the way: the
//! client retries, and its own object refuses the retry.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::TryStreamExt;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

#[derive(Clone)]
struct Stored {
    body: Bytes,
    e_tag: String,
    last_modified: Timestamp,
}

/// Objects by (bucket, key).
#[derive(Clone, Default)]
pub struct MemoryS3 {
    objects: Arc<Mutex<BTreeMap<(String, String), Stored>>>,
    /// Key endings whose next conditional put lands and then answers with a server error.
    answers_to_lose: Arc<Mutex<Vec<String>>>,
    /// How many answers were lost so.
    answers_lost: Arc<Mutex<usize>>,
    /// How far the server's clock, which stamps what it stores, is ahead of the machine's
    /// (negative: behind).
    clock_ahead_ms: Arc<AtomicI64>,
}

impl MemoryS3 {
    /// Puts every file below `dir` into `bucket`, keyed by its relative path.
    pub fn load_dir(&self, bucket: &str, dir: &std::path::Path) {
        for key in crate::files_below(dir) {
            self.insert(
                bucket,
                &key,
                Bytes::from(std::fs::read(dir.join(&key)).unwrap()),
            );
        }
    }

    fn insert(&self, bucket: &str, key: &str, body: Bytes) {
        let mut objects = self.objects.lock().unwrap();
        objects.insert((bucket.to_string(), key.to_string()), self.stored(body));
    }

    fn get(&self, bucket: &str, key: &str) -> S3Result<Stored> {
        let objects = self.objects.lock().unwrap();
        objects
            .get(&(bucket.to_string(), key.to_string()))
            .cloned()
            .ok_or_else(|| s3_error!(NoSuchKey))
    }

    /// The keys of `bucket` under `prefix`, in order.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let objects = self.objects.lock().unwrap();
        objects
            .keys()
            .filter(|(b, k)| b == bucket && k.starts_with(prefix))
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// The objects directly under `prefix`, as files of a new folder named by their last
    /// key segment (to compare with a folder of expected documents).
    pub fn download(&self, bucket: &str, prefix: &str) -> tempfile::TempDir {
        let folder = tempfile::tempdir().unwrap();
        for key in self.keys(bucket, prefix) {
            let name = key.rsplit('/').next().unwrap();
            std::fs::write(folder.path().join(name), self.body(bucket, &key).unwrap()).unwrap();
        }
        folder
    }

    /// A store of its own holding the same objects now.
    pub fn deep_copy(&self) -> Self {
        let objects = self.objects.lock().unwrap().clone();
        Self {
            objects: Arc::new(Mutex::new(objects)),
            ..Self::default()
        }
    }

    /// The next conditional put (`If-None-Match: *`) of a key ending in `key_end` lands,
    /// and is then answered with `InternalError` as if its answer had been lost.
    pub fn lose_answer_of_create(&self, key_end: &str) {
        self.answers_to_lose.lock().unwrap().push(key_end.into());
    }

    /// How many answers [`Self::lose_answer_of_create`] has lost.
    pub fn answers_lost(&self) -> usize {
        *self.answers_lost.lock().unwrap()
    }

    /// Whether the answer to this landed create of `key` is to be lost.
    fn loses_answer(&self, key: &str) -> bool {
        let mut to_lose = self.answers_to_lose.lock().unwrap();
        let Some(at) = to_lose.iter().position(|end| key.ends_with(end.as_str())) else {
            return false;
        };
        to_lose.remove(at);
        *self.answers_lost.lock().unwrap() += 1;
        true
    }

    /// The bytes of one object.
    pub fn body(&self, bucket: &str, key: &str) -> Option<Bytes> {
        self.get(bucket, key).ok().map(|s| s.body)
    }

    /// Stamps what it stores from now on by a clock `ms` ahead of this machine's
    /// (negative: behind), as a server whose clock is not the client's does.
    pub fn set_clock_ahead(&self, ms: i64) {
        self.clock_ahead_ms.store(ms, Ordering::Relaxed);
    }

    fn stored(&self, body: Bytes) -> Stored {
        let ahead = self.clock_ahead_ms.load(Ordering::Relaxed);
        let now = SystemTime::now();
        let clock = match ahead >= 0 {
            true => now + Duration::from_millis(ahead as u64),
            false => now - Duration::from_millis(ahead.unsigned_abs()),
        };
        Stored {
            e_tag: format!("{:x}", md5_like(&body)),
            body,
            last_modified: Timestamp::from(clock),
        }
    }
}

/// An entity tag: any stable digest of the body will do for a test store.
fn md5_like(body: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    hasher.finish()
}

#[async_trait::async_trait]
impl S3 for MemoryS3 {
    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let objects = self.objects.lock().unwrap();
        let mut contents = vec![];
        let mut common_prefixes: Vec<String> = vec![];
        for ((bucket, key), stored) in objects.iter() {
            if *bucket != input.bucket || !key.starts_with(&prefix) {
                continue;
            }
            // With a delimiter, a key with it after the prefix is rolled into a common prefix.
            if let Some(d) = &delimiter
                && let Some(at) = key[prefix.len()..].find(d.as_str())
            {
                let common = key[..prefix.len() + at + d.len()].to_string();
                if common_prefixes.last() != Some(&common) {
                    common_prefixes.push(common);
                }
                continue;
            }
            contents.push(Object {
                key: Some(key.clone()),
                size: Some(stored.body.len() as i64),
                e_tag: Some(ETag::Strong(stored.e_tag.clone())),
                last_modified: Some(stored.last_modified.clone()),
                ..Default::default()
            });
        }
        common_prefixes.dedup();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            key_count: Some((contents.len() + common_prefixes.len()) as i32),
            is_truncated: Some(false),
            contents: Some(contents),
            common_prefixes: Some(
                common_prefixes
                    .into_iter()
                    .map(|p| CommonPrefix { prefix: Some(p) })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let stored = self.get(&req.input.bucket, &req.input.key)?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(stored.body.len() as i64),
            e_tag: Some(ETag::Strong(stored.e_tag)),
            last_modified: Some(stored.last_modified),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let stored = self.get(&req.input.bucket, &req.input.key)?;
        let len = stored.body.len() as u64;
        let (body, content_range) = match req.input.range {
            None => (stored.body.clone(), None),
            Some(range) => {
                let r = range.check(len)?;
                let part = stored.body.slice(r.start as usize..r.end as usize);
                (part, Some(format!("bytes {}-{}/{len}", r.start, r.end - 1)))
            }
        };
        Ok(S3Response::new(GetObjectOutput {
            content_length: Some(body.len() as i64),
            content_range,
            body: Some(StreamingBlob::from(s3s::Body::from(body))),
            e_tag: Some(ETag::Strong(stored.e_tag)),
            last_modified: Some(stored.last_modified),
            ..Default::default()
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        let body = match input.body {
            Some(stream) => {
                let chunks: Vec<Bytes> = stream
                    .try_collect()
                    .await
                    .map_err(|e| s3_error!(IncompleteBody, "{e}"))?;
                Bytes::from(chunks.concat())
            }
            None => Bytes::new(),
        };
        // `If-None-Match: *`: only if there is no such object (a conditional create).
        let create = matches!(input.if_none_match, Some(ETagCondition::Any));
        let e_tag = {
            let mut objects = self.objects.lock().unwrap();
            let id = (input.bucket.clone(), input.key.clone());
            if create && objects.contains_key(&id) {
                return Err(s3_error!(PreconditionFailed));
            }
            let stored = self.stored(body);
            let e_tag = stored.e_tag.clone();
            objects.insert(id, stored);
            e_tag
        };
        if create && self.loses_answer(&input.key) {
            return Err(s3_error!(
                InternalError,
                "the answer to a create that landed was lost"
            ));
        }
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(e_tag)),
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let CopySource::Bucket { bucket, key, .. } = &input.copy_source else {
            return Err(s3_error!(NotImplemented, "copy from an access point"));
        };
        let stored = self.get(bucket, key)?;
        self.insert(&input.bucket, &input.key, stored.body);
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(stored.e_tag)),
                last_modified: Some(stored.last_modified),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let mut objects = self.objects.lock().unwrap();
        objects.remove(&(req.input.bucket.clone(), req.input.key.clone()));
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let bucket = req.input.bucket;
        let mut objects = self.objects.lock().unwrap();
        let deleted = req
            .input
            .delete
            .objects
            .into_iter()
            .map(|object| {
                objects.remove(&(bucket.clone(), object.key.clone()));
                DeletedObject {
                    key: Some(object.key),
                    ..Default::default()
                }
            })
            .collect();
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            ..Default::default()
        }))
    }
}
