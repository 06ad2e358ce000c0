//! `husholdningstyper`: households by type (`docs/functions/husholdningstyper.md`).

use datafusion::functions_aggregate::expr_fn::sum;
use serde_json::json;

use crate::Period::{self, History, Status};
use crate::Result;
use crate::dataset_types;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape, flat, per_series};
use bydelsfakta_udfs::geo::KEYS;
use bydelsfakta_udfs::plan::{Agg, add_ratios, all_present, c, rollup};

pub const FUNCTION: Function = Function {
    name: "husholdningstyper",
    inputs: &[("source", "husholdningstyper")],
    types: dataset_types![
        "status" => "husholdningstyper-status", Status;
        "historisk" => "husholdningstyper-historisk", History;
    ],
    plan,
};

const SERIES: [&str; 6] = [
    "aleneboende",
    "par_uten_barn",
    "par_med_barn",
    "mor_far_med_barn",
    "flerfamiliehusholdninger",
    "total",
];

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    let df = inputs
        .get("source")?
        .with_column("par_uten_barn", c("par_uten_hjemmeboende_barn"))?
        .with_column(
            "par_med_barn",
            c("par_med_smaa_barn") + c("par_med_store_barn"),
        )?
        .with_column(
            "mor_far_med_barn",
            c("mor_eller_far_med_smaa_barn") + c("mor_eller_far_med_store_barn"),
        )?
        .with_column(
            "flerfamiliehusholdninger",
            c("enfamiliehusholdninger_med_voksne_barn")
                + c("flerfamiliehusholdninger_med_smaa_barn")
                + c("flerfamiliehusholdninger_med_store_barn")
                + c("flerfamiliehusholdninger_uten_barn_0_til_17_aar"),
        )?
        .with_column(
            "total",
            c("par_uten_barn")
                + c("par_med_barn")
                + c("mor_far_med_barn")
                + c("flerfamiliehusholdninger")
                + c("aleneboende"),
        )?;
    // The original first collapses duplicate rows per complete geography (dropping rows with
    // a missing key), then aggregates.
    let complete = all_present(&KEYS);
    let collapsed = df.filter(complete)?.aggregate(
        KEYS.iter().map(|k| c(k)).collect(),
        SERIES.iter().map(|s| sum(c(s)).alias(*s)).collect(),
    )?;
    let summed: Vec<(&str, Agg)> = SERIES.iter().map(|s| (*s, Agg::Sum)).collect();
    let aggregated = add_ratios(rollup(collapsed, &summed, &[])?, &SERIES, &["total"])?;
    let mut series = vec![
        json!({"heading": "Énpersonshusholdninger", "subheading": ""}),
        json!({"heading": "Par uten barn", "subheading": ""}),
        json!({"heading": "Par med barn", "subheading": ""}),
        json!({"heading": "Mor eller far", "subheading": "med barn"}),
        json!({"heading": "Flerfamiliehusholdninger", "subheading": ""}),
    ];
    let period = *dataset_type.variant::<Period>()?;
    let template = match period {
        Period::Status => flat(&SERIES[..5]),
        Period::History => {
            series.push(json!({"heading": "Totalt", "subheading": ""}));
            per_series(&SERIES)
        }
    };
    Shape::new(
        template,
        "Husholdninger etter husholdningstype",
        serde_json::Value::Array(series),
    )
    .period(period)
    .scale("aleneboende")
    .output(aggregated)
}
