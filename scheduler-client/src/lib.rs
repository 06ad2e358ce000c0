//! The Bydelsfakta client library: resolve a pipeline event ([`event`]) and run its plans
//! embedded, standalone or on a cluster ([`engine`], [`run`]; the optimizer rules our plans
//! need, [`optimizer_rules`]; on a cluster jobs go through
//! [`job_client`], small plans (by [`input_size`]) run
//! as one task ([`single_task`]), a function's outputs as one job ([`output_group`]), shared
//! frames once per task ([`shared_frames`]), and [`shuffle_inputs`] guards the cluster's
//! shuffle readers against a Ballista bug), the object stores ([`stores`]),
//! recovery of interrupted publications ([`recover`]), the listing of the processed datasets
//! ([`processed`]), the SQL session the CLI and the scheduler's Flight SQL serve ([`sql`]),
//! the error type with the kinds the Lambda shim reports ([`error`]), the logs: text or
//! JSON lines ([`logging`]) with one record per run ([`run_report`]), the plans an event
//! runs ([`explain`]), which inputs made an output's documents ([`lineage`]), and the spans
//! and lineage events of runs ([`telemetry`]). The `bydelsfakta`
//! command is the `bydelsfakta-cli` crate.
//!
//! `examples/` shows the API at work: `run_one_function` (an event on a local folder bucket)
//! and `run_on_ballista` (a plan submitted to a scheduler and executor in this process).

pub mod engine;
pub mod error;
pub mod event;
pub mod explain;
pub mod input_size;
pub mod job_client;
pub mod job_shape;
pub mod lineage;
pub mod logging;
pub mod optimizer_rules;
pub mod output_group;
pub mod processed;
pub mod recover;
pub mod run;
pub mod run_report;
pub mod shared_frames;
pub mod shuffle_inputs;
pub mod single_task;
pub mod sql;
pub mod standalone;
pub mod stores;
pub mod telemetry;

pub use bydelsfakta_queries::writer::WriteSummary;
pub use engine::Engine;
pub use error::{Error, Result};
pub use run::{RunOptions, RunOutcome, plan_event, run_event, run_planned, today_utc};
