//! The `bydelsfakta` command line over the client library (`bydelsfakta-scheduler-client`),
//! which resolves and runs events on any engine:
//!
//! * [`args`]: the flags and subcommands;
//! * [`commands`]: one function per subcommand;
//! * [`run_all`] and [`demo`]: every output on a bucket's latest inputs, or on the sample;
//! * [`summary`]: what those print;
//! * [`sql`]: result output and the interactive shell;
//! * [`bench`] and [`synth`]: measuring against the original, on larger synthetic buckets.

pub mod args;
pub mod bench;
pub mod commands;
pub mod demo;
pub mod run_all;
pub mod sql;
pub mod summary;
pub mod synth;
