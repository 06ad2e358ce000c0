//! A real cluster on loopback: our scheduler and two executor processes, started from the
//! binaries this crate builds, and a client that only plans and submits.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bydelsfakta_scheduler_client::Engine;
use bydelsfakta_tests::{
    bucket_copy, compare_folders, fixture_event, fixtures, large_stack_runtime, run_on,
};

/// A child process that is killed when the test ends, however it ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The HTTP status of `GET path` on loopback `port`, if anything answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.split_whitespace().nth(1)?.parse().ok()
}

fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what} did not become ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Cluster {
    scheduler_port: u16,
    _processes: Vec<Process>,
    work_dirs: Vec<tempfile::TempDir>,
}

fn start_cluster(executors: usize) -> Cluster {
    let scheduler_port = free_port();
    let scheduler = Command::new(env!("CARGO_BIN_EXE_bydelsfakta-scheduler"))
        .args(["--bind-host", "127.0.0.1", "--external-host", "127.0.0.1"])
        .args(["--bind-port", &scheduler_port.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .expect("scheduler binary");
    let mut processes = vec![Process(scheduler)];
    wait_until("the scheduler", || {
        http_status(scheduler_port, "/healthz") == Some(200)
    });
    let mut work_dirs = vec![];
    let mut health_ports = vec![];
    for _ in 0..executors {
        let work_dir = tempfile::tempdir().unwrap();
        let health_port = free_port();
        let executor = Command::new(env!("CARGO_BIN_EXE_bydelsfakta-executor"))
            .args(["--bind-host", "127.0.0.1", "--external-host", "127.0.0.1"])
            .args(["--scheduler-host", "127.0.0.1"])
            .args(["--scheduler-port", &scheduler_port.to_string()])
            .args(["--bind-port", &free_port().to_string()])
            .args(["--bind-grpc-port", &free_port().to_string()])
            .args(["--bind-health-port", &health_port.to_string()])
            .args([
                "--vcores",
                "1",
                "--executor-heartbeat-interval-seconds",
                "1",
            ])
            .arg("--work-dir")
            .arg(work_dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("executor binary");
        processes.push(Process(executor));
        work_dirs.push(work_dir);
        health_ports.push(health_port);
    }
    for port in health_ports {
        wait_until("an executor", || http_status(port, "/readyz") == Some(200));
    }
    Cluster {
        scheduler_port,
        _processes: processes,
        work_dirs,
    }
}

/// Whether an executor wrote shuffle data of some job under its work dir.
fn ran_tasks(work_dir: &Path) -> bool {
    std::fs::read_dir(work_dir).is_ok_and(|mut entries| entries.next().is_some())
}

#[test]
fn a_remote_cluster_writes_the_same_documents() {
    let runtime = large_stack_runtime();
    runtime.block_on(async { tokio::spawn(same_documents()).await.unwrap() });
}

async fn same_documents() {
    let cluster = start_cluster(2);
    let (dir, bucket) = bucket_copy(&fixtures().join("input"));
    let scheduler = format!("df://127.0.0.1:{}", cluster.scheduler_port);
    let engine = Engine::remote(&scheduler, &bucket, Duration::from_secs(10))
        .await
        .unwrap();
    for (function, ty) in [
        ("trangboddhet", "over-2_status"),
        ("levekar_totalt", "status"),
        ("befolkningsutvkl_forv_utvkl", "historisk"),
    ] {
        let event = fixture_event(&format!("{function}__{ty}"));
        let outcome = run_on(&engine, &bucket, &event.to_string())
            .await
            .unwrap_or_else(|e| panic!("{function} {ty}: {e}"));
        let expected = fixtures().join(format!("expected/{function}/{ty}"));
        compare_folders(&expected, &dir.path().join(&outcome.output_prefix))
            .unwrap_or_else(|e| panic!("{function} {ty}: {e}"));
    }
    for (i, work_dir) in cluster.work_dirs.iter().enumerate() {
        assert!(ran_tasks(work_dir.path()), "executor {i} ran no task");
    }
}

#[tokio::test]
async fn an_unreachable_scheduler_is_a_clear_error() {
    let (_dir, bucket) = bucket_copy(&fixtures().join("input"));
    let scheduler = format!("df://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let err = match Engine::remote(&scheduler, &bucket, Duration::from_secs(2)).await {
        Ok(_) => panic!("nothing listens on {scheduler}"),
        Err(e) => e,
    };
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(err.kind(), "SchedulerUnavailableError");
    let text = err.to_string();
    assert!(
        text.contains(&scheduler) && text.contains("not reachable"),
        "{text}"
    );
}
