//! Frames that several parts of a plan, or several plans of one batch, compute alike.
//!
//! DataFusion plans are trees: a frame used twice (a rollup's input feeds the sub-district
//! and the district level; a status frame feeds its own year filter and the scale) is
//! planned and run twice, and the ten types of one function each plan and run the same
//! rollup. [`share`] marks such a frame. When the session carries a [`SharedFrames`] cache
//! (the embedded engine), the frame becomes a scan of a table that runs its plan once, on
//! first scan, and serves the result from memory to every later scan in the session;
//! identical plans (same inputs, same steps) are one entry. A distributed engine's client
//! must not run plans itself: its session carries [`PlannedFrames`] instead, and the frame
//! becomes one operator ([`SharedFrameExec`]), planned once per session, that runs once
//! where the plan runs. With neither the frame stays inline.

mod exec;
mod planned;

pub use exec::{FrameRun, SharedFrameExec};
pub use planned::{PlannedFrame, PlannedFrames};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::TableReference;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::{MemTable, provider_as_source};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, TableType};
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::DataFrame;
use tokio::sync::OnceCell;

/// The frames of one session, by plan: identical plans (same inputs, same steps) are one
/// frame. `F` is what an engine makes of a frame: [`MemoryFrame`] (embedded) or
/// [`PlannedFrame`] (distributed). Register one with
/// `SessionConfig::with_extension(Arc::new(SharedFrames::default()))` (or
/// [`PlannedFrames`]); a frame lives as long as the session, or until the tables it reads
/// are forgotten ([`FrameRegistry::forget_reading`]).
#[derive(Debug)]
pub struct FrameRegistry<F> {
    frames: Mutex<Frames<F>>,
}

/// The frames by plan, and how many ids were given: ids are never reused, as a forgotten
/// frame's id may still name it in a plan being built.
#[derive(Debug)]
struct Frames<F> {
    by_plan: HashMap<LogicalPlan, Entry<F>>,
    ids_given: usize,
}

/// A frame with its id and the tables its plan scans (inputs, or other frames by id),
/// noted when it is made so that forgetting tables looks at no plan.
#[derive(Debug)]
struct Entry<F> {
    id: String,
    frame: Arc<F>,
    reads: HashSet<String>,
}

/// Frames computed in this process and served from memory.
pub type SharedFrames = FrameRegistry<MemoryFrame>;

impl<F> Default for FrameRegistry<F> {
    fn default() -> Self {
        Self {
            frames: Mutex::new(Frames {
                by_plan: HashMap::new(),
                ids_given: 0,
            }),
        }
    }
}

impl<F> FrameRegistry<F> {
    /// The frame of `plan`, made by `make` from a new id (`__shared_<n>`) the first time.
    fn frame(&self, plan: &LogicalPlan, make: impl FnOnce(String) -> F) -> (String, Arc<F>) {
        let mut frames = self.frames.lock().expect("shared frames lock");
        if let Some(entry) = frames.by_plan.get(plan) {
            return (entry.id.clone(), Arc::clone(&entry.frame));
        }
        let id = format!("__shared_{}", frames.ids_given);
        frames.ids_given += 1;
        let frame = Arc::new(make(id.clone()));
        let entry = Entry {
            id: id.clone(),
            frame: Arc::clone(&frame),
            reads: tables_scanned(plan),
        };
        frames.by_plan.insert(plan.clone(), entry);
        (id, frame)
    }

    /// How many distinct frames the session holds.
    pub fn len(&self) -> usize {
        self.frames
            .lock()
            .expect("shared frames lock")
            .by_plan
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every frame that reads one of `tables` (by the name its scans give it),
    /// directly or through another frame, so that what they hold is freed once no plan
    /// uses them. For a batch whose later plans read none of those tables: a plan that
    /// does would compute such a frame again. Returns how many frames were forgotten.
    pub fn forget_reading(&self, tables: &HashSet<String>) -> usize {
        let mut frames = self.frames.lock().expect("shared frames lock");
        let mut gone: HashSet<String> = tables.clone();
        let before = frames.by_plan.len();
        // A frame over a forgotten frame scans it by id: repeat until no frame reads
        // anything gone (each round forgets at least one frame or ends).
        loop {
            let mut forgot = false;
            frames.by_plan.retain(|_, entry| {
                if entry.reads.is_disjoint(&gone) {
                    return true;
                }
                gone.insert(entry.id.clone());
                forgot = true;
                false
            });
            if !forgot {
                break;
            }
        }
        before - frames.by_plan.len()
    }
}

/// The names of the tables `plan` (subqueries included) scans.
fn tables_scanned(plan: &LogicalPlan) -> HashSet<String> {
    let mut tables = HashSet::new();
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            tables.insert(scan.table_name.table().to_string());
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .expect("the visit never fails");
    tables
}

/// One frame computed in this process: its plan, and its result once a scan has run it.
#[derive(Debug)]
pub struct MemoryFrame {
    plan: LogicalPlan,
    schema: SchemaRef,
    result: OnceCell<Arc<MemTable>>,
}

impl MemoryFrame {
    async fn result(&self, state: &dyn Session) -> Result<&Arc<MemTable>> {
        self.result
            .get_or_try_init(|| async {
                let physical = state.create_physical_plan(&self.plan).await?;
                let batches = collect(physical, state.task_ctx())
                    .await?
                    .into_iter()
                    // The logical schema is the table's; the batches carry the same
                    // columns, possibly with other field metadata.
                    .map(|b| RecordBatch::try_new(self.schema.clone(), b.columns().to_vec()))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Ok(Arc::new(MemTable::try_new(
                    self.schema.clone(),
                    vec![batches],
                )?))
            })
            .await
    }
}

#[async_trait::async_trait]
impl TableProvider for MemoryFrame {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.result(state)
            .await?
            .scan(state, projection, filters, limit)
            .await
    }
}

/// `df`, computed once per session and read from memory wherever it is used, when the
/// session shares frames (see the module docs); otherwise `df` itself.
///
/// Columns keep their names; their qualifier becomes the shared table's. A frame whose
/// columns are not unique by name (a join's two sides) stays inline.
pub fn share(df: DataFrame) -> Result<DataFrame> {
    let (state, plan) = df.into_parts();
    let schema = Arc::new(plan.schema().as_arrow().clone());
    let mut names = std::collections::HashSet::new();
    let unique_names = schema.fields().iter().all(|f| names.insert(f.name()));
    let config = state.config();
    let shared = if !unique_names {
        None
    } else if let Some(frames) = config.get_extension::<SharedFrames>() {
        let (id, frame) = frames.frame(&plan, |_| MemoryFrame {
            plan: plan.clone(),
            schema,
            result: OnceCell::new(),
        });
        Some((id, provider_as_source(frame)))
    } else if let Some(frames) = config.get_extension::<PlannedFrames>() {
        let (id, frame) = frames.frame(&plan, |id| PlannedFrame::new(id, plan.clone(), schema));
        Some((id, provider_as_source(frame)))
    } else {
        None
    };
    let Some((name, source)) = shared else {
        return Ok(DataFrame::new(state, plan));
    };
    let scan = LogicalPlanBuilder::scan(TableReference::bare(name), source, None)?.build()?;
    Ok(DataFrame::new(state, scan))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::common::tree_node::TreeNode;
    use datafusion::functions_aggregate::expr_fn::sum;
    use datafusion::prelude::*;

    use datafusion::physical_plan::displayable;

    use super::*;
    use crate::plan::c;

    fn context(sharing: bool) -> SessionContext {
        let config = SessionConfig::new().with_target_partitions(1);
        let config = if sharing {
            config.with_extension(Arc::new(SharedFrames::default()))
        } else {
            config
        };
        SessionContext::new_with_config(config)
    }

    async fn totals(ctx: &SessionContext) -> DataFrame {
        ctx.sql("SELECT * FROM (VALUES ('a', 1), ('a', 2), ('b', 5)) t(k, v)")
            .await
            .unwrap()
            .aggregate(vec![c("k")], vec![sum(c("v")).alias("v")])
            .unwrap()
    }

    async fn text(df: DataFrame) -> String {
        let batches = df
            .sort(vec![c("k").sort(true, false)])
            .unwrap()
            .collect()
            .await
            .unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    #[tokio::test]
    async fn a_shared_frame_is_one_entry_and_gives_the_same_rows() {
        let ctx = context(true);
        let inline = text(totals(&context(false)).await).await;
        let first = share(totals(&ctx).await).unwrap();
        let second = share(totals(&ctx).await).unwrap();
        let frames = ctx.copied_config().get_extension::<SharedFrames>().unwrap();
        assert_eq!(frames.len(), 1, "identical plans share one entry");
        assert_eq!(text(first.clone()).await, inline);
        // Used twice in one plan: a self-join reads the one result.
        assert_eq!(text(self_join(first, second)).await, JOINED);
    }

    /// A table registered as `name` with one column `k`.
    fn table(ctx: &SessionContext, name: &str) -> DataFrame {
        let batch = RecordBatch::try_from_iter([(
            "k",
            Arc::new(datafusion::arrow::array::Int64Array::from(vec![1, 2]))
                as datafusion::arrow::array::ArrayRef,
        )])
        .unwrap();
        ctx.register_batch(name, batch).unwrap();
        futures::executor::block_on(ctx.table(name)).unwrap()
    }

    #[test]
    fn forgetting_a_table_forgets_the_frames_over_it_and_ids_are_not_reused() {
        let ctx = context(true);
        let frames = ctx.copied_config().get_extension::<SharedFrames>().unwrap();
        let over_a = share(table(&ctx, "a").filter(c("k").gt(lit(1))).unwrap()).unwrap();
        // A frame over a frame over `a`: it scans `__shared_0`, not `a`.
        let nested = share(over_a.clone().limit(0, Some(1)).unwrap()).unwrap();
        let over_b = share(table(&ctx, "b").filter(c("k").gt(lit(1))).unwrap()).unwrap();
        assert_eq!(frames.len(), 3);

        let gone = frames.forget_reading(&HashSet::from(["a".to_string()]));
        assert_eq!(gone, 2, "the frame over `a` and the frame over that one");
        assert_eq!(frames.len(), 1, "the frame over `b` stays");
        assert_eq!(frames.forget_reading(&HashSet::from(["a".to_string()])), 0);

        // Shared again, the frame over `a` is a new entry under a new id.
        let again = share(table(&ctx, "a2").filter(c("k").gt(lit(1))).unwrap()).unwrap();
        let name = |df: &DataFrame| match df.logical_plan() {
            LogicalPlan::TableScan(scan) => scan.table_name.table().to_string(),
            other => panic!("not a scan: {other}"),
        };
        let names = [&over_a, &nested, &over_b, &again].map(name);
        assert_eq!(
            names,
            ["__shared_0", "__shared_1", "__shared_2", "__shared_3"]
        );
    }

    /// The same frame, used twice in one plan (a self-join), as the tests above use it.
    fn self_join(first: DataFrame, second: DataFrame) -> DataFrame {
        first
            .join(
                second
                    .select(vec![c("k").alias("k2"), c("v").alias("v2")])
                    .unwrap(),
                datafusion::common::JoinType::Inner,
                &["k"],
                &["k2"],
                None,
            )
            .unwrap()
            .select(vec![c("k"), (c("v") + c("v2")).alias("v")])
            .unwrap()
    }

    #[tokio::test]
    async fn a_planned_frame_is_one_operator_wherever_it_is_used() {
        use datafusion::common::tree_node::TreeNodeRecursion;
        let config = SessionConfig::new()
            .with_target_partitions(1)
            .with_extension(Arc::new(PlannedFrames::default()));
        let ctx = SessionContext::new_with_config(config);
        let inline = text(totals(&context(false)).await).await;
        let first = share(totals(&ctx).await).unwrap();
        let second = share(totals(&ctx).await).unwrap();
        let frames = ctx
            .copied_config()
            .get_extension::<PlannedFrames>()
            .unwrap();
        assert_eq!(frames.len(), 1, "identical plans share one entry");
        assert_eq!(text(first.clone()).await, inline);
        let joined = self_join(first, second);
        let plan = joined.clone().create_physical_plan().await.unwrap();
        let mut leaves: Vec<Arc<dyn ExecutionPlan>> = vec![];
        plan.apply(|node| {
            if node.downcast_ref::<SharedFrameExec>().is_some() {
                leaves.push(Arc::clone(node));
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        assert_eq!(
            leaves.len(),
            2,
            "{}",
            displayable(plan.as_ref()).indent(true)
        );
        assert!(
            Arc::ptr_eq(&leaves[0], &leaves[1]),
            "one operator, so one run"
        );
        assert_eq!(text(joined).await, JOINED);
    }

    const JOINED: &str = "\
+---+----+
| k | v  |
+---+----+
| a | 6  |
| b | 10 |
+---+----+";

    #[tokio::test]
    async fn without_the_cache_the_frame_stays_inline() {
        let ctx = context(false);
        let df = totals(&ctx).await;
        let plan = df.logical_plan().clone();
        assert_eq!(share(df).unwrap().logical_plan(), &plan);
    }

    #[tokio::test]
    async fn a_failing_frame_fails_every_plan_that_scans_it() {
        let ctx = context(true);
        let failing = ctx.sql("SELECT CAST('x' AS INT) AS k").await.unwrap();
        let shared = share(failing).unwrap();
        assert!(shared.clone().collect().await.is_err());
        assert!(shared.collect().await.is_err());
    }
}
