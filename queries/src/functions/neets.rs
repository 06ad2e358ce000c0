//! `neets`: young people (15-29) not in employment, education or training, a job of the
//! Databricks port only (`docs/functions/neets.md`, `tests/fixtures/PORT-JOBS.md`).

use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::*;
use serde_json::json;

use super::databricks_port as port;
use crate::Result;
use crate::function::{DatasetType, Function, Inputs, Layout, Output, Shape};
use bydelsfakta_udfs::geo::ROW;
use bydelsfakta_udfs::plan::{ascending, c, status};

pub const FUNCTION: Function = Function {
    name: "neets",
    inputs: &[("df", "neets")],
    types: &[
        DatasetType {
            name: "status",
            output_dataset: "neets-status",
        },
        DatasetType {
            name: "historisk",
            output_dataset: "neets-historisk",
        },
    ],
    plan,
};

fn plan(inputs: &Inputs, dataset_type: &str) -> Result<Output> {
    // `andel` is already a fraction, used as the ratio unchanged (a float however the file
    // spells it).
    let df = inputs
        .get("df")?
        .with_column("antall_ratio", cast(c("andel"), DataType::Float64))?;
    let is_status = dataset_type == "status";
    // The port takes the status scale from the status frame, not the whole file.
    let df = if is_status {
        status(vec![df])?.remove(0)
    } else {
        df
    };
    let output = Shape {
        series: &["antall"],
        layout: Layout::Flat,
        latest_year_only: false,
        scale: is_status.then_some("antall"),
        order: ascending(&[ROW]),
        heading: "NEETs",
        meta_series: json!([{"heading": "NEETs", "subheading": ""}]),
    }
    .output(df)?;
    port::rounded(output)
}
