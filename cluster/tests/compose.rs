//! `docker/compose.yaml` on loopback. These machines have no Docker engine, so this test
//! reads the compose file (and the Dockerfile's entrypoints) and starts the same binaries
//! with the same arguments and environment, only with names and ports remapped to loopback:
//! an S3 server with MinIO's keys and the seeded bucket, our scheduler, two executors, and
//! the shim behind a Lambda Runtime API. A pipeline event sent to the shim must come back
//! as the original's step output, with the original's documents in the bucket, written by
//! both executors, and with no data through the shim; the `cli` service's SQL runs on the
//! same cluster over the same bucket.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::common::{
    Process, alone, assert_executors_ran_tasks, free_port, http_status, wait_until,
    workspace_binary,
};
use bydelsfakta_tests::s3::MemoryS3;
use bydelsfakta_tests::s3::server::{S3Server, assert_only_planning, assert_read_and_wrote};

use bydelsfakta_tests::lambda_api::{Answer, RuntimeApi};
use bydelsfakta_tests::{compare_folders, fixture_event, fixtures};

const ANSWER_WITHIN: Duration = Duration::from_secs(300);

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Service {
    build: Option<Build>,
    command: Vec<String>,
    environment: BTreeMap<String, String>,
    env_file: Vec<String>,
    volumes: Vec<String>,
    healthcheck: Option<Healthcheck>,
}

#[derive(Debug, Deserialize)]
struct Build {
    target: String,
}

#[derive(Debug, Deserialize)]
struct Healthcheck {
    test: Vec<String>,
}

/// The compose file and the entrypoints of the Dockerfile's targets.
struct Project {
    dir: PathBuf,
    services: BTreeMap<String, Service>,
    entrypoints: BTreeMap<String, Vec<String>>,
}

impl Project {
    fn load() -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker");
        #[derive(Deserialize)]
        struct File {
            services: BTreeMap<String, Service>,
        }
        let text = std::fs::read_to_string(dir.join("compose.yaml")).expect("compose.yaml");
        let file: File = serde_yaml_ng::from_str(&text).expect("compose.yaml parses");
        let dockerfile = std::fs::read_to_string(dir.join("Dockerfile")).expect("Dockerfile");
        Self {
            dir,
            services: file.services,
            entrypoints: dockerfile_entrypoints(&dockerfile),
        }
    }

    fn service(&self, name: &str) -> &Service {
        self.services
            .get(name)
            .unwrap_or_else(|| panic!("compose.yaml has no service {name}"))
    }

    /// The service's variables: its env files, then its `environment` over them.
    fn env(&self, name: &str) -> BTreeMap<String, String> {
        let service = self.service(name);
        let mut env = BTreeMap::new();
        for file in &service.env_file {
            let text = std::fs::read_to_string(self.dir.join(file)).expect("env file");
            for line in text.lines().map(str::trim) {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (key, value) = line.split_once('=').expect("KEY=VALUE");
                env.insert(key.to_string(), value.to_string());
            }
        }
        env.extend(service.environment.clone());
        env
    }

    /// The program the service's image runs: the last word of its target's ENTRYPOINT
    /// (the shim's image runs the Runtime Interface Emulator, which runs the shim).
    fn program(&self, name: &str) -> String {
        let target = &self
            .service(name)
            .build
            .as_ref()
            .expect("built here")
            .target;
        let entrypoint = &self.entrypoints[target];
        let program = entrypoint.last().expect("an entrypoint");
        program.rsplit('/').next().unwrap().to_string()
    }

    /// The port and path of the service's `curl -fs http://localhost:<port><path>` check.
    fn health_check(&self, name: &str) -> (u16, String) {
        let test = &self
            .service(name)
            .healthcheck
            .as_ref()
            .expect("a health check")
            .test;
        let url = test.last().expect("a URL");
        let rest = url
            .strip_prefix("http://localhost:")
            .expect("a localhost URL");
        let (port, path) = rest.split_at(rest.find('/').expect("a path"));
        (port.parse().expect("a port"), path.to_string())
    }
}

/// `FROM ... AS <target>` stages and their `ENTRYPOINT [..]`.
fn dockerfile_entrypoints(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut entrypoints = BTreeMap::new();
    let mut stage = String::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["FROM", _, "AS", name] => stage = name.to_string(),
            ["ENTRYPOINT", ..] => {
                let json = line.trim_start_matches("ENTRYPOINT").trim();
                let entrypoint: Vec<String> = serde_json::from_str(json).expect("exec form");
                entrypoints.insert(stage.clone(), entrypoint);
            }
            _ => {}
        }
    }
    entrypoints
}

/// How the compose network's names and ports become loopback ones: whole arguments are
/// replaced (host names, ports, the work dir), and `host:port` inside variables.
struct Loopback {
    arguments: HashMap<String, String>,
    addresses: Vec<(String, String)>,
}

impl Loopback {
    fn args(&self, args: &[String]) -> Vec<String> {
        args.iter()
            .map(|a| self.arguments.get(a).cloned().unwrap_or_else(|| a.clone()))
            .collect()
    }

    fn env(&self, env: &BTreeMap<String, String>) -> Vec<(String, String)> {
        env.iter()
            .map(|(key, value)| {
                let value = self
                    .addresses
                    .iter()
                    .fold(value.clone(), |v, (from, to)| v.replace(from, to));
                (key.clone(), value)
            })
            .collect()
    }
}

fn binary(program: &str) -> PathBuf {
    match program {
        "bydelsfakta-scheduler" => env!("CARGO_BIN_EXE_bydelsfakta-scheduler").into(),
        "bydelsfakta-executor" => env!("CARGO_BIN_EXE_bydelsfakta-executor").into(),
        other => workspace_binary(other),
    }
}

#[test]
fn the_compose_file_runs_on_loopback() {
    let _alone = alone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async { tokio::spawn(compose_on_loopback()).await.unwrap() });
}

async fn compose_on_loopback() {
    let project = Project::load();

    // MinIO: its root user is the cluster's key; the seed job adds the shim's read-only
    // user and mirrors the mounted sample inputs into the shim's bucket.
    let minio = project.env("minio");
    let cluster_key = (&minio["MINIO_ROOT_USER"], &minio["MINIO_ROOT_PASSWORD"]);
    let shim_env = project.env("shim");
    let shim_key = (
        &shim_env["AWS_ACCESS_KEY_ID"],
        &shim_env["AWS_SECRET_ACCESS_KEY"],
    );
    let bucket = shim_env["BYDELSFAKTA_BUCKET"]
        .strip_prefix("s3://")
        .expect("an s3:// bucket")
        .to_string();
    let seed = project.service("seed").command.join(" ");
    for step in [
        format!(
            "mc alias set local http://minio:9000 {} {}",
            cluster_key.0, cluster_key.1
        ),
        format!("mc mb --ignore-existing local/{bucket}"),
        format!("mc mirror --overwrite /seed local/{bucket}"),
        format!("mc admin user add local {} {}", shim_key.0, shim_key.1),
        format!(
            "mc admin policy attach local readonly --user {}",
            shim_key.0
        ),
    ] {
        assert!(
            seed.contains(&step),
            "the seed job does not run `{step}`: {seed}"
        );
    }
    let volume = &project.service("seed").volumes[0];
    let seeded = project.dir.join(volume.split(':').next().unwrap());
    let store = MemoryS3::default();
    store.load_dir(&bucket, &seeded);
    let s3 = S3Server::start(
        store.clone(),
        &[(cluster_key.0, cluster_key.1), (shim_key.0, shim_key.1)],
    )
    .await;

    let scheduler_port = free_port();
    let mut arguments: HashMap<String, String> =
        ["0.0.0.0", "scheduler", "executor-1", "executor-2"]
            .into_iter()
            .map(|host| (host.to_string(), "127.0.0.1".to_string()))
            .collect();
    arguments.insert("50050".into(), scheduler_port.to_string());
    let addresses = vec![
        (
            "minio:9000".to_string(),
            s3.endpoint.trim_start_matches("http://").to_string(),
        ),
        (
            "scheduler:50050".to_string(),
            format!("127.0.0.1:{scheduler_port}"),
        ),
    ];

    let mut processes = vec![];
    let mut start = |name: &str, extra: &[(&str, String)]| {
        let mut loopback = Loopback {
            arguments: arguments.clone(),
            addresses: addresses.clone(),
        };
        for (from, to) in extra {
            loopback.arguments.insert(from.to_string(), to.clone());
        }
        let program = project.program(name);
        let args = loopback.args(&project.service(name).command);
        processes.push(Process::spawn(
            Command::new(binary(&program))
                .args(&args)
                .env_clear()
                .envs(loopback.env(&project.env(name))),
        ));
        let (port, path) = project.health_check(name);
        let port: u16 = loopback.args(&[port.to_string()])[0].parse().unwrap();
        tokio::task::block_in_place(|| {
            wait_until(name, || http_status(port, &path) == Some(200));
        });
    };
    start("scheduler", &[]);
    let mut work_dirs = vec![];
    for executor in ["executor-1", "executor-2"] {
        let work_dir = tempfile::tempdir().unwrap();
        start(
            executor,
            &[
                ("50051", free_port().to_string()),
                ("50052", free_port().to_string()),
                ("50053", free_port().to_string()),
                ("/work", work_dir.path().display().to_string()),
            ],
        );
        work_dirs.push(work_dir);
    }

    let api = RuntimeApi::start().await;
    let shim_loopback = Loopback {
        arguments,
        addresses,
    };
    let mut shim = Process::spawn(
        Command::new(binary(&project.program("shim")))
            .env_clear()
            .envs(shim_loopback.env(&shim_env))
            .envs(api.function_env()),
    );

    for name in ["trangboddhet__over-2_status", "levekar_totalt__status"] {
        let event = fixture_event(name);
        let started = Instant::now();
        let step_output = match api.invoke(&event, ANSWER_WITHIN).await {
            Answer::Response(output) => output,
            other => panic!("{name}: {other:?}"),
        };
        eprintln!(
            "{name}: {:.0} ms through the shim",
            started.elapsed().as_secs_f64() * 1000.0
        );
        let returned =
            std::fs::read_to_string(fixtures().join(format!("returns/{name}.json"))).unwrap();
        assert_eq!(
            step_output,
            serde_json::from_str::<serde_json::Value>(&returned).unwrap(),
            "{name}"
        );
        let dataset = event["payload"]["output_dataset"]["id"].as_str().unwrap();
        let prefix = step_output["s3_input_prefixes"][dataset].as_str().unwrap();
        let (function, ty) = name.split_once("__").unwrap();
        compare_folders(
            &fixtures().join(format!("expected/{function}/{ty}")),
            store.download(&bucket, prefix).path(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    }

    // The cli service: ad-hoc SQL over the bucket, planned here, scanned by the executors.
    let births = bydelsfakta_tests::files_below(&seeded)
        .into_iter()
        .find(|key| key.contains("/fodte/"))
        .expect("the births input");
    let rows = std::fs::read_to_string(seeded.join(births))
        .unwrap()
        .lines()
        .count()
        - 1;
    let mut cli = Command::new(binary(&project.program("cli")));
    cli.args(["sql", "--format", "csv", "SELECT COUNT(*) AS n FROM fodte"])
        .env_clear()
        .envs(shim_loopback.env(&project.env("cli")));
    let output = tokio::task::block_in_place(|| cli.output()).expect("run the cli");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("n\n{rows}\n")
    );

    assert_only_planning("the shim", &s3.requests_by(shim_key.0));
    assert_read_and_wrote("the executors", &s3.requests_by(cluster_key.0));
    assert_executors_ran_tasks(&work_dirs);

    // The scheduler gone: the shim answers with a typed error and nothing is written.
    processes[0].kill();
    let written = store.keys(&bucket, "intermediate/");
    let answer = api
        .invoke(&fixture_event("eieform__status"), ANSWER_WITHIN)
        .await;
    match answer {
        Answer::Error { body, .. } => {
            assert_eq!(body["errorType"], "SchedulerUnavailableError", "{body}");
            let message = body["errorMessage"].as_str().unwrap();
            assert!(
                message.contains(&format!("127.0.0.1:{scheduler_port}")),
                "{message}"
            );
        }
        other => panic!("expected SchedulerUnavailableError, got {other:?}"),
    }
    assert_eq!(store.keys(&bucket, "intermediate/"), written);
    shim.kill();
}
