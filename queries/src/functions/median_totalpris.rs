//! `median_totalpris`: median total price of dwellings, a job of the Databricks port only
//! (`docs/functions/median_totalpris.md`, `tests/fixtures/PORT-JOBS.md`).

use datafusion::prelude::*;
use serde_json::json;

use super::databricks_port as port;
use crate::Result;
use crate::function::{DatasetType, Function, Inputs, Output};
use bydelsfakta_udfs::plan::c;

pub const FUNCTION: Function = Function {
    name: "median_totalpris",
    inputs: &[("df", "median-totalpris")],
    types: &[
        DatasetType {
            name: "status",
            output_dataset: "median-totalpris-status",
        },
        DatasetType {
            name: "historisk",
            output_dataset: "median-totalpris-historisk",
        },
    ],
    plan,
};

fn plan(inputs: &Inputs, dataset_type: &str) -> Result<Output> {
    let df = inputs.get("df")?.filter(c("enhetstype").eq(lit("both")))?;
    let output = Output::price(
        df,
        "totalpris",
        dataset_type == "status",
        "Median totalpris",
        // "leiligheter" although the rows kept are of every dwelling type: the port's text.
        json!([{"heading": "Median totalpris for leiligheter", "subheading": ""}]),
    )?;
    port::rounded(output)
}
