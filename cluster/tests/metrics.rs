//! `/metrics` of a real cluster: the scheduler's port and both executors' health ports are
//! scraped before and after runs and parsed as Prometheus parses them; what changed must be
//! what the runs did (jobs, tasks, documents and bytes written, input read), and a run that
//! fails on the cluster counts a failed job and a failed task and writes nothing. They also
//! guard an event's shape: once its inputs are recorded, one job of one task.

use std::time::{Duration, Instant};

use crate::common::{Cluster, run_alone, start_cluster};

use bydelsfakta_scheduler_client::Engine;
use bydelsfakta_tests::metrics::{Metrics, delta};
use bydelsfakta_tests::{bad_input, bucket_copy, fixture_event, fixtures, run_on};

/// One scrape of every process of the cluster.
struct Scrapes {
    scheduler: Metrics,
    executors: Vec<Metrics>,
}

impl Scrapes {
    fn take(cluster: &Cluster) -> Self {
        Self {
            scheduler: Metrics::scrape(cluster.scheduler_port),
            executors: cluster
                .health_ports
                .iter()
                .map(|&p| Metrics::scrape(p))
                .collect(),
        }
    }

    /// What `name` became on the scheduler since `before`.
    fn scheduler_delta(&self, before: &Scrapes, name: &str) -> f64 {
        delta(&before.scheduler, &self.scheduler, name)
    }

    /// What `name` became on all executors together since `before`.
    fn executors_delta(&self, before: &Scrapes, name: &str) -> f64 {
        self.executors
            .iter()
            .zip(&before.executors)
            .map(|(after, before)| delta(before, after, name))
            .sum()
    }

    fn executors_histogram_delta(&self, before: &Scrapes, name: &str) -> f64 {
        self.executors
            .iter()
            .zip(&before.executors)
            .map(|(after, before)| after.histogram_count(name) - before.histogram_count(name))
            .sum()
    }
}

/// The scrapes once the scheduler has counted `ended` more jobs (completed or failed) than
/// `before`: it counts a job when it handles the job's last event, which a client may hear
/// of first. Gives up after a minute, showing the last counts.
fn once_jobs_counted(cluster: &Cluster, before: &Scrapes, ended: f64) -> Scrapes {
    let started = Instant::now();
    loop {
        let now = Scrapes::take(cluster);
        let counted = now.scheduler_delta(before, "job_completed_total")
            + now.scheduler_delta(before, "job_failed_total");
        if counted >= ended || started.elapsed() > Duration::from_secs(60) {
            return now;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn metrics_count_what_the_runs_did() {
    run_alone(counted_runs());
}

async fn counted_runs() {
    let cluster = tokio::task::spawn_blocking(|| start_cluster(2, &[]))
        .await
        .unwrap();
    let scheduler = format!("df://127.0.0.1:{}", cluster.scheduler_port);
    let (_dir, bucket) = bucket_copy(&fixtures().join("input"));
    let engine = Engine::remote(&scheduler, &bucket, Duration::from_secs(10))
        .await
        .unwrap();
    let before = Scrapes::take(&cluster);
    for name in [
        "job_submitted_total",
        "job_completed_total",
        "job_failed_total",
        "job_exec_time_seconds",
    ] {
        assert!(before.scheduler.has(name), "the scheduler has no {name}");
    }
    let jobs_before = engine.jobs_submitted();
    let (mut documents, mut bytes) = (0, 0);
    for name in ["trangboddhet__over-2_status", "levekar_totalt__status"] {
        let outcome = run_on(&engine, &bucket, &fixture_event(name).to_string())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(outcome.job_id.is_some(), "{name} ran as a cluster job");
        documents += outcome.summary.documents;
        bytes += outcome.summary.bytes;
    }
    // The writers' jobs and the probes that typed their inputs.
    let jobs = (engine.jobs_submitted() - jobs_before) as f64;
    assert!(jobs >= 2.0, "{jobs} jobs");

    let after = once_jobs_counted(&cluster, &before, jobs);
    assert_eq!(after.scheduler_delta(&before, "job_submitted_total"), jobs);
    assert_eq!(after.scheduler_delta(&before, "job_completed_total"), jobs);
    assert_eq!(after.scheduler_delta(&before, "job_failed_total"), 0.0);
    assert_eq!(
        after.scheduler.histogram_count("job_exec_time_seconds")
            - before.scheduler.histogram_count("job_exec_time_seconds"),
        jobs
    );

    let tasks = |name| after.executors_delta(&before, name);
    assert!(
        tasks("bydelsfakta_tasks_completed_total") >= jobs,
        "a task per job at least"
    );
    assert_eq!(tasks("bydelsfakta_tasks_failed_total"), 0.0);
    assert_eq!(
        tasks("bydelsfakta_tasks_started_total"),
        tasks("bydelsfakta_tasks_completed_total") + tasks("bydelsfakta_tasks_cancelled_total")
    );
    assert_eq!(
        after.executors_histogram_delta(&before, "bydelsfakta_task_duration_seconds"),
        tasks("bydelsfakta_tasks_completed_total")
    );
    let running: f64 = after
        .executors
        .iter()
        .map(|m| m.value("bydelsfakta_tasks_running"))
        .sum();
    assert_eq!(running, 0.0);

    assert_eq!(tasks("bydelsfakta_publications_total"), 2.0);
    assert_eq!(
        tasks("bydelsfakta_documents_written_total"),
        documents as f64
    );
    assert_eq!(
        tasks("bydelsfakta_document_bytes_written_total"),
        bytes as f64
    );
    assert!(tasks("bydelsfakta_input_bytes_read_total") > 0.0);
    assert_eq!(tasks("bydelsfakta_publications_rolled_back_total"), 0.0);

    // The guard on an event's shape on a cluster: once its inputs are recorded, an event
    // is one job of one task (levekar_totalt joins nine inputs). A change that adds a job,
    // a stage or a partition fails here.
    let event = fixture_event("levekar_totalt__status").to_string();
    let jobs_before = engine.jobs_submitted();
    run_on(&engine, &bucket, &event).await.unwrap();
    assert_eq!(
        engine.jobs_submitted() - jobs_before,
        1,
        "one job per event"
    );
    let guarded = once_jobs_counted(&cluster, &after, 1.0);
    assert_eq!(
        guarded.executors_delta(&after, "bydelsfakta_tasks_started_total"),
        1.0,
        "one task per event"
    );

    // A row with an extra field fails the scan on an executor: the job fails, nothing is
    // written.
    let case = bad_input::cases()
        .into_iter()
        .find(|case| case.name == "an extra field")
        .expect("the case");
    let scheduler_url = scheduler.clone();
    bad_input::check(&case, |bucket| async move {
        Engine::remote(&scheduler_url, &bucket, Duration::from_secs(10))
            .await
            .unwrap()
    })
    .await
    .unwrap();
    let failed = once_jobs_counted(&cluster, &guarded, 1.0);
    assert!(failed.scheduler_delta(&guarded, "job_failed_total") >= 1.0);
    assert_eq!(failed.scheduler_delta(&guarded, "job_completed_total"), 0.0);
    assert!(failed.executors_delta(&guarded, "bydelsfakta_tasks_failed_total") >= 1.0);
    assert_eq!(
        failed.executors_delta(&guarded, "bydelsfakta_documents_written_total"),
        0.0
    );
    assert_eq!(
        failed.executors_delta(&guarded, "bydelsfakta_publications_total"),
        0.0
    );
}
