//! `levekar_lav_utdanning`: persons 30-59 with only primary school or unknown education
//! (`docs/functions/levekar_lav_utdanning.md`). Steps 1-2 are shared with `levekar_totalt`.

use datafusion::prelude::*;
use serde_json::json;

use crate::Period::{self, History, Status};
use crate::Result;
use crate::dataset_types;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape};
use bydelsfakta_udfs::plan::{Agg, add_ratios, c, rollup};
use bydelsfakta_udfs::row_sum;

pub const FUNCTION: Function = Function {
    name: "levekar_lav_utdanning",
    inputs: &[("lav_utdanning_raw", "lav-utdanning")],
    types: dataset_types![
        "status" => "levekar-lav-utdanning-status", Status;
        "historisk" => "levekar-lav-utdanning-historisk", History;
    ],
    plan,
};

pub const VALUE: &str = "lav_utdanning";

/// Steps 1-2: `lav_utdanning` and `total` at the three levels, with `lav_utdanning_ratio`.
pub fn low_education(df: DataFrame) -> Result<DataFrame> {
    let categories = [
        "ingen_utdanning_uoppgitt",
        "grunnskole",
        "videregaende",
        "universitet_hogskole_kort",
        "universitet_hogskole_lang",
    ];
    let df = df
        .with_column(
            "total",
            row_sum().call(categories.iter().map(|k| c(k)).collect()),
        )?
        .with_column(
            VALUE,
            row_sum().call(vec![c(categories[0]), c(categories[1])]),
        )?;
    let rolled = rollup(df, &[(VALUE, Agg::Sum), ("total", Agg::Sum)], &[])?;
    Ok(add_ratios(rolled, &[VALUE], &["total"])?)
}

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    let df = low_education(inputs.get("lav_utdanning_raw")?)?;
    Shape::one_series(
        VALUE,
        *dataset_type.variant::<Period>()?,
        "Personer mellom 30-59 år med lav utdanning",
        json!([{"heading": "Kun grunnskole eller ingen utdanning oppgitt", "subheading": ""}]),
    )
    .output(df)
}
