//! The end-to-end tests, one module per theme, in one test binary: each binary links the
//! whole engine (about 0.5 GB and a minute of linking), so one harness instead of one per
//! file saves link time and disk. `cargo test -p bydelsfakta-tests --test main contract::`
//! runs one theme.
//!
//! Tests of one binary run on parallel threads, where separate binaries ran one after the
//! other. The tests that load the machine (Ballista standalone, all 84 outputs, CLI
//! processes) and the ones that assert on time (short leases and timeouts) therefore take
//! `bydelsfakta_tests::serial`'s lock; see there.

mod ballista;
mod contract;
mod deviations;
mod edge_cases;
mod fixtures;
mod inputs;
mod job_shape;
mod layering;
mod optimizer_rules;
mod parity_edges;
mod port_jobs;
mod publication;
mod sql;
mod typed_records;
