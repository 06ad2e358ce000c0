//! How an input object was typed, kept in the bucket so that later runs on a cluster skip
//! the probe job (one job per input) and submit only their writer's job.
//!
//! The platform never rewrites an edition's object, and a rewritten object has another ETag,
//! so the record is keyed by the object's key and ETag, and by a fingerprint of the typing
//! rules and the dataset's catalog entry (a release that types differently reads none of
//! the old records). It is written by the writer after its documents are published, so only
//! inputs of a run that succeeded are recorded, and never by a run that fails. It is a
//! cache: a record that cannot be read, does not parse or does not match the object's header
//! is ignored and the input probed again; a record that cannot be written is logged and the
//! run goes on.

use object_store::ObjectStore;
use serde::{Deserialize, Serialize};

use crate::bucket::Bucket;
use crate::catalog::InputDataset;
use crate::publication::records::{InputObject, sha256_hex};

/// Where the records live in the bucket, apart from the datasets.
pub const RECORDS_PREFIX: &str = "_bydelsfakta/typed-inputs/";

/// Bump when the typing rules change in a way the catalog does not show
/// (`typing::column_type`, the probe), or the record's fields do. 2: records count the
/// object's rows.
const TYPING_RULES: &str = "2";

/// What a column of the object became.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordedType {
    Text,
    Int64,
    Float64,
    /// `aar`, as the integer column `date`.
    Year,
}

/// The record of one object: its columns in file order and what each became.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypedRecord {
    /// The record's own key in the bucket.
    pub record_key: String,
    pub object_key: String,
    pub e_tag: String,
    pub columns: Vec<(String, RecordedType)>,
    /// The object's data lines (the header aside), as the probe counted them.
    pub rows: u64,
}

/// The record's key for `object` read as `dataset`; `None` when the store gives no ETag.
pub fn record_key(dataset: &InputDataset, object: &InputObject) -> Option<String> {
    let e_tag = object.e_tag.as_deref()?;
    let rules = sha256_hex(format!("{TYPING_RULES}\n{dataset:?}").as_bytes());
    let object = sha256_hex(format!("{}\n{e_tag}", object.key).as_bytes());
    Some(format!(
        "{RECORDS_PREFIX}{}/{}.json",
        &rules[..16],
        &object[..32]
    ))
}

/// The record of `object`, if one is there and matches its `header`.
pub async fn read_record(
    store: &dyn ObjectStore,
    bucket: &Bucket,
    record_key: &str,
    object: &InputObject,
    header: &[String],
) -> Option<TypedRecord> {
    use object_store::ObjectStoreExt;
    let bytes = match store.get(&bucket.path(record_key)).await {
        Ok(found) => found.bytes().await,
        Err(e) => Err(e),
    };
    let record: TypedRecord = match bytes {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(record) => record,
            Err(e) => {
                tracing::warn!(record = record_key, error = %e, "ignoring a typed-input record that does not parse");
                return None;
            }
        },
        Err(object_store::Error::NotFound { .. }) => return None,
        Err(e) => {
            tracing::warn!(record = record_key, error = %e, "typed-input record not read; probing the input");
            return None;
        }
    };
    let names = record.columns.iter().map(|(name, _)| name);
    let matches = record.object_key == object.key
        && object.e_tag.as_deref() == Some(record.e_tag.as_str())
        && names.eq(header.iter());
    if !matches {
        tracing::warn!(
            record = record_key,
            "ignoring a typed-input record of another object"
        );
        return None;
    }
    Some(record)
}

/// Writes `records` after a run published its documents; a failure is logged, not raised.
pub async fn write_records(store: &dyn ObjectStore, bucket: &Bucket, records: &[TypedRecord]) {
    use object_store::ObjectStoreExt;
    for record in records {
        let body = serde_json::to_vec(record).expect("a record serializes");
        if let Err(e) = store
            .put(&bucket.path(&record.record_key), body.into())
            .await
        {
            tracing::warn!(record = %record.record_key, error = %e, "typed-input record not written; later runs probe this input again");
        }
    }
}
