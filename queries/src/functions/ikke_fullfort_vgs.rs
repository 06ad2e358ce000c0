//! `ikke_fullfort_vgs`: persons who did not complete upper secondary school within five
//! years (`docs/functions/ikke_fullfort_vgs.md`).

use serde_json::json;

use crate::Period::{self, History, Status};
use crate::Result;
use crate::dataset_types;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape, with_percent_ratio};

pub const FUNCTION: Function = Function {
    name: "ikke_fullfort_vgs",
    inputs: &[("df", "ikke-fullfort-vgs")],
    types: dataset_types![
        "status" => "ikke-fullfort-vgs-status", Status;
        "historisk" => "ikke-fullfort-vgs-historisk", History;
    ],
    plan,
};

const COUNT: &str = "antall_personer_ikke_fullfort_i_lopet_av_5_aar";
const PERCENT: &str = "andelen_som_ikke_har_fullfort_i_lopet_av_5_aar";

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    // The original's capitalised "Heading" is part of the contract.
    Shape::one_series(
        COUNT,
        *dataset_type.variant::<Period>()?,
        "Personer som ikke har fullført vgs",
        json!([{"Heading": "Antall personer, ikke fullført i løpet av 5 år", "subheading": ""}]),
    )
    .in_file_order()
    .output(with_percent_ratio(inputs.get("df")?, COUNT, PERCENT)?)
}
