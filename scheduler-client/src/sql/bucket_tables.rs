//! The bucket's tables as last found, for a catalog to serve ([`super::catalog`]).
//!
//! The CLI's session finds them once, when it opens. The scheduler serves Flight SQL for
//! as long as it runs while new editions land, so it finds them again at an interval
//! ([`BucketTables::keep_fresh`]): a new edition or dataset becomes a table, and a
//! statement is planned against the set found last, never waiting for a refresh. A
//! refresh lists `processed/` once (every edition's objects come from that listing) and
//! reads only the objects that are new or changed ([`super::schemas`]). If the
//! bucket cannot be listed, the set found before stays; a dataset whose objects cannot be
//! read is unavailable, with its reason, until a refresh reads it.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use datafusion::execution::context::SessionState;
use prometheus::{IntCounterVec, IntGaugeVec, Opts};

use super::schemas::SchemaCache;
use super::tables::{TableSet, discover};
use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_queries::metrics::registered;

/// Where the tables come from: a bucket, read through a session's stores.
struct Source {
    bucket: Bucket,
    state: SessionState,
    /// Held for a whole refresh, so that two refreshes never interleave.
    schemas: tokio::sync::Mutex<SchemaCache>,
}

/// The tables a catalog serves: the set found last.
pub struct BucketTables {
    source: Option<Source>,
    current: RwLock<Arc<TableSet>>,
}

impl std::fmt::Debug for BucketTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = self.current();
        f.debug_struct("BucketTables")
            .field("tables", &set.tables.len())
            .field("unavailable", &set.unavailable.len())
            .finish()
    }
}

impl BucketTables {
    /// The tables of `bucket`, found now through `state`'s stores. Each table that cannot
    /// be made is logged as a warning.
    pub async fn find(state: SessionState, bucket: Bucket) -> crate::Result<Arc<Self>> {
        let mut schemas = SchemaCache::default();
        let (set, _) = find_set(&state, &bucket, &mut schemas).await?;
        for table in &set.unavailable {
            tracing::warn!(dataset = %table.dataset, "{}", table.refusal());
        }
        metrics().set(&set);
        Ok(Arc::new(Self {
            source: Some(Source {
                bucket,
                state,
                schemas: tokio::sync::Mutex::new(schemas),
            }),
            current: RwLock::new(Arc::new(set)),
        }))
    }

    /// No tables, and none to find.
    pub fn none() -> Arc<Self> {
        Arc::new(Self {
            source: None,
            current: RwLock::default(),
        })
    }

    /// The set found last.
    pub fn current(&self) -> Arc<TableSet> {
        self.current.read().expect("table set lock").clone()
    }

    /// Finds the tables again; returns how many objects it read (those new or changed).
    /// If the bucket cannot be listed, the set found before stays and the error is
    /// returned.
    pub async fn refresh(&self) -> crate::Result<usize> {
        let Some(source) = &self.source else {
            return Ok(0);
        };
        let mut schemas = source.schemas.lock().await;
        let started = Instant::now();
        let found = find_set(&source.state, &source.bucket, &mut schemas).await;
        let (set, read) = match found {
            Ok(found) => found,
            Err(e) => {
                metrics().refreshed("failed");
                return Err(e);
            }
        };
        log_changes(&self.current(), &set);
        metrics().set(&set);
        metrics().refreshed("ok");
        tracing::debug!(
            tables = set.tables.len(),
            unavailable = set.unavailable.len(),
            objects_read = read,
            ms = started.elapsed().as_millis() as u64,
            "SQL tables found again"
        );
        *self.current.write().expect("table set lock") = Arc::new(set);
        Ok(read)
    }

    /// Refreshes the tables every `every` (counted from the end of the last refresh), for
    /// as long as the task runs; a failed refresh is logged and tried again at the next.
    pub fn keep_fresh(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let tables = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = tables.refresh().await {
                    tracing::warn!("SQL tables not found again; the last ones stay: {e}");
                }
            }
        })
    }
}

/// One round of [`discover`] with `schemas`: the set, and how many objects it read. A
/// round that fails leaves `schemas` as the last one that did not.
async fn find_set(
    state: &SessionState,
    bucket: &Bucket,
    schemas: &mut SchemaCache,
) -> crate::Result<(TableSet, usize)> {
    schemas.start_round();
    let set = discover(state, bucket, schemas).await?;
    Ok((set, schemas.end_round()))
}

/// Logs what a refresh changed: tables new, gone, unavailable or available again.
fn log_changes(before: &TableSet, after: &TableSet) {
    for table in &after.tables {
        match before.table(&table.name) {
            None => {
                tracing::info!(dataset = %table.dataset, "SQL table '{}' ({})", table.name, table.editions)
            }
            Some(old) if old.editions != table.editions => tracing::info!(
                dataset = %table.dataset,
                "SQL table '{}' now holds {} (was {})", table.name, table.editions, old.editions
            ),
            Some(_) => {}
        }
    }
    for table in &after.unavailable {
        if before.unavailable(&table.name) != Some(table) {
            tracing::warn!(dataset = %table.dataset, "{}", table.refusal());
        }
    }
    for table in &before.tables {
        if after.table(&table.name).is_none() && after.unavailable(&table.name).is_none() {
            tracing::info!(dataset = %table.dataset, "SQL table '{}' is gone", table.name);
        }
    }
}

/// The SQL tables' metrics, on the default registry (README "Metrics").
struct Metrics {
    tables: IntGaugeVec,
    refreshes: IntCounterVec,
}

impl Metrics {
    fn set(&self, set: &TableSet) {
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.tables
            .with_label_values(&["available"])
            .set(count(set.tables.len()));
        self.tables
            .with_label_values(&["unavailable"])
            .set(count(set.unavailable.len()));
    }

    fn refreshed(&self, outcome: &str) {
        self.refreshes.with_label_values(&[outcome]).inc();
    }
}

fn metrics() -> &'static Metrics {
    static METRICS: std::sync::LazyLock<Metrics> = std::sync::LazyLock::new(|| Metrics {
        tables: registered(IntGaugeVec::new(
            Opts::new(
                "bydelsfakta_sql_tables",
                "SQL tables over the bucket's processed datasets, by state: available, or unavailable (an object that cannot be read; the log says why)",
            ),
            &["state"],
        )),
        refreshes: registered(IntCounterVec::new(
            Opts::new(
                "bydelsfakta_sql_table_refreshes_total",
                "Times the SQL tables were found again, by outcome: ok, or failed (the bucket could not be listed; the last tables stay)",
            ),
            &["outcome"],
        )),
    });
    &METRICS
}
