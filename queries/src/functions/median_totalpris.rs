//! `median_totalpris`: median total price of dwellings, a job of the Databricks port only
//! (`docs/functions/median_totalpris.md`, `tests/fixtures/PORT-JOBS.md`).

use datafusion::prelude::*;
use serde_json::json;

use super::databricks_port;
use crate::Period::{self, History, Status};
use crate::Result;
use crate::dataset_types;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape, flat};
use bydelsfakta_udfs::plan::c;

pub const FUNCTION: Function = Function {
    name: "median_totalpris",
    inputs: &[("df", "median-totalpris")],
    types: dataset_types![
        "status" => "median-totalpris-status", Status;
        "historisk" => "median-totalpris-historisk", History;
    ],
    plan,
};

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    let df = inputs.get("df")?.filter(c("enhetstype").eq(lit("both")))?;
    // "leiligheter" although the rows kept are of every dwelling type: the port's text.
    let output = Shape::new(
        flat(&["value"]),
        "Median totalpris",
        json!([{"heading": "Median totalpris for leiligheter", "subheading": ""}]),
    )
    .period(*dataset_type.variant::<Period>()?)
    .scale("value")
    .in_file_order()
    .drop_missing("value")
    .output(df.with_column("value", c("totalpris"))?)?;
    databricks_port::rounded(output)
}
