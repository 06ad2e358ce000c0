//! `levekar_trangbodde`: crowded housing (`docs/functions/levekar_trangbodde.md`).

use serde_json::json;

use crate::Result;
use crate::function::{DatasetType, Function, Inputs, Output};

pub const FUNCTION: Function = Function {
    name: "levekar_trangbodde",
    inputs: &[("trangbodde_raw", "trangbodde")],
    types: &[
        DatasetType {
            name: "status",
            output_dataset: "levekar-trangbodde-status",
        },
        DatasetType {
            name: "historisk",
            output_dataset: "levekar-trangbodde-historisk",
        },
    ],
    plan,
};

fn plan(inputs: &Inputs, dataset_type: &str) -> Result<Output> {
    Output::rate(
        inputs.get("trangbodde_raw")?,
        "antall_som_bor_trangt",
        "andel_som_bor_trangt",
        dataset_type == "status",
        "Levekår Trangbodde",
        json!([{"heading": "Trangbodde", "subheading": ""}]),
    )
}
