//! `bygningstyper`: dwellings by building type (`docs/functions/bygningstyper.md`).

use serde_json::json;

use crate::Period::{History, Status};
use crate::Result;
use crate::dataset_types;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::Member::{All, One};
use crate::output::{Family, Output, Single};
use bydelsfakta_udfs::plan::{Agg, add_ratios, c, rollup};

pub const FUNCTION: Function = Function {
    name: "bygningstyper",
    inputs: &[("df", "boligmengde-etter-boligtype")],
    types: dataset_types![
        "alle_status" => "bygningstyper-alle-status", All(Status);
        "alle_historisk" => "bygningstyper-alle-historisk", All(History);
        "blokk_status" => "bygningstyper-blokk-status", One(BLOKK, Status);
        "blokk_historisk" => "bygningstyper-blokk-historisk", One(BLOKK, History);
        "enebolig_status" => "bygningstyper-enebolig-status", One(ENEBOLIG, Status);
        "enebolig_historisk" => "bygningstyper-enebolig-historisk", One(ENEBOLIG, History);
        "rekkehus_status" => "bygningstyper-rekkehus-status", One(REKKEHUS, Status);
        "rekkehus_historisk" => "bygningstyper-rekkehus-historisk", One(REKKEHUS, History);
        "totalt_status" => "bygningstyper-totalt-status", One(TOTAL, Status);
        "totalt_historisk" => "bygningstyper-totalt-historisk", One(TOTAL, History);
    ],
    plan,
};

/// The categories the single types draw.
const BLOKK: Single = Single::of("blokk", "Blokker og leiegårder");
const ENEBOLIG: Single = Single::of("enebolig", "Eneboliger");
const REKKEHUS: Single = Single::of("rekkehus", "Rekkehus/tomannsboliger");
// The original asks for the scale of "totalt", a column it does not have, and so
// writes [0.0, 0.0]; kept.
const TOTAL: Single = Single {
    column: "total",
    heading: "Antall boliger",
    scale: "totalt",
};

const SERIES: [&str; 4] = ["blokk", "rekkehus", "enebolig", "total"];

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    let df = inputs.common("aggregated", || {
        let df = inputs
            .get("df")?
            .with_column(
                "rekkehus",
                c("horisontaldelt_tomannsbolig_eller_annet_boligbygg_med_mindre_enn_3_etasjer")
                    + c("hus_i_kjede_rekkehus_terrasse_hus_vertikaldelt_tomannsbolig"),
            )?
            .with_column(
                "blokk",
                c("blokk_leiegaard_el") + c("forretningsgaard_bygg_for_felleshusholdning_el"),
            )?
            .with_column("enebolig", c("frittliggende_enebolig_eller_vaaningshus"))?
            .with_column("total", c("rekkehus") + c("blokk") + c("enebolig"))?;
        let summed: Vec<(&str, Agg)> = SERIES.iter().map(|s| (*s, Agg::Sum)).collect();
        Ok(add_ratios(rollup(df, &summed, &[])?, &SERIES, &["total"])?)
    })?;

    Family {
        categories: &SERIES[..3],
        total: "total",
        heading: "Boliger etter bygningstype",
        meta_series: json!([
            {"heading": "Blokk, leiegård o.l", "subheading": ""},
            {"heading": "Rekkehus, tomannsboliger o.l", "subheading": ""},
            {"heading": "Enebolig", "subheading": ""}
        ]),
        filter_status: true,
    }
    .shape(dataset_type.variant()?)
    .output(df)
}
