//! `landbakgrunn_innvandringsgrupper`: the ten largest countries of origin per district,
//! in its own document format (`docs/functions/landbakgrunn_innvandringsgrupper.md`).

use datafusion::common::JoinType;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::prelude::*;
use serde_json::json;

use crate::Period::{self, History, Status};
use crate::Result;
use crate::dataset_types;
use crate::document::Template;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape, names};
use bydelsfakta_udfs::geo::{BYDEL_ID, BYDEL_NAVN, DATE, DELBYDEL_ID, OSLO_ID, OSLO_NAME, ROW};
use bydelsfakta_udfs::plan::{
    Agg, add_ratios, ascending, c, guarded, merge, population, rollup, share,
};
use bydelsfakta_udfs::row_sum;

pub const FUNCTION: Function = Function {
    name: "landbakgrunn_innvandringsgrupper",
    inputs: &[
        (
            "landbakgrunn_raw",
            "landbakgrunn-storste-innvandringsgrupper",
        ),
        ("befolkning_raw", "befolkning-etter-kjonn-og-alder"),
    ],
    types: dataset_types![
        "status" => "landbakgrunn-innvandringsgrupper-status", Status;
        "historisk" => "landbakgrunn-innvandringsgrupper-historisk", History;
    ],
    plan,
};

const COUNTRY: &str = "landbakgrunn";
const COUNTS: [&str; 3] = ["innvandrer", "norskfodt_med_innvandrerforeldre", "total"];
const PART: &str = "__part";

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    // District and Oslo population; Sentrum and Marka are left out, 99 stays in Oslo.
    let befolkning = population(inputs.get("befolkning_raw")?, 0, 200)?;
    let outside = vec![lit("16"), lit("17")];
    let befolkning =
        befolkning.filter(c(BYDEL_ID).is_null().or(c(BYDEL_ID).in_list(outside, true)))?;
    let befolkning = rollup(befolkning, &[("population", Agg::Sum)], &[])?
        .filter(c(DELBYDEL_ID).is_null())?
        .select(vec![
            c(BYDEL_ID).alias("__p_bydel_id"),
            c(DATE).alias("__p_date"),
            c(BYDEL_NAVN).alias("__p_bydel_navn"),
            c("population"),
        ])?;

    // Countries per district (file order), then Oslo per year and country (every district).
    let countries = inputs
        .get("landbakgrunn_raw")?
        .with_column("total", row_sum().call(vec![c(COUNTS[0]), c(COUNTS[1])]))?;
    let districts = countries.clone().select(
        [c(BYDEL_ID), c(BYDEL_NAVN), c(DATE), c(COUNTRY)]
            .into_iter()
            .chain(COUNTS.iter().map(|k| c(k)))
            .chain([lit(0i64).alias(PART), c(ROW)])
            .collect::<Vec<_>>(),
    )?;
    let oslo = countries
        .aggregate(
            vec![c(DATE), c(COUNTRY)],
            // pandas' group sum: all missing is 0 (0.0 in a float column).
            COUNTS
                .iter()
                .map(|k| coalesce(vec![sum(c(k)), lit(0i64)]).alias(*k))
                .collect(),
        )?
        .select(
            [
                lit(OSLO_ID).alias(BYDEL_ID),
                lit(OSLO_NAME).alias(BYDEL_NAVN),
                c(DATE),
                c(COUNTRY),
            ]
            .into_iter()
            .chain(COUNTS.iter().map(|k| c(k)))
            .chain([lit(1i64).alias(PART), lit(0i64).alias(ROW)])
            .collect::<Vec<_>>(),
        )?;
    let merged = merge(
        districts.union(oslo)?,
        befolkning,
        JoinType::Inner,
        &[BYDEL_ID, DATE, BYDEL_NAVN],
        &["__p_bydel_id", "__p_date", "__p_bydel_navn"],
    )?;
    let df = add_ratios(some_rows(merged)?, &COUNTS, &["population"])?;

    let period = *dataset_type.variant::<Period>()?;
    let latest_only = period.is_status();
    let (data_points, series) = if latest_only {
        (
            names(&COUNTS[..2]),
            json!([
                {"heading": "Innvandrer", "subheading": ""},
                {"heading": "Norskfødt med innvandrerforeldre", "subheading": ""}
            ]),
        )
    } else {
        (
            names(&["total", COUNTS[0], COUNTS[1]]),
            json!([
                {"heading": "Totalt", "subheading": ""},
                {"heading": "Innvandrer", "subheading": ""},
                {"heading": "Norskfødt med innvandrerforeldre", "subheading": ""}
            ]),
        )
    };
    Shape::new(
        Template::TopGroups {
            group: COUNTRY.into(),
            rank_by: "total".into(),
            top: 10,
            data_points,
            nested: !latest_only,
        },
        "10 største innvandringsgrupper",
        series,
    )
    .period(period)
    .order(ascending(&[PART, ROW, DATE, COUNTRY]))
    .output(df)
}

/// `df` unchanged, or the original's `No data in outputlist` when it has no rows (no
/// document would come out: no district and year the two inputs share).
fn some_rows(df: DataFrame) -> Result<DataFrame> {
    let df = share(df)?;
    let rows = df
        .clone()
        .aggregate(vec![], vec![count(lit(1i64)).alias("__rows")])?;
    Ok(guarded(
        df,
        rows,
        c("__rows").gt(lit(0i64)),
        lit(
            "landbakgrunn_innvandringsgrupper: No data in outputlist (the inputs \
             landbakgrunn-storste-innvandringsgrupper and befolkning-etter-kjonn-og-alder \
             share no district name and year)",
        ),
    )?)
}
