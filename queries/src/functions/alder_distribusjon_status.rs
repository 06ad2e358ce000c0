//! `alder_distribusjon_status`: age distribution by gender at the latest year
//! (`docs/functions/alder_distribusjon_status.md`).

use datafusion::prelude::*;
use serde_json::json;

use crate::Period::Status;
use crate::Result;
use crate::dataset_types;
use crate::document::Template;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape};
use bydelsfakta_udfs::geo::{KEYS, ROW};
use bydelsfakta_udfs::plan::{Agg, age_columns, c, rollup, rollup_order, status};
use bydelsfakta_udfs::row_sum;

pub const FUNCTION: Function = Function {
    name: "alder_distribusjon_status",
    inputs: &[("df", "befolkning-etter-kjonn-og-alder")],
    // The original ignores the type; "status" is the one its pipeline sends (docs/deviations.md D3).
    types: dataset_types![
        "status" => "alder-distribusjon-status", Status;
    ],
    plan,
};

fn plan(inputs: &Inputs, _dataset_type: &DatasetType) -> Result<Output> {
    let df = status(vec![inputs.get("df")?])?.remove(0);
    let ages = age_columns(df.schema());
    let labels: Vec<String> = (0..=120).map(|a| a.to_string()).collect();
    let in_total: Vec<Expr> = ages
        .iter()
        .skip_while(|a| *a != "0")
        .take_while(|a| a.parse::<u32>().is_ok_and(|a| a <= 120))
        .map(|a| c(a))
        .collect();
    let df = df.with_column("total", row_sum().call(in_total))?;
    // "sum" aggregates every numeric column that is not a key.
    let numeric: Vec<String> = df
        .schema()
        .fields()
        .iter()
        .filter(|f| f.data_type().is_numeric())
        .map(|f| f.name().clone())
        .filter(|name| !KEYS.contains(&name.as_str()) && name != "kjonn" && name != ROW)
        .collect();
    let summed: Vec<(&str, Agg)> = numeric.iter().map(|n| (n.as_str(), Agg::Sum)).collect();
    let frame = rollup(df, &summed, &["kjonn"])?;
    Shape::new(
        Template::AgeByGender { ages: labels },
        "Aldersdistribusjon fordelt på kjønn",
        json!([{"heading": "Aldersdistribusjon fordelt på kjønn", "subheading": ""}]),
    )
    .order(rollup_order(&["kjonn"]))
    .output(frame)
}
