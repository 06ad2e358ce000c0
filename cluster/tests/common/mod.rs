//! Our cluster's processes on loopback, for the tests that need them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process that is killed when the test ends, however it ends.
pub struct Process(Child);

impl Process {
    pub fn spawn(command: &mut Command) -> Self {
        let program = command.get_program().to_string_lossy().into_owned();
        Self(
            command
                .stdout(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("start {program}: {e}")),
        )
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Kills the process at once (SIGKILL): no draining, no goodbye to the scheduler.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Taken first by every test of this binary, which then runs alone: each starts a scheduler
/// and executors, and two clusters at once on a 2-core machine starve the heartbeats that
/// `executor_loss` expects within 5 s and the statements `sql` gives 10 s; `s3` sets the
/// process's environment, which no other thread may read meanwhile; `remote` times how
/// soon an unreachable scheduler is reported.
pub fn alone() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    bydelsfakta_tests::serial::exclusive_blocking()
}

/// Runs the test `body` [`alone`], as a task of a runtime whose workers have large stacks
/// (`bydelsfakta_tests::large_stack_runtime`: deep plans are encoded and optimized
/// recursively), so that the body runs on a worker, not on the test's own thread.
pub fn run_alone(body: impl std::future::Future<Output = ()> + Send + 'static) {
    let _alone = alone();
    let runtime = bydelsfakta_tests::large_stack_runtime();
    runtime.block_on(async { tokio::spawn(body).await.unwrap() });
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The HTTP status of `GET path` on loopback `port`, if anything answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.split_whitespace().nth(1)?.parse().ok()
}

pub fn wait_until(what: &str, ready: impl Fn() -> bool) {
    assert!(
        ready_within(Duration::from_secs(60), ready),
        "{what} did not become ready"
    );
}

/// Whether `ready` holds within `limit`, asked every 100 ms.
fn ready_within(limit: Duration, ready: impl Fn() -> bool) -> bool {
    let started = Instant::now();
    while !ready() {
        if started.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

pub struct Cluster {
    pub scheduler_port: u16,
    /// The scheduler, then the executors in order.
    pub processes: Vec<Process>,
    pub work_dirs: Vec<tempfile::TempDir>,
    /// Each executor's `--bind-health-port` (`/healthz`, `/readyz`, `/metrics`), in order.
    pub health_ports: Vec<u16>,
}

impl Cluster {
    pub fn kill_executor(&mut self, index: usize) {
        self.processes[index + 1].kill();
    }

    /// One more executor, once it is ready.
    pub fn add_executor(&mut self) {
        let (executor, work_dir, health_port) = start_executor(self.scheduler_port, &[]);
        self.processes.push(executor);
        self.work_dirs.push(work_dir);
        self.health_ports.push(health_port);
    }
}

pub fn start_cluster(executors: usize, env: &[(&str, String)]) -> Cluster {
    start_cluster_with(executors, env, &[])
}

/// A cluster whose scheduler also gets `scheduler_args` (`--flight-sql`, timeouts).
pub fn start_cluster_with(
    executors: usize,
    env: &[(&str, String)],
    scheduler_args: &[&str],
) -> Cluster {
    // Ballista logs every job's plans at INFO; the tests' output keeps warnings only.
    let log_filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    let mut env = env.to_vec();
    if !env.iter().any(|(k, _)| *k == "RUST_LOG") {
        env.push(("RUST_LOG", log_filter));
    }
    let scheduler_port = free_port();
    let scheduler = start_scheduler(scheduler_port, &env, scheduler_args);
    let mut processes = vec![scheduler];
    let mut work_dirs = vec![];
    let mut health_ports = vec![];
    for _ in 0..executors {
        let (executor, work_dir, health_port) = start_executor(scheduler_port, &env);
        processes.push(executor);
        work_dirs.push(work_dir);
        health_ports.push(health_port);
    }
    Cluster {
        scheduler_port,
        processes,
        work_dirs,
        health_ports,
    }
}

/// A scheduler on loopback `port`, once it answers.
pub fn start_scheduler(port: u16, env: &[(&str, String)], args: &[&str]) -> Process {
    let scheduler = Process::spawn(
        Command::new(env!("CARGO_BIN_EXE_bydelsfakta-scheduler"))
            .args(["--bind-host", "127.0.0.1", "--external-host", "127.0.0.1"])
            .args(["--bind-port", &port.to_string()])
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v))),
    );
    wait_until("the scheduler", || {
        http_status(port, "/healthz") == Some(200)
    });
    scheduler
}

/// An executor of the scheduler at `scheduler_port`, once it is ready. Its ports are
/// picked free just before it binds them, so another process can take one in between;
/// then the executor never becomes ready, and it is started again on other ports. Also
/// returns its work dir and its health port.
pub fn start_executor(
    scheduler_port: u16,
    env: &[(&str, String)],
) -> (Process, tempfile::TempDir, u16) {
    for _ in 0..3 {
        let work_dir = tempfile::tempdir().unwrap();
        let health_port = free_port();
        let mut executor = Process::spawn(
            Command::new(env!("CARGO_BIN_EXE_bydelsfakta-executor"))
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
                .envs(env.iter().map(|(k, v)| (k, v))),
        );
        if ready_within(Duration::from_secs(20), || {
            http_status(health_port, "/readyz") == Some(200)
        }) {
            return (executor, work_dir, health_port);
        }
        executor.kill();
    }
    panic!("an executor did not become ready (3 attempts)");
}

/// Whether an executor wrote shuffle data of some job under its work dir.
pub fn ran_tasks(work_dir: &Path) -> bool {
    std::fs::read_dir(work_dir).is_ok_and(|mut entries| entries.next().is_some())
}

/// The plans ran on the executors: at least one of them ran tasks. Not each of them: a
/// small plan is one task, and an idle cluster gives every such task to the same executor
/// (the kill tests in executor_loss show that both executors take work).
pub fn assert_executors_ran_tasks(work_dirs: &[tempfile::TempDir]) {
    assert!(
        work_dirs.iter().any(|dir| ran_tasks(dir.path())),
        "no executor ran a task"
    );
}

/// A binary of another package of the workspace, next to this package's binaries in the
/// target dir (`cargo test --workspace` builds every package's binaries before any test).
pub fn workspace_binary(name: &str) -> std::path::PathBuf {
    let ours = Path::new(env!("CARGO_BIN_EXE_bydelsfakta-scheduler"));
    let path = ours.with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --bin {name}` (or run `cargo test --workspace`)",
        path.display()
    );
    path
}
