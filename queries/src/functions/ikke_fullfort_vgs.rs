//! `ikke_fullfort_vgs`: persons who did not complete upper secondary school within five
//! years (`docs/functions/ikke_fullfort_vgs.md`).

use serde_json::json;

use crate::Result;
use crate::function::{DatasetType, Function, Inputs, Output};

pub const FUNCTION: Function = Function {
    name: "ikke_fullfort_vgs",
    inputs: &[("df", "ikke-fullfort-vgs")],
    types: &[
        DatasetType {
            name: "status",
            output_dataset: "ikke-fullfort-vgs-status",
        },
        DatasetType {
            name: "historisk",
            output_dataset: "ikke-fullfort-vgs-historisk",
        },
    ],
    plan,
};

fn plan(inputs: &Inputs, dataset_type: &str) -> Result<Output> {
    Output::rate(
        inputs.get("df")?,
        "antall_personer_ikke_fullfort_i_lopet_av_5_aar",
        "andelen_som_ikke_har_fullfort_i_lopet_av_5_aar",
        dataset_type == "status",
        "Personer som ikke har fullført vgs",
        // The original's capitalised "Heading" is part of the contract.
        json!([{"Heading": "Antall personer, ikke fullført i løpet av 5 år", "subheading": ""}]),
    )
}
