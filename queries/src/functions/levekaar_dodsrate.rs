//! `levekaar_dodsrate`: mortality (average of the last 7 years), ages 55-79
//! (`docs/functions/levekaar_dodsrate.md`).

use serde_json::json;

use crate::Result;
use crate::function::{DatasetType, Function, Inputs, Output};

pub const FUNCTION: Function = Function {
    name: "levekaar_dodsrate",
    inputs: &[("df", "dodsrater")],
    types: &[
        DatasetType {
            name: "status",
            output_dataset: "levekaar-dodsrate-status",
        },
        DatasetType {
            name: "historisk",
            output_dataset: "levekaar-dodsrate-historisk",
        },
    ],
    plan,
};

fn plan(inputs: &Inputs, dataset_type: &str) -> Result<Output> {
    // The value is the rate itself, in percent.
    Output::rate(
        inputs.get("df")?,
        "dodsrate",
        "dodsrate",
        dataset_type == "status",
        "Dødelighet (gj.snitt siste 7 år) for personer 55–79 år",
        json!([]),
    )
}
