//! The statistics functions of Bydelsfakta as DataFusion plans, and the document writer.
//!
//! * [`bucket`]: the bucket URL and the keys inside it;
//! * [`catalog`] and [`reader`]: every input dataset, its columns and kinds, read from the
//!   single CSV object under an event's prefix;
//! * [`function`] and [`functions`]: what a function declares (inputs, the table of its
//!   dataset types, the plan), and one module per function;
//! * [`output`]: a plan's result and the one way to build it, [`Shape`];
//! * [`writer_plan`]: one run (a function, its type, its input prefixes) as the physical plan
//!   that reads the inputs and writes the documents;
//! * [`document`], [`json`] and [`writer`]: the original's document layout, its templates
//!   (docs/templates.md) and JSON text, built by an operator that runs wherever the plan runs;
//! * [`publication`]: how that operator replaces an output's documents (lease, journal,
//!   manifest, recovery; docs/publication.md);
//! * [`metrics`]: the counters of what the writer and the publication did, for `/metrics`;
//! * [`error`]: the crate's error type.

pub mod bucket;
pub mod catalog;
pub mod document;
pub mod error;
pub mod function;
pub mod functions;
pub mod json;
pub mod local_calls;
pub mod metrics;
pub mod output;
pub mod publication;
pub mod reader;
pub mod writer;
pub mod writer_plan;

pub use error::{Error, Result};
pub use function::{DatasetType, Function, Inputs, Period, Target};
pub use output::{Output, Shape};
