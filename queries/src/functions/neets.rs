//! `neets`: young people (15-29) not in employment, education or training, a job of the
//! Databricks port only (`docs/functions/neets.md`, `tests/fixtures/PORT-JOBS.md`).

use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::*;
use serde_json::json;

use super::databricks_port;
use crate::Period::{self, History, Status};
use crate::Result;
use crate::dataset_types;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape, flat};
use bydelsfakta_udfs::plan::{c, status};

pub const FUNCTION: Function = Function {
    name: "neets",
    inputs: &[("df", "neets")],
    types: dataset_types![
        "status" => "neets-status", Status;
        "historisk" => "neets-historisk", History;
    ],
    plan,
};

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    // `andel` is already a fraction, used as the ratio unchanged (a float however the file
    // spells it).
    let df = inputs
        .get("df")?
        .with_column("antall_ratio", cast(c("andel"), DataType::Float64))?;
    let is_status = dataset_type.variant::<Period>()?.is_status();
    // The port takes the status scale from the status frame, not the whole file.
    let df = if is_status {
        status(vec![df])?.remove(0)
    } else {
        df
    };
    let shape = Shape::new(
        flat(&["antall"]),
        "NEETs",
        json!([{"heading": "NEETs", "subheading": ""}]),
    )
    .in_file_order();
    let shape = if is_status {
        shape.scale("antall")
    } else {
        shape
    };
    let output = shape.output(df)?;
    databricks_port::rounded(output)
}
