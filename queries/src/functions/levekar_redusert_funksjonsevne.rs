//! `levekar_redusert_funksjonsevne`: persons 16-66 with reduced functional ability
//! (`docs/functions/levekar_redusert_funksjonsevne.md`).

use serde_json::json;

use crate::Period::{self, History, Status};
use crate::Result;
use crate::dataset_types;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape, with_percent_ratio};

pub const FUNCTION: Function = Function {
    name: "levekar_redusert_funksjonsevne",
    inputs: &[("input_df", "redusert-funksjonsevne")],
    types: dataset_types![
        "status" => "levekar-redusert-funksjonsevne-status", Status;
        "historisk" => "levekar-redusert-funksjonsevne-historisk", History;
    ],
    plan,
};

const COUNT: &str = "antall_personer_med_redusert_funksjonsevne";
const PERCENT: &str = "andel_personer_med_redusert_funksjonsevne";

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    Shape::one_series(
        COUNT,
        *dataset_type.variant::<Period>()?,
        "Personer fra 16 til 66 år med redusert funksjonsevne",
        json!([{"heading": "Redusert funksjonsevne", "subheading": ""}]),
    )
    .in_file_order()
    .output(with_percent_ratio(inputs.get("input_df")?, COUNT, PERCENT)?)
}
