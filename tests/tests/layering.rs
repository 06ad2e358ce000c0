//! The crates' dependencies flow one way (adapters, then `scheduler-client`, `queries`,
//! `udfs`), and the binaries that serve link only what they serve: the scheduler and the
//! executors no telemetry, the shim no command-line parser. Checked with `cargo tree` as
//! Cargo resolves each package built alone (`cargo build -p ...`), its features included.

use std::collections::BTreeSet;
use std::process::Command;

/// Every package that a build of `package` alone links (normal dependencies).
fn linked(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "--offline",
            "--locked",
            "-e",
            "normal",
            "-p",
            package,
        ])
        .args(["--prefix", "none", "--format", "{p}"])
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != package)
        .map(str::to_string)
        .collect()
}

fn assert_links_none(package: &str, forbidden: &[&str]) {
    let links = linked(package);
    let found: Vec<&&str> = forbidden
        .iter()
        .filter(|name| links.contains(**name))
        .collect();
    assert!(found.is_empty(), "{package} links {found:?}");
}

const ADAPTERS: [&str; 3] = [
    "bydelsfakta-cli",
    "bydelsfakta-lambda-shim",
    "bydelsfakta-cluster",
];
const TELEMETRY: [&str; 4] = [
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry-otlp",
    "opentelemetry-aws",
];

#[test]
fn dependencies_flow_one_way() {
    let mut above = ADAPTERS.to_vec();
    for layer in [
        "bydelsfakta-scheduler-client",
        "bydelsfakta-queries",
        "bydelsfakta-udfs",
    ] {
        assert_links_none(layer, &above);
        above.push(layer);
    }
    for adapter in ADAPTERS {
        let others: Vec<&str> = ADAPTERS.into_iter().filter(|a| *a != adapter).collect();
        assert_links_none(adapter, &others);
    }
}

#[test]
fn the_serving_binaries_link_only_what_they_serve() {
    assert_links_none("bydelsfakta-cluster", &TELEMETRY);
    assert_links_none("bydelsfakta-lambda-shim", &["clap"]);
    // The checks can fail: the CLI links both.
    assert!(linked("bydelsfakta-cli").contains("clap"));
    assert!(linked("bydelsfakta-cli").contains("opentelemetry-otlp"));
}
