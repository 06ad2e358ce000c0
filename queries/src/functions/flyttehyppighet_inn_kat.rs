//! `flyttehyppighet_inn_kat`: moves by age group and immigration category
//! (`docs/functions/flyttehyppighet_inn_kat.md`).

use datafusion::arrow::datatypes::DataType;
use datafusion::functions_aggregate::expr_fn::{bool_or, sum};
use datafusion::prelude::*;
use serde_json::json;

use super::flyttehyppighet_totalt::{AGE_GROUP, moves_in_and_out};
use crate::Period::{self, History, Status};
use crate::Result;
use crate::dataset_types;
use crate::document::{MoveField, MoveValue, Template};
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape};
use bydelsfakta_udfs::geo::{BYDEL_ID, BYDEL_NAVN, DATE, DELBYDEL_ID, DELBYDEL_NAVN};
use bydelsfakta_udfs::plan::{Agg, all_of, all_present, c, guarded, rollup, rollup_order};

pub const FUNCTION: Function = Function {
    name: "flyttehyppighet_inn_kat",
    inputs: &[
        ("flytting_fra_df", "flytting-fra-etter-inn-kat"),
        ("flytting_til_df", "flytting-til-etter-inn-kat"),
    ],
    types: dataset_types![
        "status" => "flyttehyppighet-innvandringskategori-status", Status;
        "historisk" => "flyttehyppighet-innvandringskategori-historisk", History;
    ],
    plan,
};

const CATEGORY: &str = "innvandringskategori";
/// (category in the data, key in the documents, column suffix).
const CATEGORIES: [(&str, &str, &str); 3] = [
    ("Innvandrer", "innvandrer", "innvandrer"),
    ("Norskfødte med innv.foreldre", "norskfødt", "norskfodt"),
    ("Øvrige", "øvrige", "ovrige"),
];
/// (key in the documents, move in, move out).
const MOVES: [(&str, &str, &str); 3] = [
    (
        "mellomBydel",
        "innflytting_mellom_bydeler",
        "utflytting_mellom_bydeler",
    ),
    ("tilFraOslo", "innflytting_til_oslo", "utflytting_fra_oslo"),
    (
        "innenforBydel",
        "innflytting_innenfor_bydelen",
        "utflytting_innenfor_bydelen",
    ),
];

fn column(measure: &str, suffix: &str) -> String {
    format!("{measure}__{suffix}")
}

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    let rolled = inputs.common("rolled", || rolled(inputs))?;
    let period = *dataset_type.variant::<Period>()?;
    let latest_only = period.is_status();
    let field = |key: &str, measure: &str| MoveField {
        key: key.into(),
        value: MoveValue::Categories(
            CATEGORIES
                .iter()
                .map(|(_, key, suffix)| (key.to_string(), column(measure, suffix)))
                .chain([("totalt".to_string(), column(measure, "totalt"))])
                .collect(),
        ),
    };
    Shape::new(
        Template::Moves {
            immigration: MOVES.iter().map(|m| field(m.0, m.1)).collect(),
            emigration: MOVES.iter().map(|m| field(m.0, m.2)).collect(),
            latest_only,
        },
        "Flytting med innvandringskategorier",
        json!([{"heading": "Flytting med innvandringskategorier", "subheading": ""}]),
    )
    .period(period)
    .order(rollup_order(&[AGE_GROUP]))
    .output(rolled)
}

/// The rolled-up moves by category that both types draw, guarded by the category check.
fn rolled(inputs: &Inputs) -> Result<DataFrame> {
    let moves_in: Vec<&str> = MOVES.iter().map(|m| m.1).collect();
    let measures: Vec<&str> = MOVES.iter().flat_map(|m| [m.2, m.1]).collect();
    let merged = moves_in_and_out(
        inputs.get("flytting_fra_df")?,
        inputs.get("flytting_til_df")?,
        &[DATE, BYDEL_ID, BYDEL_NAVN, AGE_GROUP, CATEGORY],
        &moves_in,
    )?;
    // The pivot has a column per category of the merged rows; the template reads all three,
    // so one that never occurs is the original's KeyError.
    let found = |i: usize| format!("__found_{i}");
    let check = merged.clone().aggregate(
        vec![],
        CATEGORIES
            .iter()
            .enumerate()
            .map(|(i, (label, _, _))| {
                coalesce(vec![bool_or(c(CATEGORY).eq(lit(*label))), lit(false)]).alias(found(i))
            })
            .collect(),
    )?;
    let missing = concat_ws(
        lit("', '"),
        CATEGORIES
            .iter()
            .enumerate()
            .map(|(i, (label, _, _))| when(not(c(&found(i))), lit(*label)).end())
            .collect::<datafusion::error::Result<Vec<_>>>()?,
    );
    // pandas' pivot (floats; a missing category counts 0), one row per key.
    let keys = [DATE, BYDEL_ID, BYDEL_NAVN, AGE_GROUP];
    let complete = all_present(&keys);
    let mut pivot = vec![];
    for measure in &measures {
        for (label, _, suffix) in CATEGORIES {
            let value = when(
                c(CATEGORY).eq(lit(label)),
                cast(c(measure), DataType::Float64),
            )
            .otherwise(lit(0.0f64))?;
            pivot.push(sum(value).alias(column(measure, suffix)));
        }
    }
    let pivoted = merged
        .filter(complete)?
        .aggregate(keys.iter().map(|k| c(k)).collect(), pivot)?
        .with_column(DELBYDEL_ID, bydelsfakta_udfs::plan::null_str())?
        .with_column(DELBYDEL_NAVN, bydelsfakta_udfs::plan::null_str())?;
    let pivoted_columns: Vec<String> = measures
        .iter()
        .flat_map(|m| {
            CATEGORIES
                .iter()
                .map(move |(_, _, suffix)| column(m, suffix))
        })
        .collect();
    let summed: Vec<(&str, Agg)> = pivoted_columns
        .iter()
        .map(|c| (c.as_str(), Agg::Sum))
        .collect();
    let mut rolled = rollup(pivoted, &summed, &[AGE_GROUP])?;
    for measure in &measures {
        let total = CATEGORIES
            .iter()
            .map(|(_, _, suffix)| c(&column(measure, suffix)))
            .reduce(|a, b| a + b)
            .expect("categories");
        rolled = rolled.with_column(&column(measure, "totalt"), total)?;
    }
    // The guard sits on the final frame, the check on the merged rows.
    let rolled = guarded(
        rolled,
        check,
        all_of((0..CATEGORIES.len()).map(|i| c(&found(i)))),
        concat(vec![
            lit(
                "input flytting-fra-etter-inn-kat, flytting-til-etter-inn-kat: no row both \
                 inputs share has innvandringskategori '",
            ),
            missing,
            lit("'"),
        ]),
    )?;
    Ok(rolled)
}
