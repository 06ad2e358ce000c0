//! What our scheduler and executors add to Ballista's: our functions (UDFs and UDAFs), the
//! document writer's codec, and the object stores of [`BucketStores`], all registered where
//! Ballista looks for them (docs/ballista.md §3 to §6), and on the scheduler, the bucket's datasets as
//! read-only SQL tables for Flight SQL ([`flight_sql`]), held to the session limits; and
//! `/metrics` beside the health probes ([`http`], [`scheduler_port`]), with the executors'
//! tasks counted ([`task_metrics`]). Everything else, flags included, is Ballista's.

mod client_pool;
pub mod flight_sql;
pub mod http;
pub mod scheduler_port;
pub mod task_metrics;

use std::collections::HashMap;
use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::utils::default_session_builder;
use ballista_core::{ConfigProducer, RuntimeProducer};
use ballista_executor::executor_process::ExecutorProcessConfig;
use ballista_scheduler::config::SchedulerConfig;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{FunctionRegistry, SessionStateBuilder};

use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_scheduler_client::engine::{ballista_session_config, physical_codec};
use bydelsfakta_scheduler_client::sql::bucket_tables::BucketTables;
use bydelsfakta_scheduler_client::sql::catalog::read_only_catalog;
use bydelsfakta_scheduler_client::sql::limits::SqlLimits;
use bydelsfakta_scheduler_client::stores::{BucketStores, runtime_for};
use bydelsfakta_udfs::bounded::bounded_string_functions;

/// The session settings every job starts from on scheduler and executors.
fn config_producer() -> ConfigProducer {
    Arc::new(ballista_session_config)
}

/// The environment variable that names the bucket whose datasets Flight SQL serves.
pub const BUCKET_ENV: &str = "BYDELSFAKTA_BUCKET";

/// The SQL tables of the bucket named by `url` (`file:///folder`, a folder path or
/// `s3://name`), found now; [`BucketTables::keep_fresh`] finds them again.
pub async fn sql_tables(url: &str) -> Result<Arc<BucketTables>, String> {
    let bucket = Bucket::from_arg(url)
        .await
        .map_err(|e| format!("{BUCKET_ENV}: {e}"))?;
    let runtime = runtime_for(&bucket).map_err(|e| format!("{BUCKET_ENV}: {e}"))?;
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_runtime_env(runtime)
        .build();
    BucketTables::find(state, bucket)
        .await
        .map_err(|e| format!("{BUCKET_ENV} {url}: {e}"))
}

/// What the scheduler's sessions serve to Flight SQL: the bucket's tables, within limits.
pub struct SqlService {
    pub tables: Arc<BucketTables>,
    pub limits: SqlLimits,
}

/// The scheduler plans with our functions and reads bucket listings through our stores.
/// With `sql`, every session (Flight SQL's among them) has the bucket's tables as its only,
/// read-only catalog and no table factories, so that `CREATE EXTERNAL TABLE` cannot point
/// outside the bucket; what it runs itself has a memory pool, and `repeat`, `lpad` and
/// `rpad` are bounded (constant folding runs them while planning).
pub fn scheduler_config(config: SchedulerConfig, sql: Option<SqlService>) -> SchedulerConfig {
    let stores = Arc::new(BucketStores::default());
    let mut config = config
        .with_override_config_producer(config_producer())
        .with_override_session_builder(Arc::new(move |session_config| {
            let catalog = sql
                .as_ref()
                .map(|sql| read_only_catalog(sql.tables.clone(), &session_config));
            let state = default_session_builder(session_config)?;
            // Without DataFusion's cache of listings, which keeps a folder's listing for as
            // long as the session lives: an editions table must see the editions that land
            // while a Flight SQL client stays connected.
            let mut runtime = RuntimeEnvBuilder::new()
                .with_object_store_registry(stores.clone())
                .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0));
            if let Some(sql) = &sql {
                runtime = runtime.with_memory_limit(sql.limits.memory_limit, 1.0);
            }
            let mut builder = SessionStateBuilder::new_from_existing(state)
                .with_runtime_env(runtime.build_arc()?);
            if let Some(catalog) = catalog {
                builder = builder
                    .with_catalog_list(catalog)
                    .with_table_factories(HashMap::new());
            }
            let mut state = builder.build();
            bydelsfakta_udfs::register_all(&mut state)?;
            if let Some(sql) = &sql {
                for function in bounded_string_functions(sql.limits.string_result_limit()) {
                    state.register_udf(function)?;
                }
            }
            Ok(state)
        }));
    config.override_physical_codec = Some(physical_codec());
    config
}

/// The executor runs our functions and writer, reads and writes through our stores,
/// spills to `work_dir`, and counts its tasks and what its writers publish (`/metrics`;
/// call it within the runtime, where the shuffle client pool spawns its eviction).
pub fn executor_config(
    mut config: ExecutorProcessConfig,
    work_dir: String,
) -> ExecutorProcessConfig {
    let mut functions = BallistaFunctionRegistry::default();
    for udf in bydelsfakta_udfs::scalar_functions() {
        functions
            .scalar_functions
            .insert(udf.name().to_string(), udf);
    }
    for udaf in bydelsfakta_udfs::aggregate_functions() {
        functions
            .aggregate_functions
            .insert(udaf.name().to_string(), udaf);
    }
    // Flight SQL's statements run here: `repeat`, `lpad` and `rpad` are bounded as on the
    // scheduler (the pipeline never calls them).
    let string_limit = SqlLimits::flight_sql().string_result_limit();
    for udf in bounded_string_functions(string_limit) {
        functions
            .scalar_functions
            .insert(udf.name().to_string(), udf);
    }
    let stores = Arc::new(BucketStores::default());
    let runtime: RuntimeProducer = {
        let work_dir = work_dir.clone();
        Arc::new(move |_| {
            RuntimeEnvBuilder::new()
                .with_object_store_registry(stores.clone())
                .with_temp_file_path(work_dir.clone())
                .build_arc()
        })
    };
    config.work_dir = Some(work_dir);
    config.override_function_registry = Some(Arc::new(functions));
    config.override_runtime_producer = Some(runtime);
    config.override_config_producer = Some(config_producer());
    config.override_physical_codec = Some(physical_codec());
    config.override_execution_engine = Some(task_metrics::counted_engine(config.client_ttl));
    task_metrics::register();
    bydelsfakta_queries::metrics::register();
    config
}

/// The process's runtime: decoding and planning our deepest plans (levekar_totalt joins
/// nine inputs) recurses beyond the default thread stack.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 * 1024 * 1024)
        .build()
}

/// Logs to stderr in `format`; `RUST_LOG` overrides Ballista's `--log-level-setting`.
pub fn init_logging(
    format: bydelsfakta_scheduler_client::logging::LogFormat,
    default_filter: &str,
) {
    bydelsfakta_scheduler_client::logging::init(format, default_filter, std::io::stderr);
}
