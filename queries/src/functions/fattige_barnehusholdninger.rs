//! `fattige_barnehusholdninger`: low-income households with children, EU scale
//! (`docs/functions/fattige_barnehusholdninger.md`).

use serde_json::json;

use crate::Period::{self, History, Status};
use crate::Result;
use crate::dataset_types;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape, with_percent_ratio};
use bydelsfakta_udfs::plan::c;

pub const FUNCTION: Function = Function {
    name: "fattige_barnehusholdninger",
    inputs: &[("df", "fattige-husholdninger")],
    types: dataset_types![
        "status" => "fattige-barnehusholdninger-status", Status;
        "historisk" => "fattige-barnehusholdninger-historisk", History;
    ],
    plan,
};

const COUNT: &str = "husholdninger_med_barn_under_18_aar_eu_skala_antall";
const PERCENT: &str = "husholdninger_med_barn_under_18_aar_eu_skala_andel";
const VALUE: &str = "husholdninger_med_barn_under_18_aar_eu_skala";

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    // Suppressed cells leave rows without a count or a share: those rows are left out.
    let df = inputs
        .get("df")?
        .filter(c(COUNT).is_not_null().and(c(PERCENT).is_not_null()))?
        .with_column(VALUE, c(COUNT))?;
    Shape::one_series(
        VALUE,
        *dataset_type.variant::<Period>()?,
        "Lavinntekts husholdninger med barn",
        json!([]),
    )
    .in_file_order()
    .output(with_percent_ratio(df, VALUE, PERCENT)?)
}
