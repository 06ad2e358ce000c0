//! `levekaar_dodsrate`: mortality (average of the last 7 years), ages 55-79
//! (`docs/functions/levekaar_dodsrate.md`).

use serde_json::json;

use crate::Period::{self, History, Status};
use crate::Result;
use crate::dataset_types;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape, with_percent_ratio};

pub const FUNCTION: Function = Function {
    name: "levekaar_dodsrate",
    inputs: &[("df", "dodsrater")],
    types: dataset_types![
        "status" => "levekaar-dodsrate-status", Status;
        "historisk" => "levekaar-dodsrate-historisk", History;
    ],
    plan,
};

/// The rate, in percent, is both the value and (over 100) its ratio.
const RATE: &str = "dodsrate";

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    Shape::one_series(
        RATE,
        *dataset_type.variant::<Period>()?,
        "Dødelighet (gj.snitt siste 7 år) for personer 55–79 år",
        json!([]),
    )
    .in_file_order()
    .output(with_percent_ratio(inputs.get("df")?, RATE, RATE)?)
}
