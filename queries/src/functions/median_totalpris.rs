//! `median_totalpris`: median total price of dwellings, a job of the Databricks port only
//! (spec `median_totalpris.md`, fixtures `PORT-JOBS.md`).

use datafusion::prelude::*;
use serde_json::json;

use super::port;
use crate::Result;
use crate::function::{DatasetType, Function, Inputs, Layout, Output, Shape};
use bydelsfakta_udfs::geo::ROW;
use bydelsfakta_udfs::plan::{ascending, c};

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
    let df = inputs
        .get("df")?
        .filter(c("enhetstype").eq(lit("both")))?
        .with_column("value", c("totalpris"))?;
    let mut output = Shape {
        series: &["value"],
        layout: Layout::Flat,
        latest_year_only: dataset_type == "status",
        // Taken before the rows without a price are dropped, in both types.
        scale: Some("value"),
        order: ascending(&[ROW]),
        heading: "Median totalpris",
        // "leiligheter" although the rows kept are of every dwelling type: the port's text.
        meta_series: json!([{"heading": "Median totalpris for leiligheter", "subheading": ""}]),
    }
    .output(df)?;
    output.frame = output.frame.filter(c("value").is_not_null())?;
    port::rounded(output)
}
