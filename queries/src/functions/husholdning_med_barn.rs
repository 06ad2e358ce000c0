//! `husholdning_med_barn`: households by number of children (`docs/functions/husholdning_med_barn.md`).

use serde_json::json;

use crate::Period::{History, Status};
use crate::Result;
use crate::dataset_types;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::Member::{All, One};
use crate::output::{Family, Output, Single};
use bydelsfakta_udfs::plan::{Agg, add_ratios, c, rollup};

pub const FUNCTION: Function = Function {
    name: "husholdning_med_barn",
    inputs: &[("source", "husholdninger-med-barn")],
    types: dataset_types![
        "alle_status" => "husholdning-totalt-status", All(Status);
        "alle_historisk" => "husholdning-totalt-historisk", All(History);
        "1barn_status" => "husholdninger-med-1-barn-status", One(ONE_CHILD, Status);
        "1barn_historisk" => "husholdninger-med-1-barn-historisk", One(ONE_CHILD, History);
        "2barn_status" => "husholdninger-med-2-barn-status", One(TWO_CHILD, Status);
        "2barn_historisk" => "husholdninger-med-2-barn-historisk", One(TWO_CHILD, History);
        "3barn_status" => "husholdninger-med-3-barn-status", One(THREE_OR_MORE, Status);
        "3barn_historisk" => "husholdninger-med-3-barn-historisk", One(THREE_OR_MORE, History);
    ],
    plan,
};

/// The categories the single types draw.
const ONE_CHILD: Single = Single::of("one_child", "Husholdninger med 1 barn");
const TWO_CHILD: Single = Single::of("two_child", "Husholdninger med 2 barn");
const THREE_OR_MORE: Single = Single::of("three_or_more", "Husholdninger med 3 barn");

const SERIES: [&str; 5] = [
    "one_child",
    "two_child",
    "three_or_more",
    "no_children",
    "total",
];

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    let df = inputs.common("aggregated", || {
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
        Ok(add_ratios(rollup(df, &summed, &[])?, &SERIES, &["total"])?)
    })?;

    Family {
        categories: &["one_child", "two_child", "three_or_more"],
        total: "total",
        heading: "Husholdninger med barn",
        meta_series: json!([
            {"heading": "Husholdninger", "subheading": "med 1 barn"},
            {"heading": "Husholdninger", "subheading": "med 2 barn"},
            {"heading": "Husholdninger", "subheading": "med 3 barn eller flere"}
        ]),
        filter_status: true,
    }
    .shape(dataset_type.variant()?)
    .output(df)
}
