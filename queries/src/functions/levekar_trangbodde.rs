//! `levekar_trangbodde`: crowded housing (`docs/functions/levekar_trangbodde.md`).

use serde_json::json;

use crate::Period::{self, History, Status};
use crate::Result;
use crate::dataset_types;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape, with_percent_ratio};

pub const FUNCTION: Function = Function {
    name: "levekar_trangbodde",
    inputs: &[("trangbodde_raw", "trangbodde")],
    types: dataset_types![
        "status" => "levekar-trangbodde-status", Status;
        "historisk" => "levekar-trangbodde-historisk", History;
    ],
    plan,
};

const COUNT: &str = "antall_som_bor_trangt";
const PERCENT: &str = "andel_som_bor_trangt";

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    Shape::one_series(
        COUNT,
        *dataset_type.variant::<Period>()?,
        "Levekår Trangbodde",
        json!([{"heading": "Trangbodde", "subheading": ""}]),
    )
    .in_file_order()
    .output(with_percent_ratio(
        inputs.get("trangbodde_raw")?,
        COUNT,
        PERCENT,
    )?)
}
