//! `bydelsfakta recover`: finds interrupted publications in a bucket and finishes or undoes
//! each under its output prefix's lease (`queries::publication`).

use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_queries::publication::records::PublishSettings;
use bydelsfakta_queries::publication::{Recovered, find_bookkeeping, recover};

use crate::error::Result;
use crate::stores::runtime_for;

/// What recovery did at one output prefix.
#[derive(Debug)]
pub struct PrefixRecovery {
    pub prefix: String,
    pub outcome: Result<Recovered>,
}

/// Recovers every output prefix under `under` (a bucket key prefix; empty for the whole
/// bucket) that holds a publication's bookkeeping, one after another.
pub async fn recover_bucket(
    bucket: &Bucket,
    under: &str,
    settings: &PublishSettings,
) -> Result<Vec<PrefixRecovery>> {
    let store = runtime_for(bucket)?.object_store(bucket.store_url())?;
    let mut recovered = vec![];
    for prefix in find_bookkeeping(store.as_ref(), bucket, under).await? {
        let outcome = recover(store.as_ref(), bucket, &prefix, settings)
            .await
            .map_err(Into::into);
        recovered.push(PrefixRecovery { prefix, outcome });
    }
    Ok(recovered)
}
