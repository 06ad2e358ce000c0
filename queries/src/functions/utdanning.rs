//! `utdanning`: highest completed education of persons 16 and over, a job of the
//! Databricks port only (`docs/functions/utdanning.md`, `tests/fixtures/PORT-JOBS.md`).

use datafusion::arrow::datatypes::DataType;
use datafusion::functions::expr_fn::{coalesce, concat, concat_ws};
use datafusion::functions_aggregate::expr_fn::{bool_or, count, count_distinct, sum};
use datafusion::prelude::*;
use serde_json::json;

use super::databricks_port;
use crate::Period::{self, History, Status};
use crate::Result;
use crate::dataset_types;
use crate::document::Template;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape, flat, per_series};
use bydelsfakta_udfs::ensure;
use bydelsfakta_udfs::geo::{BYDEL_ID, BYDEL_NAVN, DATE, DELBYDEL_ID, DELBYDEL_NAVN};
use bydelsfakta_udfs::plan::{Agg, add_ratios, all_of, all_present, c, cross_join, rollup};

pub const FUNCTION: Function = Function {
    name: "utdanning",
    inputs: &[("df", "utdanning")],
    types: dataset_types![
        "status" => "utdanning-status", Status;
        "historisk" => "utdanning-historisk", History;
    ],
    plan,
};

/// `nivaa` labels and the columns the port renames them to, in series order.
const LEVELS: [(&str, &str); 5] = [
    ("Grunnskole", "grunnskole"),
    ("Videregående skolenivå", "vgs"),
    ("Universitets- og høgskolenivå, kort", "uni_kort"),
    ("Universitets- og høgskolenivå, lang", "uni_lang"),
    ("Ingen utdanning/Uoppgitt utdanning", "ingen"),
];
const TOTAL: &str = "total";
/// The pivot's index: one row per year and sub-district.
const GROUP: [&str; 5] = [DATE, DELBYDEL_ID, DELBYDEL_NAVN, BYDEL_ID, BYDEL_NAVN];
const PER_LEVEL: &str = "__antall";
const FLOAT_VALUES: &str = "__float_values";

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    let raw = inputs.get("df")?;
    // First pivot: sex and age summed away; a row missing a key drops out, as in pandas.
    let keys: Vec<&str> = GROUP.iter().copied().chain(["nivaa"]).collect();
    let zero = match raw
        .schema()
        .field_with_unqualified_name("antall")?
        .data_type()
    {
        DataType::Float64 | DataType::Float32 => lit(0.0f64),
        _ => lit(0i64),
    };
    let complete = all_present(&keys);
    let per_level = raw.filter(complete)?.aggregate(
        keys.iter().map(|k| c(k)).collect(),
        vec![coalesce(vec![sum(c("antall")), zero]).alias(PER_LEVEL)],
    )?;
    // Second pivot: one column per level, missing where a sub-district lacks that level.
    let pivoted = per_level.clone().aggregate(
        GROUP.iter().map(|k| c(k)).collect(),
        LEVELS
            .iter()
            .map(|(label, column)| {
                Ok(sum(when(c("nivaa").eq(lit(*label)), c(PER_LEVEL)).end()?).alias(*column))
            })
            .collect::<datafusion::error::Result<Vec<_>>>()?,
    )?;
    // Plain `+`: missing as soon as one level is.
    let total = LEVELS
        .iter()
        .map(|(_, column)| c(column))
        .reduce(|a, b| a + b)
        .expect("levels");
    let pivoted = pivoted.with_column(TOTAL, total)?;

    let columns: Vec<&str> = LEVELS.iter().map(|(_, column)| *column).collect();
    let all: Vec<&str> = columns.iter().copied().chain([TOTAL]).collect();
    let rolled = rollup(
        pivoted,
        &all.iter().map(|c| (*c, Agg::Sum)).collect::<Vec<_>>(),
        &[],
    )?;
    let frame = add_ratios(rolled, &all, &[TOTAL])?;

    let is_status = dataset_type.variant::<Period>()?.is_status();
    let mut meta_series = json!([
        {"heading": "Grunnskole", "subheading": ""},
        {"heading": "Videregående skolenivå", "subheading": ""},
        {"heading": "Universitets- og høgskolenivå", "subheading": "kort"},
        {"heading": "Universitets- og høgskolenivå", "subheading": "lang"},
        {"heading": "Ingen/uoppgitt utdanning", "subheading": ""}
    ]);
    if !is_status && let Some(list) = meta_series.as_array_mut() {
        list.push(json!({"heading": "Totalt", "subheading": ""}));
    }
    let template = if is_status {
        flat(&columns)
    } else {
        per_series(&all)
    };
    let mut output = Shape::new(template, "Utdanning", meta_series)
        .period(*dataset_type.variant()?)
        .scale(TOTAL)
        .output(frame)?;

    // The escape hatch: the port's pivot turns whole columns float, which the frame's
    // types cannot say, so the template learns it from a one-row summary.
    output.frame = cross_join(output.frame, pivot_summary(per_level)?)?;
    output.template = Template::FloatValuesWhen {
        flag: FLOAT_VALUES.into(),
        template: Box::new(output.template),
    };
    databricks_port::rounded(output)
}

/// One row, checked once per run: whether the second pivot left a cell missing anywhere
/// (any year, any sub-district, those of 16, 17 and 99 too: pandas then made the whole
/// pivot float, so every level is written as a float), and the check that each of the
/// five levels occurs (the port reads each renamed column; a missing one is a KeyError).
fn pivot_summary(per_level: DataFrame) -> Result<DataFrame> {
    let has = |i: usize| c(&format!("__has_{i}"));
    let group = concat_ws(
        lit("\u{1f}"),
        GROUP.iter().map(|k| cast(c(k), DataType::Utf8)).collect(),
    );
    let aggregates = [
        count(lit(1i64)).alias("__pairs"),
        count_distinct(group).alias("__groups"),
        count_distinct(c("nivaa")).alias("__labels"),
    ]
    .into_iter()
    .chain(LEVELS.iter().enumerate().map(|(i, (label, _))| {
        coalesce(vec![bool_or(c("nivaa").eq(lit(*label))), lit(false)]).alias(format!("__has_{i}"))
    }))
    .collect();
    let all_found = all_of((0..LEVELS.len()).map(has));
    let missing = concat_ws(
        lit("', '"),
        LEVELS
            .iter()
            .enumerate()
            .map(|(i, (label, _))| when(not(has(i)), lit(*label)).end())
            .collect::<datafusion::error::Result<Vec<_>>>()?,
    );
    let message = concat(vec![
        lit("input utdanning: no row has nivaa '"),
        missing,
        lit("'"),
    ]);
    Ok(per_level
        .aggregate(vec![], aggregates)?
        .filter(ensure().call(vec![all_found, message]))?
        .select(vec![
            c("__pairs")
                .lt(c("__groups") * c("__labels"))
                .alias(FLOAT_VALUES),
        ])?)
}
