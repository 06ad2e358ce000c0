//! `kommunale_boliger`: municipal dwellings as a share of all dwellings
//! (`docs/functions/kommunale_boliger.md`).

use datafusion::common::JoinType;
use datafusion::prelude::*;
use serde_json::json;

use crate::Period::{self, History, Status};
use crate::Result;
use crate::dataset_types;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape, flat};
use bydelsfakta_udfs::geo::KEYS;
use bydelsfakta_udfs::plan::{Agg, add_ratios, c, historic, merge, rollup, status};

pub const FUNCTION: Function = Function {
    name: "kommunale_boliger",
    inputs: &[
        ("df_municipal", "kommunale-boliger"),
        ("df_housing", "boligmengde-etter-boligtype"),
    ],
    types: dataset_types![
        "status" => "kommunale-boliger-av-boligmassen-i-alt-status", Status;
        "historisk" => "kommunale-boliger-av-boligmassen-i-alt-historisk", History;
    ],
    plan,
};

pub const HOUSING_TYPES: [&str; 5] = [
    "blokk_leiegaard_el",
    "forretningsgaard_bygg_for_felleshusholdning_el",
    "frittliggende_enebolig_eller_vaaningshus",
    "horisontaldelt_tomannsbolig_eller_annet_boligbygg_med_mindre_enn_3_etasjer",
    "hus_i_kjede_rekkehus_terrasse_hus_vertikaldelt_tomannsbolig",
];

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    let total = HOUSING_TYPES
        .iter()
        .map(|t| c(t))
        .reduce(|a, b| a + b)
        .expect("types");
    let housing = inputs.get("df_housing")?.with_column("total", total)?;
    let frames = vec![inputs.get("df_municipal")?, housing];
    let [municipal, housing]: [DataFrame; 2] = if dataset_type.variant::<Period>()?.is_status() {
        status(frames)?
    } else {
        historic(frames)?
    }
    .try_into()
    .expect("two frames");
    let housing = housing.select(
        KEYS.iter()
            .map(|k| c(k).alias(format!("__h_{k}")))
            .chain([c("total")])
            .collect::<Vec<_>>(),
    )?;
    let right_keys: Vec<String> = KEYS.iter().map(|k| format!("__h_{k}")).collect();
    let right_keys: Vec<&str> = right_keys.iter().map(String::as_str).collect();
    let merged = merge(municipal, housing, JoinType::Inner, &KEYS, &right_keys)?;
    let rolled = rollup(
        merged,
        &[("antall_boliger", Agg::Sum), ("total", Agg::Sum)],
        &[],
    )?;
    let df = add_ratios(rolled, &["antall_boliger"], &["total"])?;
    // The frame is already restricted to the latest common year for status, so no period.
    Shape::new(
        flat(&["antall_boliger"]),
        "Kommunale boliger av boligmassen i alt",
        json!([]),
    )
    .scale("antall_boliger")
    .output(df)
}
