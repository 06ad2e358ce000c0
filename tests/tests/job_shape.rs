//! What each event costs a Ballista cluster: the jobs it submits (the reader's probes and
//! the writer's plan) and the stages and tasks of the writer's job, counted with the
//! scheduler's own planner (no cluster needed), with and without `SingleTaskExec`.

use std::sync::Arc;

use bydelsfakta_queries::writer_plan::{RunRequest, writer_plan};
use bydelsfakta_scheduler_client::Engine;
use bydelsfakta_scheduler_client::engine::{
    SINGLE_TASK_MAX_INPUT_BYTES, ballista_session_config, for_cluster, physical_codec,
    planning_context,
};
use bydelsfakta_scheduler_client::job_shape::job_shape;
use bydelsfakta_scheduler_client::output_group::{OutputGroup, OutputGroupExec};
use bydelsfakta_tests::counting::CountingExecutor;
use bydelsfakta_tests::{bucket_copy, fixtures, resolved_fixture_event};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec;

#[tokio::test]
async fn jobs_stages_and_tasks_per_event() {
    let (_dir, bucket) = bucket_copy(&fixtures().join("input"));
    let executor = CountingExecutor::new(Engine::embedded(&bucket).await.unwrap());
    let ctx = planning_context(&bucket, ballista_session_config()).unwrap();
    let mut rows = vec![];
    let mut staged_stages = 0;
    let mut group_sizes = vec![];
    for function in bydelsfakta_queries::functions::all() {
        let mut writers = vec![];
        for ty in function.types {
            let name = format!("{}__{}", function.name, ty.name);
            let resolved = resolved_fixture_event(&name);
            let before = executor.jobs();
            let request = RunRequest {
                target: &resolved.target,
                bucket: &bucket,
                output_prefix: &resolved.output_prefix,
                published_date: "2026-11-28",
                run_id: "shape",
                started_at: "2026-11-28T00:00:00Z",
                publish: Default::default(),
                input_cache: None,
                dry_run: false,
                engine: "embedded",
            };
            let plan = writer_plan(&ctx, &executor, &request).await.unwrap().plan;
            let probes = executor.jobs() - before;
            let options = ctx.state().config_options().clone();
            writers.push(Arc::clone(&plan));
            let staged = job_shape(for_cluster(Arc::clone(&plan), 0).unwrap(), &options).unwrap();
            let shape = job_shape(
                for_cluster(plan, SINGLE_TASK_MAX_INPUT_BYTES).unwrap(),
                &options,
            )
            .unwrap();
            println!(
                "{name:60} jobs {:2} stages {:3} tasks {:4} (cut into stages: {:3} stages, {:4} tasks)",
                probes + 1,
                shape.stages,
                shape.tasks,
                staged.stages,
                staged.tasks
            );
            rows.push((name, probes + 1, shape.stages, shape.tasks));
            staged_stages += staged.stages;
        }
        // As `run-all` sends the function to a cluster: its outputs as one job.
        let group: Arc<dyn ExecutionPlan> =
            Arc::new(OutputGroupExec::new(OutputGroup::new(writers)));
        let shape = job_shape(Arc::clone(&group), &ctx.state().config_options().clone()).unwrap();
        assert_eq!((shape.stages, shape.tasks), (1, 1), "{}", function.name);
        let bytes = physical_plan_to_bytes_with_extension_codec(group, physical_codec().as_ref())
            .unwrap()
            .len();
        group_sizes.push((function.name, bytes));
    }
    // The task that carries a group must fit the smallest gRPC message limit on its way
    // (4 MiB, tonic's default, where a standalone executor polls for work): shared
    // frames travel once per group (`shared_frames::encode_plans`), not once per use.
    group_sizes.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
    println!("largest encoded groups: {:?}", &group_sizes[..3]);
    let (largest, bytes) = group_sizes[0];
    assert!(bytes < 4 * 1024 * 1024, "{largest}: {bytes} bytes");
    // The guard (docs/ballista.md §12, one task per small plan): on the sample's small
    // inputs every writer job is one stage of one task, and an event submits at most one job
    // per input besides it (the reader's type probes). A change that cuts a small plan into
    // stages again, or adds a job per event, fails here.
    for (name, jobs, stages, tasks) in &rows {
        assert_eq!(
            (*stages, *tasks),
            (1, 1),
            "{name}: the writer's job is cut up"
        );
        let function = name.split("__").next().unwrap();
        let inputs = bydelsfakta_queries::functions::by_name(function)
            .unwrap()
            .input_datasets()
            .len();
        assert!(
            *jobs <= inputs + 1,
            "{name}: {jobs} jobs for {inputs} inputs"
        );
    }
    // With the threshold at 0 the same plans are cut into stages (so the guard above
    // guards the threshold, not a planner that never cuts).
    assert!(
        staged_stages > 2 * rows.len(),
        "{staged_stages} stages for {} plans cut into stages",
        rows.len()
    );
    let total = |f: fn(&(String, usize, usize, usize)) -> usize| rows.iter().map(f).sum::<usize>();
    println!(
        "total: {} outputs, {} jobs, {} stages, {} tasks",
        rows.len(),
        total(|r| r.1),
        total(|r| r.2),
        total(|r| r.3)
    );
}
