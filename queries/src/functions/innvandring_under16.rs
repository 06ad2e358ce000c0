//! `innvandring_under16`: children 0-15 by immigration category
//! (`docs/functions/innvandring_under16.md`).

use datafusion::prelude::*;
use serde_json::json;

use crate::Period::{self, History, Status};
use crate::Result;
use crate::dataset_types;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape, Single};
use bydelsfakta_udfs::plan::{Agg, add_ratios, c, rollup};

pub const FUNCTION: Function = Function {
    name: "innvandring_under16",
    inputs: &[("df", "innvandrer-befolkningen-0-15-ar")],
    types: dataset_types![
        "innvandrer_status" => "innvandring-under-16-innvandrer-status", (INNVANDRER_STATUS, Status);
        "innvandrer_historisk" => "innvandring-under-16-innvandrer-historisk", (INNVANDRER_HISTORY, History);
        "en-innvandrer_status" => "innvandring-under-16-en-innvandrerforelder-status", (EN_FORELDER, Status);
        "en-innvandrer_historisk" => "innvandring-under-16-en-innvandrerforelder-historisk", (EN_FORELDER, History);
        "to-innvandrer_status" => "innvandring-under-16-to-innvandrerforeldre-status", (TO_FORELDRE, Status);
        "to-innvandrer_historisk" => "innvandring-under-16-to-innvandrerforeldre-historisk", (TO_FORELDRE, History);
    ],
    plan,
};

// Each type draws one series (with its own scale); the immigrants' heading differs between the periods.
const INNVANDRER_STATUS: Single = Single::of("innvandrer", "Innvandrere (under 16)");
const INNVANDRER_HISTORY: Single = Single::of("innvandrer", "Andel innvandrere (under 16)");
const EN_FORELDER: Single = Single::of(
    "en_forelder",
    "Personer (under 16) med én innvandrerforelder",
);
const TO_FORELDRE: Single = Single::of(
    "to_foreldre",
    "Personer (under 16) med to innvandrerforeldre",
);

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    let df = inputs.common("aggregated", || {
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
        Ok(df)
    })?;
    let &(single, period) = dataset_type.variant::<(Single, Period)>()?;
    Shape::one_series(single.column, period, single.heading, json!([])).output(df)
}
