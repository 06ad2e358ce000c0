//! `eieform`: households by tenure, in percent (`docs/functions/eieform.md`).

use datafusion::functions_aggregate::expr_fn::min;
use datafusion::prelude::*;
use serde_json::json;

use crate::Period::{self, History, Status};
use crate::Result;
use crate::catalog::LEGACY_DISTRICT_IDS;
use crate::dataset_types;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape, flat, per_series};
use bydelsfakta_udfs::geo::{BYDEL_ID, ROW};
use bydelsfakta_udfs::plan::c;
use bydelsfakta_udfs::round_half_even;

pub const FUNCTION: Function = Function {
    name: "eieform",
    inputs: &[("df", "eieform")],
    types: dataset_types![
        "status" => "eieform-status", Status;
        "historisk" => "eieform-historisk", History;
    ],
    plan,
};

const SERIES: [&str; 3] = ["leier", "andel", "selveier"];
/// Step 1's renames (file column, series).
const RENAMED: [(&str, &str); 3] = [
    ("leier_alle", "leier"),
    ("borettslag_andel_alle", "andel"),
    ("selveier_alle", "selveier"),
];
/// Step 1's dropped columns.
const DROPPED: [&str; 3] = [
    "borettslag_andel_uten_studenter",
    "selveier_uten_studenter",
    "leier_uten_studenter",
];

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    // Step 1: rename the three series, drop the `*_uten_studenter` columns; every other
    // column of the file stays (and counts in `drop_duplicates` below).
    let df = inputs.get("df")?;
    let kept: Vec<Expr> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|name| !DROPPED.contains(name))
        .map(
            |name| match RENAMED.iter().find(|(from, _)| *from == name) {
                Some((from, to)) => c(from).alias(*to),
                None => c(name),
            },
        )
        .collect();
    let df = df.select(kept)?;
    // Legacy raw district ids; a missing id is kept, as pandas' `~isin` keeps it.
    let legacy = LEGACY_DISTRICT_IDS.map(lit).to_vec();
    let df = df.filter(c(BYDEL_ID).is_null().or(c(BYDEL_ID).in_list(legacy, true)))?;
    // drop_duplicates(): identical rows (every column but the line number) collapse to the
    // first one.
    let data: Vec<Expr> = df
        .schema()
        .fields()
        .iter()
        .filter(|f| f.name() != ROW)
        .map(|f| c(f.name()))
        .collect();
    let df = df.aggregate(data, vec![min(c(ROW)).alias(ROW)])?;
    let df = SERIES.iter().try_fold(df, |df, s| {
        df.with_column(
            &format!("{s}_ratio"),
            round_half_even().call(vec![c(s) / lit(100.0f64), lit(2i64)]),
        )
    })?;
    let meta_series = json!([
        {"heading": "Leier", "subheading": ""},
        {"heading": "Andels-/aksjeeier", "subheading": ""},
        {"heading": "Selveier", "subheading": ""}
    ]);
    let heading = "Husholdninger fordelt etter eie-/leieforhold";
    let shape = match *dataset_type.variant::<Period>()? {
        Status => Shape::new(flat(&SERIES), heading, meta_series)
            .period(Status)
            .scale("leier"),
        History => Shape::new(per_series(&SERIES), heading, meta_series),
    };
    shape.in_file_order().output(df)
}
