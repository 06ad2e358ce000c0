//! `trangboddhet`: households by rooms per person (`docs/functions/trangboddhet.md`).

use datafusion::prelude::*;
use serde_json::json;

use crate::Result;
use crate::document::Template;
use crate::function::{DatasetType, Function, Inputs, Output, names};
use bydelsfakta_udfs::geo::{BYDEL_ID, OSLO_ID};
use bydelsfakta_udfs::plan::{Agg, add_ratios, c, rollup, rollup_order, scale, status};

pub const FUNCTION: Function = Function {
    name: "trangboddhet",
    inputs: &[("df", "husholdninger-etter-rom-per-person")],
    types: &[
        DatasetType {
            name: "alle_status",
            output_dataset: "trangboddhet-alle-status",
        },
        DatasetType {
            name: "alle_historisk",
            output_dataset: "trangboddhet-alle-historisk",
        },
        DatasetType {
            name: "under-0-5_status",
            output_dataset: "trangboddhet-under-0-5-status",
        },
        DatasetType {
            name: "under-0-5_historisk",
            output_dataset: "trangboddhet-under-0-5-historisk",
        },
        DatasetType {
            name: "0-5-0-9_status",
            output_dataset: "trangboddhet-0-5-0-9-status",
        },
        DatasetType {
            name: "0-5-0-9_historisk",
            output_dataset: "trangboddhet-0-5-0-9-historisk",
        },
        DatasetType {
            name: "1-0-1-9_status",
            output_dataset: "trangboddhet-1-0-1-9-status",
        },
        DatasetType {
            name: "1-0-1-9_historisk",
            output_dataset: "trangboddhet-1-0-1-9-historisk",
        },
        DatasetType {
            name: "over-2_status",
            output_dataset: "trangboddhet-over-2-status",
        },
        DatasetType {
            name: "over-2_historisk",
            output_dataset: "trangboddhet-over-2-historisk",
        },
    ],
    plan,
};

const UNDER_0_5: &str = "rom_per_person_under_0_5";
const FROM_0_5_TO_0_9: &str = "rom_per_person_0_5_til_0_9";
const FROM_1_0_TO_1_9: &str = "rom_per_person_1_0_til_1_9";
const OVER_2: &str = "rom_per_person_2_0_og_over";
const VALUE_POINTS: [&str; 4] = [UNDER_0_5, FROM_0_5_TO_0_9, FROM_1_0_TO_1_9, OVER_2];

fn plan(inputs: &Inputs, dataset_type: &str) -> Result<Output> {
    let df = inputs
        .get("df")?
        .filter(c(BYDEL_ID).is_null().or(c(BYDEL_ID).not_eq(lit(OSLO_ID))))?;
    let summed: Vec<(&str, Agg)> = VALUE_POINTS
        .iter()
        .chain(["rom_per_person_i_alt"].iter())
        .map(|c| (*c, Agg::Sum))
        .collect();
    let aggregated = add_ratios(rollup(df, &summed, &[])?, &VALUE_POINTS, &VALUE_POINTS)?;

    let all_series = json!([
        {"heading": "Under 0,5 rom per person", "subheading": ""},
        {"heading": "0,5–0,9 rom per person", "subheading": ""},
        {"heading": "1,0–1,9 rom per person", "subheading": ""},
        {"heading": "2 rom eller flere per person", "subheading": ""}
    ]);
    let (column, heading) = match dataset_type {
        "alle_status" | "alle_historisk" => ("", ""),
        "under-0-5_status" => (UNDER_0_5, "Under 0,5 rom per preson"),
        "under-0-5_historisk" => (UNDER_0_5, "Personer per rom - under 0.5"),
        "0-5-0-9_status" | "0-5-0-9_historisk" => (FROM_0_5_TO_0_9, "0,5–0,9 rom per person"),
        "1-0-1-9_status" => (FROM_1_0_TO_1_9, "1,0–1,9 rom per person"),
        "1-0-1-9_historisk" => (FROM_1_0_TO_1_9, "Personer per rom - 1,5 - 1,9"),
        _ => (OVER_2, "2 rom eller flere per person"),
    };
    let is_status = dataset_type.ends_with("_status");
    let frame = if is_status {
        status(vec![aggregated.clone()])?.remove(0)
    } else {
        aggregated.clone()
    };
    let output = |template, heading: &str, series, scale| Output {
        frame,
        order: rollup_order(&[]),
        template,
        heading: heading.into(),
        series,
        scale,
    };
    Ok(match dataset_type {
        "alle_status" => output(
            Template::Flat {
                series: names(&VALUE_POINTS),
            },
            "Husstander fordelt på personer per rom",
            all_series,
            None,
        ),
        "alle_historisk" => output(
            Template::PerSeries {
                series: names(&VALUE_POINTS),
            },
            "",
            all_series,
            None,
        ),
        _ => output(
            Template::Flat {
                series: names(&[column]),
            },
            heading,
            json!([]),
            if is_status {
                Some(scale(aggregated, column)?)
            } else {
                None
            },
        ),
    })
}
