//! `boligpriser`: average price per m² of flats (`docs/functions/boligpriser.md`).

use datafusion::prelude::*;
use serde_json::json;

use crate::Period::{self, History, Status};
use crate::Result;
use crate::dataset_types;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape, flat};
use bydelsfakta_udfs::geo::{BYDEL_ID, BYDEL_NAVN, OSLO_ID, OSLO_NAME};
use bydelsfakta_udfs::plan::c;

pub const FUNCTION: Function = Function {
    name: "boligpriser",
    inputs: &[("df", "boligpriser-blokkleiligheter")],
    types: dataset_types![
        "status" => "boligpriser-blokkleiligheter-status", Status;
        "historisk" => "boligpriser-blokkleiligheter-historisk", History;
    ],
    plan,
};

const HEADING: &str = "Gjennomsnittpris (kr) pr kvm for blokkleilighet";

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    // The file's Oslo rows have no district id, only the name.
    let df = inputs.get("df")?.with_column(
        BYDEL_ID,
        when(c(BYDEL_NAVN).eq(lit(OSLO_NAME)), lit(OSLO_ID)).otherwise(c(BYDEL_ID))?,
    )?;
    Shape::new(
        flat(&["value"]),
        HEADING,
        json!([{"heading": HEADING, "subheading": ""}]),
    )
    .period(*dataset_type.variant::<Period>()?)
    .scale("value")
    .in_file_order()
    .drop_missing("value")
    .output(df.with_column("value", c("kvmpris"))?)
}
