//! `innvandring_under16`: children 0-15 by immigration category
//! (`docs/functions/innvandring_under16.md`).

use datafusion::prelude::*;
use serde_json::json;

use crate::Result;
use crate::function::{DatasetType, Function, Inputs, Output};
use bydelsfakta_udfs::plan::{Agg, add_ratios, c, rollup};

pub const FUNCTION: Function = Function {
    name: "innvandring_under16",
    inputs: &[("df", "innvandrer-befolkningen-0-15-ar")],
    types: &[
        DatasetType {
            name: "innvandrer_status",
            output_dataset: "innvandring-under-16-innvandrer-status",
        },
        DatasetType {
            name: "innvandrer_historisk",
            output_dataset: "innvandring-under-16-innvandrer-historisk",
        },
        DatasetType {
            name: "en-innvandrer_status",
            output_dataset: "innvandring-under-16-en-innvandrerforelder-status",
        },
        DatasetType {
            name: "en-innvandrer_historisk",
            output_dataset: "innvandring-under-16-en-innvandrerforelder-historisk",
        },
        DatasetType {
            name: "to-innvandrer_status",
            output_dataset: "innvandring-under-16-to-innvandrerforeldre-status",
        },
        DatasetType {
            name: "to-innvandrer_historisk",
            output_dataset: "innvandring-under-16-to-innvandrerforeldre-historisk",
        },
    ],
    plan,
};

fn plan(inputs: &Inputs, dataset_type: &str) -> Result<Output> {
    let df = inputs
        .get("df")?
        .filter(c("alder").eq(lit("0-15 år")))?
        .with_column(
            "en_forelder",
            c("norskfodt_med_en_utenlandskfodt_forelder")
                + c("utenlandsfodt_med_en_norsk_forelder"),
        )?
        .with_column("to_foreldre", c("norskfodt_med_innvandrerforeldre"))?;
    let df = df.with_column(
        "total",
        c("fodt_i_utlandet_av_norskfodte_foreldre")
            + c("innvandrer")
            + c("uten_innvandringsbakgrunn")
            + c("to_foreldre")
            + c("en_forelder"),
    )?;
    let rolled = rollup(
        df,
        &[
            ("to_foreldre", Agg::Sum),
            ("en_forelder", Agg::Sum),
            ("innvandrer", Agg::Sum),
            ("total", Agg::Sum),
        ],
        &[],
    )?;
    let df = add_ratios(
        rolled,
        &["to_foreldre", "en_forelder", "innvandrer"],
        &["total"],
    )?;
    let (kind, period) = dataset_type.split_once('_').unwrap_or((dataset_type, ""));
    let (series, heading) = match (kind, period) {
        ("en-innvandrer", _) => (
            "en_forelder",
            "Personer (under 16) med én innvandrerforelder",
        ),
        ("to-innvandrer", _) => (
            "to_foreldre",
            "Personer (under 16) med to innvandrerforeldre",
        ),
        (_, "status") => ("innvandrer", "Innvandrere (under 16)"),
        _ => ("innvandrer", "Andel innvandrere (under 16)"),
    };
    Output::one_series(df, series, period == "status", heading, json!([]))
}
