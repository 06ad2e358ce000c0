//! `husholdning_med_barn`: households by number of children (`docs/functions/husholdning_med_barn.md`).

use serde_json::json;

use crate::Result;
use crate::function::{DatasetType, Family, Function, Inputs, Output, Single};
use bydelsfakta_udfs::plan::{Agg, add_ratios, c, rollup};

pub const FUNCTION: Function = Function {
    name: "husholdning_med_barn",
    inputs: &[("source", "husholdninger-med-barn")],
    types: &[
        DatasetType {
            name: "alle_status",
            output_dataset: "husholdning-totalt-status",
        },
        DatasetType {
            name: "alle_historisk",
            output_dataset: "husholdning-totalt-historisk",
        },
        DatasetType {
            name: "1barn_status",
            output_dataset: "husholdninger-med-1-barn-status",
        },
        DatasetType {
            name: "1barn_historisk",
            output_dataset: "husholdninger-med-1-barn-historisk",
        },
        DatasetType {
            name: "2barn_status",
            output_dataset: "husholdninger-med-2-barn-status",
        },
        DatasetType {
            name: "2barn_historisk",
            output_dataset: "husholdninger-med-2-barn-historisk",
        },
        DatasetType {
            name: "3barn_status",
            output_dataset: "husholdninger-med-3-barn-status",
        },
        DatasetType {
            name: "3barn_historisk",
            output_dataset: "husholdninger-med-3-barn-historisk",
        },
    ],
    plan,
};

const SERIES: [&str; 5] = [
    "one_child",
    "two_child",
    "three_or_more",
    "no_children",
    "total",
];

fn plan(inputs: &Inputs, dataset_type: &str) -> Result<Output> {
    let df = inputs
        .get("source")?
        .with_column("one_child", c("ett_barn_i_hh"))?
        .with_column("two_child", c("to_barn_i_hh"))?
        .with_column(
            "three_or_more",
            c("tre_barn_i_hh") + c("fire_barn_eller_mer"),
        )?
        .with_column("no_children", c("ingen_barn_i_hh"))?
        .with_column(
            "total",
            c("one_child") + c("two_child") + c("three_or_more") + c("no_children"),
        )?;
    let summed: Vec<(&str, Agg)> = SERIES.iter().map(|s| (*s, Agg::Sum)).collect();
    let df = add_ratios(rollup(df, &summed, &[])?, &SERIES, &["total"])?;

    Family {
        categories: &["one_child", "two_child", "three_or_more"],
        total: "total",
        heading: "Husholdninger med barn",
        meta_series: json!([
            {"heading": "Husholdninger", "subheading": "med 1 barn"},
            {"heading": "Husholdninger", "subheading": "med 2 barn"},
            {"heading": "Husholdninger", "subheading": "med 3 barn eller flere"}
        ]),
        singles: &[
            Single {
                kind: "1barn",
                column: "one_child",
                heading: "Husholdninger med 1 barn",
                scale: "one_child",
            },
            Single {
                kind: "2barn",
                column: "two_child",
                heading: "Husholdninger med 2 barn",
                scale: "two_child",
            },
            Single {
                kind: "3barn",
                column: "three_or_more",
                heading: "Husholdninger med 3 barn",
                scale: "three_or_more",
            },
        ],
        filter_status: true,
    }
    .output(df, dataset_type)
}
