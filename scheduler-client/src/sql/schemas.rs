//! Each object's inferred schema, kept by the object's version, so that finding the tables
//! again (the scheduler refreshes them, [`super::bucket_tables`]) reads only the objects
//! that are new or changed: inferring a schema reads every row of the object.
//!
//! An object that cannot be inferred is named as the pipeline's reader names it: a store
//! failure as `input <dataset> (<key>): cannot be read: ...`, a bad row with its line
//! ([`bydelsfakta_queries::reader::csv_errors::locate_inference_error`]).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::context::SessionState;
use object_store::ObjectMeta;
use object_store::path::Path;

use bydelsfakta_queries::Error as QueryError;
use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_queries::reader::csv_errors::locate_inference_error;

/// What tells one version of an object from another: a rewrite changes its ETag (or, in a
/// local folder, its modification time and size).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ObjectVersion {
    location: Path,
    e_tag: Option<String>,
    size: u64,
    last_modified: DateTime<Utc>,
}

impl From<&ObjectMeta> for ObjectVersion {
    fn from(meta: &ObjectMeta) -> Self {
        Self {
            location: meta.location.clone(),
            e_tag: meta.e_tag.clone(),
            size: meta.size,
            last_modified: meta.last_modified,
        }
    }
}

/// The schemas inferred in the last round of finding the tables, and those of this round.
#[derive(Debug, Default)]
pub struct SchemaCache {
    previous: HashMap<ObjectVersion, SchemaRef>,
    current: HashMap<ObjectVersion, SchemaRef>,
    /// Objects read (inferred) in this round.
    read: usize,
}

impl SchemaCache {
    /// Starts a round: what the last round inferred may be reused, and what this round does
    /// not use is forgotten at [`Self::end_round`].
    pub fn start_round(&mut self) {
        self.read = 0;
        self.current.clear();
    }

    /// Ends a round: returns how many objects it read.
    pub fn end_round(&mut self) -> usize {
        self.previous = std::mem::take(&mut self.current);
        self.read
    }

    /// The schema of the objects under the edition folder `url` (dataset `dataset`),
    /// merged, as [`ListingOptions::infer_schema`] would infer it with `format`: every
    /// non-empty object directly in the folder. Those are `listed`, as the bucket's
    /// listing found them; `None`, the folder is listed here. Either way from the store,
    /// not through the session's cache of listings, which DataFusion keeps without end.
    ///
    /// [`ListingOptions::infer_schema`]: datafusion::datasource::listing::ListingOptions::infer_schema
    pub async fn edition_schema(
        &mut self,
        state: &SessionState,
        bucket: &Bucket,
        format: &dyn FileFormat,
        dataset: &str,
        url: &ListingTableUrl,
        listed: Option<&[ObjectMeta]>,
    ) -> Result<SchemaRef, QueryError> {
        let store = state.runtime_env().object_store(url)?;
        let folder = bucket.key(url.prefix());
        let objects = match listed {
            Some(objects) => objects.to_vec(),
            None => {
                let mut objects = store
                    .list_with_delimiter(Some(url.prefix()))
                    .await
                    .map_err(|e| QueryError::from(e).reading(dataset, &folder))?
                    .objects;
                objects.sort_by(|a, b| a.location.cmp(&b.location));
                objects
            }
        };
        let mut schemas = vec![];
        for object in objects.iter().filter(|o| o.size > 0) {
            let version = ObjectVersion::from(object);
            let known = self.previous.get(&version).or(self.current.get(&version));
            let schema = match known {
                Some(schema) => schema.clone(),
                None => {
                    self.read += 1;
                    let key = bucket.key(&object.location);
                    format
                        .infer_schema(state, &store, std::slice::from_ref(object))
                        .await
                        .map_err(|e| locate_inference_error(e.into(), dataset, &key))?
                }
            };
            self.current.insert(version, schema.clone());
            schemas.push(schema.as_ref().clone());
        }
        if schemas.is_empty() {
            return Err(QueryError::InputFile {
                dataset: dataset.into(),
                file: folder,
                line: None,
                column: None,
                problem: "no object with data in the edition's folder".into(),
            });
        }
        let merged = Schema::try_merge(schemas).map_err(|e| QueryError::InputFile {
            dataset: dataset.into(),
            file: folder,
            line: None,
            column: None,
            problem: format!("the edition's objects have columns that do not merge: {e}"),
        })?;
        Ok(Arc::new(merged))
    }
}
