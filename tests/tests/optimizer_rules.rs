//! Our plan sessions leave out DataFusion's logical optimizer rules that change nothing in
//! our plans (`scheduler_client::optimizer_rules`). This proves it on every plan that the
//! embedded and the cluster sessions optimize for the 84 outputs of the sample: the writers'
//! plans, the shared frames and the reader's scans, each optimized once with DataFusion's
//! rules and once with ours.

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
use datafusion::common::tree_node::Transformed;
use datafusion::error::Result as DfResult;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::{Optimizer, OptimizerConfig, OptimizerContext, OptimizerRule};
use datafusion::prelude::{SessionConfig, SessionContext};

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

#[tokio::test]
async fn the_rules_we_leave_out_change_no_plan_of_ours() {
    let _serial = bydelsfakta_tests::serial::shared().await;
    let (_dir, bucket) = bucket_copy(&fixtures().join("input"));
    let defaults = Optimizer::new().rules;
    for name in WITHOUT_EFFECT {
        assert!(
            defaults.iter().any(|rule| rule.name() == *name),
            "{name} is not one of DataFusion's rules (renamed in an upgrade?)"
        );
    }
    let ours = Optimizer::with_rules(our_rules());
    let every = Optimizer::with_rules(defaults);
    for (session, config, cached) in [
        ("embedded", embedded_session_config(), true),
        ("cluster", ballista_session_config(), false),
    ] {
        let (plans, ctx) = plans_of_every_output(&bucket, config, cached).await;
        assert!(plans.len() > 84, "{session}: only {} plans", plans.len());
        let options = Arc::new(ctx.state().config_options().clone());
        // A fresh context per run: the names of common subexpressions count up within one.
        let optimize = |optimizer: &Optimizer, plan: &LogicalPlan| {
            let config = OptimizerContext::new_with_config_options(Arc::clone(&options));
            optimizer
                .optimize(plan.clone(), &config, |_, _| {})
                .unwrap()
        };
        for plan in &plans {
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
