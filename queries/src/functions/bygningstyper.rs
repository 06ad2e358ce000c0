//! `bygningstyper`: dwellings by building type (spec `bygningstyper.md`).

use serde_json::json;

use crate::Result;
use crate::function::{DatasetType, Function, Inputs, Layout, Output, Shape};
use bydelsfakta_udfs::plan::{Agg, add_ratios, c, rollup, rollup_order};

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

    let (kind, period) = dataset_type.split_once('_').unwrap_or((dataset_type, ""));
    let status = period == "status";
    let all_series = json!([
        {"heading": "Blokk, leiegård o.l", "subheading": ""},
        {"heading": "Rekkehus, tomannsboliger o.l", "subheading": ""},
        {"heading": "Enebolig", "subheading": ""}
    ]);
    let shape = |series, layout, scale, heading, meta_series| Shape {
        series,
        layout,
        latest_year_only: status,
        scale,
        order: rollup_order(&[]),
        heading,
        meta_series,
    };
    let single = |series: &'static [&'static str], heading| {
        // The original asks totalt_status for the scale of "totalt", a column it does not
        // have, and so writes [0.0, 0.0]; kept.
        let column = if series[0] == "total" {
            "totalt"
        } else {
            series[0]
        };
        shape(
            series,
            Layout::Flat,
            status.then_some(column),
            heading,
            json!([]),
        )
    };
    let shape = match (kind, status) {
        ("alle", true) => shape(
            &SERIES[..3],
            Layout::Flat,
            None,
            "Boliger etter bygningstype",
            all_series,
        ),
        ("alle", false) => {
            let mut series = all_series;
            series
                .as_array_mut()
                .expect("array")
                .push(json!({"heading": "Totalt", "subheading": ""}));
            shape(
                &SERIES,
                Layout::Nested,
                None,
                "Boliger etter bygningstype",
                series,
            )
        }
        ("blokk", _) => single(&["blokk"], "Blokker og leiegårder"),
        ("enebolig", _) => single(&["enebolig"], "Eneboliger"),
        ("rekkehus", _) => single(&["rekkehus"], "Rekkehus/tomannsboliger"),
        _ => single(&["total"], "Antall boliger"),
    };
    shape.output(df)
}
