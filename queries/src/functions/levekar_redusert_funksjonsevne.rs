//! `levekar_redusert_funksjonsevne`: persons 16-66 with reduced functional ability
//! (`docs/functions/levekar_redusert_funksjonsevne.md`).

use serde_json::json;

use crate::Result;
use crate::function::{DatasetType, Function, Inputs, Output};

pub const FUNCTION: Function = Function {
    name: "levekar_redusert_funksjonsevne",
    inputs: &[("input_df", "redusert-funksjonsevne")],
    types: &[
        DatasetType {
            name: "status",
            output_dataset: "levekar-redusert-funksjonsevne-status",
        },
        DatasetType {
            name: "historisk",
            output_dataset: "levekar-redusert-funksjonsevne-historisk",
        },
    ],
    plan,
};

fn plan(inputs: &Inputs, dataset_type: &str) -> Result<Output> {
    Output::rate(
        inputs.get("input_df")?,
        "antall_personer_med_redusert_funksjonsevne",
        "andel_personer_med_redusert_funksjonsevne",
        dataset_type == "status",
        "Personer fra 16 til 66 år med redusert funksjonsevne",
        json!([{"heading": "Redusert funksjonsevne", "subheading": ""}]),
    )
}
