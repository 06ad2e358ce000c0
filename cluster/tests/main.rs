//! The tests on our cluster's processes over loopback, one module per theme, in one test
//! binary: each binary links the whole engine, so one harness instead of one per file saves
//! link time and disk. `cargo test -p bydelsfakta-cluster --test main executor_loss::` runs
//! one theme.
//!
//! Tests of one binary run on parallel threads, where separate binaries ran one after the
//! other. Every test here takes `bydelsfakta_tests::serial::exclusive()` first: each starts
//! a scheduler and executors (two clusters at once on a 2-core machine starve heartbeats
//! that `executor_loss` expects within 5 s), and `s3` sets the process's environment, which
//! no other thread may read meanwhile.

mod common;
mod compose;
mod executor_loss;
mod metrics;
mod remote;
mod s3;
mod scheduler_restart;
mod sql;
mod traces;
