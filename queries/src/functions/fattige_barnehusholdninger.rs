//! `fattige_barnehusholdninger`: low-income households with children, EU scale
//! (`docs/functions/fattige_barnehusholdninger.md`).

use serde_json::json;

use crate::Result;
use crate::function::{DatasetType, Function, Inputs, Output};
use bydelsfakta_udfs::plan::c;

pub const FUNCTION: Function = Function {
    name: "fattige_barnehusholdninger",
    inputs: &[("df", "fattige-husholdninger")],
    types: &[
        DatasetType {
            name: "status",
            output_dataset: "fattige-barnehusholdninger-status",
        },
        DatasetType {
            name: "historisk",
            output_dataset: "fattige-barnehusholdninger-historisk",
        },
    ],
    plan,
};

const COUNT: &str = "husholdninger_med_barn_under_18_aar_eu_skala_antall";
const PERCENT: &str = "husholdninger_med_barn_under_18_aar_eu_skala_andel";
const VALUE: &str = "husholdninger_med_barn_under_18_aar_eu_skala";

fn plan(inputs: &Inputs, dataset_type: &str) -> Result<Output> {
    // Suppressed cells leave rows without a count or a share: those rows are left out.
    let df = inputs
        .get("df")?
        .filter(c(COUNT).is_not_null().and(c(PERCENT).is_not_null()))?
        .with_column(VALUE, c(COUNT))?;
    Output::rate(
        df,
        VALUE,
        PERCENT,
        dataset_type == "status",
        "Lavinntekts husholdninger med barn",
        json!([]),
    )
}
