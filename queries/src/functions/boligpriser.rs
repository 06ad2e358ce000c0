//! `boligpriser`: average price per m² of flats (spec `boligpriser.md`).

use datafusion::prelude::*;
use serde_json::json;

use crate::Result;
use crate::function::{DatasetType, Function, Inputs, Layout, Output, Shape};
use bydelsfakta_udfs::geo::{BYDEL_ID, BYDEL_NAVN, OSLO_ID, OSLO_NAME, ROW};
use bydelsfakta_udfs::plan::{ascending, c};

pub const FUNCTION: Function = Function {
    name: "boligpriser",
    inputs: &[("df", "boligpriser-blokkleiligheter")],
    types: &[
        DatasetType {
            name: "status",
            output_dataset: "boligpriser-blokkleiligheter-status",
        },
        DatasetType {
            name: "historisk",
            output_dataset: "boligpriser-blokkleiligheter-historisk",
        },
    ],
    plan,
};

const HEADING: &str = "Gjennomsnittpris (kr) pr kvm for blokkleilighet";

fn plan(inputs: &Inputs, dataset_type: &str) -> Result<Output> {
    // The file's Oslo rows have no district id, only the name.
    let df = inputs
        .get("df")?
        .with_column("value", c("kvmpris"))?
        .with_column(
            BYDEL_ID,
            when(c(BYDEL_NAVN).eq(lit(OSLO_NAME)), lit(OSLO_ID)).otherwise(c(BYDEL_ID))?,
        )?;
    let mut output = Shape {
        series: &["value"],
        layout: Layout::Flat,
        latest_year_only: dataset_type == "status",
        // The scale covers the missing prices too (min and max skip them), both types.
        scale: Some("value"),
        order: ascending(&[ROW]),
        heading: HEADING,
        meta_series: json!([{"heading": HEADING, "subheading": ""}]),
    }
    .output(df)?;
    // Sub-districts without a price that year have no value at all.
    output.frame = output.frame.filter(c("value").is_not_null())?;
    Ok(output)
}
