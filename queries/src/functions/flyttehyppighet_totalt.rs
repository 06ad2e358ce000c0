//! `flyttehyppighet_totalt`: moves in and out by 5-year age group
//! (`docs/functions/flyttehyppighet_totalt.md`).

use datafusion::common::JoinType;
use datafusion::prelude::*;
use serde_json::json;

use crate::Period::{self, History, Status};
use crate::Result;
use crate::dataset_types;
use crate::document::{MoveField, MoveValue, Template};
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape};
use bydelsfakta_udfs::geo::{BYDEL_ID, BYDEL_NAVN, DATE, DELBYDEL_ID, DELBYDEL_NAVN};
use bydelsfakta_udfs::plan::{Agg, c, merge, null_str, rollup, rollup_order};

pub const FUNCTION: Function = Function {
    name: "flyttehyppighet_totalt",
    inputs: &[
        ("flytting_fra_raw", "flytting-fra-etter-alder"),
        ("flytting_til_raw", "flytting-til-etter-alder"),
    ],
    types: dataset_types![
        "status" => "flyttehyppighet-totalt-status", Status;
        "historisk" => "flyttehyppighet-totalt-historisk", History;
    ],
    plan,
};

pub const AGE_GROUP: &str = "aldersgruppe_5_aar";
/// (key in the documents, move in, move out).
const MOVES: [(&str, &str, &str); 3] = [
    (
        "mellomBydeler",
        "innflytting_mellom_bydeler",
        "utflytting_mellom_bydeler",
    ),
    (
        "innenforBydelen",
        "innflytting_innenfor_bydelen",
        "utflytting_innenfor_bydelen",
    ),
    ("tilFraOslo", "innflytting_til_oslo", "utflytting_fra_oslo"),
];

/// Moves out and in side by side per district, year and `keys` (pandas' inner merge), as
/// district-level rows (no sub-district).
pub fn moves_in_and_out(
    fra: DataFrame,
    til: DataFrame,
    keys: &[&str],
    moves_in: &[&str],
) -> Result<DataFrame> {
    let right_keys: Vec<String> = keys.iter().map(|k| format!("__til_{k}")).collect();
    let right_keys: Vec<&str> = right_keys.iter().map(String::as_str).collect();
    let til = til.select(
        keys.iter()
            .zip(&right_keys)
            .map(|(k, r)| c(k).alias(*r))
            .chain(moves_in.iter().map(|m| c(m)))
            .collect::<Vec<_>>(),
    )?;
    Ok(merge(fra, til, JoinType::Inner, keys, &right_keys)?
        .with_column(DELBYDEL_ID, null_str())?
        .with_column(DELBYDEL_NAVN, null_str())?)
}

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    let moves_in: Vec<&str> = MOVES.iter().map(|m| m.1).collect();
    let merged = moves_in_and_out(
        inputs.get("flytting_fra_raw")?,
        inputs.get("flytting_til_raw")?,
        &[DATE, BYDEL_NAVN, BYDEL_ID, AGE_GROUP],
        &moves_in,
    )?;
    let summed: Vec<(&str, Agg)> = MOVES
        .iter()
        .flat_map(|m| [(m.1, Agg::Sum), (m.2, Agg::Sum)])
        .collect();
    let rolled = rollup(merged, &summed, &[AGE_GROUP])?;
    let period = *dataset_type.variant::<Period>()?;
    let latest_only = period.is_status();
    let field = |key: &str, column: &str| MoveField {
        key: key.into(),
        value: MoveValue::Column(column.into()),
    };
    Shape::new(
        Template::Moves {
            immigration: MOVES.iter().map(|m| field(m.0, m.1)).collect(),
            emigration: MOVES.iter().map(|m| field(m.0, m.2)).collect(),
            latest_only,
        },
        "Flytting etter alder",
        json!([{"heading": "Flytting", "subheading": ""}]),
    )
    .period(period)
    .order(rollup_order(&[AGE_GROUP]))
    .output(rolled)
}
