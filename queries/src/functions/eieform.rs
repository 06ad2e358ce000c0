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
use bydelsfakta_udfs::geo::{BYDEL_ID, KEYS, ROW};
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

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    let df = inputs.get("df")?.select(
        KEYS.iter()
            .map(|k| c(k))
            .chain([
                c("leier_alle").alias("leier"),
                c("borettslag_andel_alle").alias("andel"),
                c("selveier_alle").alias("selveier"),
                c(ROW),
            ])
            .collect::<Vec<_>>(),
    )?;
    // Legacy raw district ids; a missing id is kept, as pandas' `~isin` keeps it.
    let legacy = LEGACY_DISTRICT_IDS.map(lit).to_vec();
    let df = df.filter(c(BYDEL_ID).is_null().or(c(BYDEL_ID).in_list(legacy, true)))?;
    // drop_duplicates(): identical rows collapse to the first one.
    let data: Vec<&str> = KEYS.iter().copied().chain(SERIES).collect();
    let df = df.aggregate(
        data.iter().map(|k| c(k)).collect(),
        vec![min(c(ROW)).alias(ROW)],
    )?;
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
