//! `boligpriser`: average price per m² of flats (`docs/functions/boligpriser.md`).

use datafusion::prelude::*;
use serde_json::json;

use crate::Result;
use crate::function::{DatasetType, Function, Inputs, Output};
use bydelsfakta_udfs::geo::{BYDEL_ID, BYDEL_NAVN, OSLO_ID, OSLO_NAME};
use bydelsfakta_udfs::plan::c;

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
    let df = inputs.get("df")?.with_column(
        BYDEL_ID,
        when(c(BYDEL_NAVN).eq(lit(OSLO_NAME)), lit(OSLO_ID)).otherwise(c(BYDEL_ID))?,
    )?;
    Output::price(
        df,
        "kvmpris",
        dataset_type == "status",
        HEADING,
        json!([{"heading": HEADING, "subheading": ""}]),
    )
}
