//! `bygningstyper`: dwellings by building type (`docs/functions/bygningstyper.md`).

use serde_json::json;

use crate::Result;
use crate::function::{DatasetType, Family, Function, Inputs, Output, Single};
use bydelsfakta_udfs::plan::{Agg, add_ratios, c, rollup};

pub const FUNCTION: Function = Function {
    name: "bygningstyper",
    inputs: &[("df", "boligmengde-etter-boligtype")],
    types: &[
        DatasetType {
            name: "alle_status",
            output_dataset: "bygningstyper-alle-status",
        },
        DatasetType {
            name: "alle_historisk",
            output_dataset: "bygningstyper-alle-historisk",
        },
        DatasetType {
            name: "blokk_status",
            output_dataset: "bygningstyper-blokk-status",
        },
        DatasetType {
            name: "blokk_historisk",
            output_dataset: "bygningstyper-blokk-historisk",
        },
        DatasetType {
            name: "enebolig_status",
            output_dataset: "bygningstyper-enebolig-status",
        },
        DatasetType {
            name: "enebolig_historisk",
            output_dataset: "bygningstyper-enebolig-historisk",
        },
        DatasetType {
            name: "rekkehus_status",
            output_dataset: "bygningstyper-rekkehus-status",
        },
        DatasetType {
            name: "rekkehus_historisk",
            output_dataset: "bygningstyper-rekkehus-historisk",
        },
        DatasetType {
            name: "totalt_status",
            output_dataset: "bygningstyper-totalt-status",
        },
        DatasetType {
            name: "totalt_historisk",
            output_dataset: "bygningstyper-totalt-historisk",
        },
    ],
    plan,
};

const SERIES: [&str; 4] = ["blokk", "rekkehus", "enebolig", "total"];

fn plan(inputs: &Inputs, dataset_type: &str) -> Result<Output> {
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
    let df = add_ratios(rollup(df, &summed, &[])?, &SERIES, &["total"])?;

    Family {
        categories: &SERIES[..3],
        total: "total",
        heading: "Boliger etter bygningstype",
        meta_series: json!([
            {"heading": "Blokk, leiegård o.l", "subheading": ""},
            {"heading": "Rekkehus, tomannsboliger o.l", "subheading": ""},
            {"heading": "Enebolig", "subheading": ""}
        ]),
        singles: &[
            Single {
                kind: "blokk",
                column: "blokk",
                heading: "Blokker og leiegårder",
                scale: "blokk",
            },
            Single {
                kind: "enebolig",
                column: "enebolig",
                heading: "Eneboliger",
                scale: "enebolig",
            },
            Single {
                kind: "rekkehus",
                column: "rekkehus",
                heading: "Rekkehus/tomannsboliger",
                scale: "rekkehus",
            },
            // The original asks for the scale of "totalt", a column it does not have, and so
            // writes [0.0, 0.0]; kept.
            Single {
                kind: "totalt",
                column: "total",
                heading: "Antall boliger",
                scale: "totalt",
            },
        ],
        filter_status: true,
    }
    .output(df, dataset_type)
}
