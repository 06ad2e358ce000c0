//! The Bydelsfakta client: sessions (embedded or Ballista), object stores, the pipeline
//! event contract, and the `bydelsfakta` command line.

pub mod bench;
pub mod cli;
pub mod demo;
pub mod engine;
pub mod error;
pub mod event;
pub mod processed;
pub mod recover;
pub mod run;
pub mod shuffle_inputs;
pub mod sql;
pub mod stores;
pub mod synth;

pub use engine::{Engine, WriteSummary};
pub use error::{Error, Result};
pub use run::{RunOptions, RunOutcome, run_event, today_utc};
