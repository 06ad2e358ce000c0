//! `botid_ikke_vestlige`: share of residents who are immigrants from Asia, Africa, Latin
//! America and Eastern Europe outside the EU with at most five years of residence
//! (`docs/functions/botid_ikke_vestlige.md`). Steps 1-7 are shared with `levekar_totalt`.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::JoinType;
use datafusion::functions::expr_fn::coalesce;
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::prelude::*;
use serde_json::json;

use crate::Period::{self, History, Status};
use crate::Result;
use crate::dataset_types;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape};
use bydelsfakta_udfs::geo::{BYDEL_ID, DATE, DELBYDEL_ID, ROW};
use bydelsfakta_udfs::plan::{Agg, all_of, c, merge, population, require_any, rollup};
use bydelsfakta_udfs::ratio;

pub const FUNCTION: Function = Function {
    name: "botid_ikke_vestlige",
    inputs: &[
        ("botid_ikke_vestlige_raw", "botid-ikke-vestlige"),
        ("befolkning_raw", "befolkning-etter-kjonn-og-alder"),
    ],
    types: dataset_types![
        "status" => "levekar-innvandrere-ikke-vestlige-kort-status", Status;
        "historisk" => "levekar-innvandrere-ikke-vestlige-kort-historisk", History;
    ],
    plan,
};

const SHORT_RESIDENCE: &str = "Innvandrer, kort botid (<=5 år)";
const NON_WESTERN: &str = "asia_afrika_latin_amerika_og_ost_europa_utenfor_eu";
pub const VALUE: &str = "ikke_vestlig_kort";

/// Steps 1-7: `ikke_vestlig_kort` (the pivoted short-residence count, a float) and its
/// ratio to the total population, at the three levels.
pub fn short_residence_ratio(botid: DataFrame, befolkning: DataFrame) -> Result<DataFrame> {
    // The pivot keeps every other column as a key (extra landbakgrunn columns included).
    let keys: Vec<String> = botid
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| !["botid", NON_WESTERN, "norge", ROW].contains(&n.as_str()))
        .collect();
    let botid = require_any(
        botid,
        c("botid").eq(lit(SHORT_RESIDENCE)),
        lit(format!(
            "botid-ikke-vestlige: the category '{SHORT_RESIDENCE}' never occurs"
        )),
    )?;
    let complete = all_of(keys.iter().map(|k| c(k).is_not_null()));
    let short = when(
        c("botid").eq(lit(SHORT_RESIDENCE)),
        coalesce(vec![cast(c(NON_WESTERN), DataType::Float64), lit(0.0f64)]),
    )
    .otherwise(lit(0.0f64))?;
    let pivoted = botid.filter(complete)?.aggregate(
        keys.iter().map(|k| c(k)).collect(),
        vec![sum(short).alias(VALUE)],
    )?;
    let counts = rollup(pivoted, &[(VALUE, Agg::Sum)], &[])?;
    let population = rollup(
        population(befolkning, 0, 200)?,
        &[("population", Agg::Sum)],
        &[],
    )?
    .select(vec![
        c(DATE).alias("__p_date"),
        c(BYDEL_ID).alias("__p_bydel_id"),
        c(DELBYDEL_ID).alias("__p_delbydel_id"),
        c("population"),
    ])?;
    let merged = merge(
        counts,
        population,
        JoinType::Inner,
        &[BYDEL_ID, DATE, DELBYDEL_ID],
        &["__p_bydel_id", "__p_date", "__p_delbydel_id"],
    )?;
    Ok(merged.with_column(
        &format!("{VALUE}_ratio"),
        ratio().call(vec![c(VALUE), c("population")]),
    )?)
}

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    let df = inputs.common("ratio", || {
        short_residence_ratio(
            inputs.get("botid_ikke_vestlige_raw")?,
            inputs.get("befolkning_raw")?,
        )
    })?;
    Shape::one_series(VALUE, *dataset_type.variant::<Period>()?, "Ikke-vestlige innvandrere korttid", json!([{
            "heading": "Innvandrere fra Asia, Afrika, Latin-Amerika og Øst-Europa utenfor EU med botid kortere enn fem år",
            "subheading": ""
        }])).output(df)
}
