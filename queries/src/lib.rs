//! The statistics functions of Bydelsfakta as DataFusion plans, and the document writer.
//!
//! * [`catalog`] and [`reader`]: every input dataset, its columns and kinds, read from the
//!   single CSV object under an event's prefix;
//! * [`functions`]: one module per function, each declaring inputs, dataset types, the plan
//!   and the documents;
//! * [`document`], [`json`] and [`writer`]: the original's document layout and JSON text,
//!   built and published by an operator that runs wherever the plan runs.

pub mod bucket;
pub mod catalog;
pub mod document;
pub mod error;
pub mod function;
pub mod functions;
pub mod json;
pub mod output;
pub mod prepare;
pub mod publication;
pub mod reader;
pub mod writer;

pub use error::{Error, Result};
pub use function::{DatasetType, Function, Inputs, Period, Target};
pub use output::{Output, Shape};
