//! `husholdning_med_barn`: households by number of children (spec `husholdning_med_barn.md`).

use serde_json::json;

use crate::Result;
use crate::function::{DatasetType, Function, Inputs, Layout, Output, Shape};
use bydelsfakta_udfs::plan::{Agg, add_ratios, c, rollup, rollup_order};

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

    let (kind, period) = dataset_type.split_once('_').unwrap_or((dataset_type, ""));
    let status = period == "status";
    let all_series = json!([
        {"heading": "Husholdninger", "subheading": "med 1 barn"},
        {"heading": "Husholdninger", "subheading": "med 2 barn"},
        {"heading": "Husholdninger", "subheading": "med 3 barn eller flere"}
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
    let shape = match kind {
        "alle" if status => shape(
            &["one_child", "two_child", "three_or_more"][..],
            Layout::Flat,
            None,
            "Husholdninger med barn",
            all_series,
        ),
        "alle" => {
            let mut series = all_series;
            series
                .as_array_mut()
                .expect("array")
                .push(json!({"heading": "Totalt", "subheading": ""}));
            shape(
                &["one_child", "two_child", "three_or_more", "total"][..],
                Layout::Nested,
                None,
                "Husholdninger med barn",
                series,
            )
        }
        "1barn" => shape(
            &["one_child"][..],
            Layout::Flat,
            status.then_some("one_child"),
            "Husholdninger med 1 barn",
            json!([]),
        ),
        "2barn" => shape(
            &["two_child"][..],
            Layout::Flat,
            status.then_some("two_child"),
            "Husholdninger med 2 barn",
            json!([]),
        ),
        _ => shape(
            &["three_or_more"][..],
            Layout::Flat,
            status.then_some("three_or_more"),
            "Husholdninger med 3 barn",
            json!([]),
        ),
    };
    shape.output(df)
}
