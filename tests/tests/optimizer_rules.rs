//! Our plan sessions leave out DataFusion's logical optimizer rules that change nothing in
//! our plans (`scheduler_client::optimizer_rules`). This proves it on every plan that the
//! embedded and the cluster sessions optimize for the 84 outputs of the sample: the writers'
//! plans, the shared frames and the reader's scans, each optimized once with DataFusion's
//! rules and once with ours. The same plans, counted, guard how much a batch plans.

use std::sync::{Arc, Mutex};

use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_queries::reader::InputCache;
use bydelsfakta_queries::writer_plan::{RunRequest, writer_plan};
use bydelsfakta_scheduler_client::Engine;
use bydelsfakta_scheduler_client::engine::{
    ballista_session_config, embedded_session_config, planning_context,
};
use bydelsfakta_scheduler_client::optimizer_rules::{WITHOUT_EFFECT, our_rules};
use bydelsfakta_tests::counting::CountingExecutor;
use bydelsfakta_tests::{bucket_copy, fixtures, resolved_fixture_event};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::error::Result as DfResult;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::{Optimizer, OptimizerConfig, OptimizerContext, OptimizerRule};
use datafusion::prelude::{SessionConfig, SessionContext};
use tokio::sync::OnceCell;

/// Keeps a copy of every plan it is given, as the optimizer's first rule: the analyzed plan
/// that the other rules then rewrite.
#[derive(Debug, Default)]
struct Recorder {
    plans: Mutex<Vec<LogicalPlan>>,
}

impl OptimizerRule for Recorder {
    fn name(&self) -> &str {
        "record_plans"
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> DfResult<Transformed<LogicalPlan>> {
        self.plans.lock().unwrap().push(plan.clone());
        Ok(Transformed::no(plan))
    }
}

/// Every plan the session of `config` optimizes while it plans the 84 outputs, and the
/// session's state.
async fn plans_of_every_output(
    bucket: &Bucket,
    config: SessionConfig,
    cached: bool,
) -> (Vec<LogicalPlan>, SessionContext) {
    let ctx = planning_context(bucket, config).unwrap();
    let recorder = Arc::new(Recorder::default());
    let state = ctx.state();
    let mut rules: Vec<Arc<dyn OptimizerRule + Send + Sync>> = vec![recorder.clone()];
    rules.extend(state.optimizers().iter().cloned());
    let ctx = SessionContext::new_with_state(
        SessionStateBuilder::new_from_existing(state)
            .with_optimizer_rules(rules)
            .build(),
    );
    let executor = CountingExecutor::new(Engine::embedded(bucket).await.unwrap());
    let cache = InputCache::default();
    for function in bydelsfakta_queries::functions::all() {
        for ty in function.types {
            let name = format!("{}__{}", function.name, ty.name);
            let resolved = resolved_fixture_event(&name);
            let request = RunRequest {
                target: &resolved.target,
                bucket,
                output_prefix: &resolved.output_prefix,
                published_date: "2026-12-04",
                run_id: "rules",
                started_at: "2026-12-04T00:00:00Z",
                publish: Default::default(),
                input_cache: cached.then_some(&cache),
                dry_run: true,
                engine: "embedded",
            };
            writer_plan(&ctx, &executor, &request).await.unwrap();
        }
    }
    let plans = std::mem::take(&mut *recorder.plans.lock().unwrap());
    (plans, ctx)
}

/// The plans one session optimizes for the 84 outputs, and its options.
struct Batch {
    session: &'static str,
    plans: Vec<LogicalPlan>,
    options: Arc<ConfigOptions>,
}

/// The embedded and the cluster sessions' batches, planned once for the tests of this file
/// (each takes about ten seconds).
async fn batches() -> &'static [Batch; 2] {
    static BATCHES: OnceCell<[Batch; 2]> = OnceCell::const_new();
    BATCHES
        .get_or_init(|| async {
            let (_dir, bucket) = bucket_copy(&fixtures().join("input"));
            let mut batches = vec![];
            for (session, config, cached) in [
                ("embedded", embedded_session_config(), true),
                ("cluster", ballista_session_config(), false),
            ] {
                let (plans, ctx) = plans_of_every_output(&bucket, config, cached).await;
                let options = Arc::clone(ctx.state().config_options());
                batches.push(Batch {
                    session,
                    plans,
                    options,
                });
            }
            batches.try_into().ok().expect("two sessions")
        })
        .await
}

#[tokio::test]
async fn the_rules_we_leave_out_change_no_plan_of_ours() {
    let _serial = bydelsfakta_tests::serial::shared().await;
    let defaults = Optimizer::new().rules;
    for name in WITHOUT_EFFECT {
        assert!(
            defaults.iter().any(|rule| rule.name() == *name),
            "{name} is not one of DataFusion's rules (renamed in an upgrade?)"
        );
    }
    let ours = Optimizer::with_rules(our_rules());
    let every = Optimizer::with_rules(defaults);
    for Batch {
        session,
        plans,
        options,
    } in batches().await
    {
        assert!(plans.len() > 84, "{session}: only {} plans", plans.len());
        // A fresh context per run: the names of common subexpressions count up within one.
        let optimize = |optimizer: &Optimizer, plan: &LogicalPlan| {
            let config = OptimizerContext::new_with_config_options(Arc::clone(options));
            optimizer
                .optimize(plan.clone(), &config, |_, _| {})
                .unwrap()
        };
        for plan in plans {
            let (expected, actual) = (optimize(&every, plan), optimize(&ours, plan));
            assert!(
                expected == actual,
                "{session}: a left-out rule changes\n{}\nto\n{}\nnot\n{}",
                plan.display_indent(),
                expected.display_indent(),
                actual.display_indent()
            );
        }
        println!("{session}: {} plans, the same with our rules", plans.len());
    }
}

/// The logical nodes of `plan`, its subqueries' included.
fn nodes(plan: &LogicalPlan) -> usize {
    let mut count = 0;
    plan.apply_with_subqueries(|_| {
        count += 1;
        Ok(TreeNodeRecursion::Continue)
    })
    .unwrap();
    count
}

/// The plans a session optimizes for the 84 outputs of the sample, and their logical nodes,
/// as the design has them now. Planning costs a batch about 40% of its CPU, in proportion to
/// the nodes planned (docs/speed.md, "Embedded against its I/O floor"), so a change that
/// plans more fails here first. A change that plans less, or a new output, lowers or raises
/// these on purpose.
const PLANNED: [(&str, usize, usize); 2] = [("embedded", 253, 1_987), ("cluster", 341, 2_556)];

#[tokio::test]
async fn a_batch_plans_no_more_than_it_does_now() {
    let _serial = bydelsfakta_tests::serial::shared().await;
    for (batch, (session, max_plans, max_nodes)) in batches().await.iter().zip(PLANNED) {
        assert_eq!(batch.session, session);
        let total: usize = batch.plans.iter().map(nodes).sum();
        println!(
            "{session}: {} plans, {total} logical nodes",
            batch.plans.len()
        );
        assert!(
            batch.plans.len() <= max_plans && total <= max_nodes,
            "{session}: {} plans of {total} logical nodes, where the design planned {max_plans} of {max_nodes}; \
             a batch's planning grows with them (docs/speed.md)",
            batch.plans.len()
        );
    }
}
