//! `trangboddhet`: households by rooms per person (`docs/functions/trangboddhet.md`).

use datafusion::prelude::*;
use serde_json::json;

use crate::Period::{History, Status};
use crate::Result;
use crate::dataset_types;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::Member::{self, All, One};
use crate::output::{Output, Shape, flat, per_series};
use bydelsfakta_udfs::geo::{BYDEL_ID, OSLO_ID};
use bydelsfakta_udfs::plan::{Agg, add_ratios, c, rollup};

pub const FUNCTION: Function = Function {
    name: "trangboddhet",
    inputs: &[("df", "husholdninger-etter-rom-per-person")],
    types: dataset_types![
        "alle_status" => "trangboddhet-alle-status", All(Status);
        "alle_historisk" => "trangboddhet-alle-historisk", All(History);
        "under-0-5_status" => "trangboddhet-under-0-5-status", One(singles::UNDER_0_5_STATUS, Status);
        "under-0-5_historisk" => "trangboddhet-under-0-5-historisk", One(singles::UNDER_0_5_HISTORY, History);
        "0-5-0-9_status" => "trangboddhet-0-5-0-9-status", One(singles::FROM_0_5_TO_0_9, Status);
        "0-5-0-9_historisk" => "trangboddhet-0-5-0-9-historisk", One(singles::FROM_0_5_TO_0_9, History);
        "1-0-1-9_status" => "trangboddhet-1-0-1-9-status", One(singles::FROM_1_0_TO_1_9_STATUS, Status);
        "1-0-1-9_historisk" => "trangboddhet-1-0-1-9-historisk", One(singles::FROM_1_0_TO_1_9_HISTORY, History);
        "over-2_status" => "trangboddhet-over-2-status", One(singles::OVER_2, Status);
        "over-2_historisk" => "trangboddhet-over-2-historisk", One(singles::OVER_2, History);
    ],
    plan,
};

const UNDER_0_5: &str = "rom_per_person_under_0_5";
const FROM_0_5_TO_0_9: &str = "rom_per_person_0_5_til_0_9";
const FROM_1_0_TO_1_9: &str = "rom_per_person_1_0_til_1_9";
const OVER_2: &str = "rom_per_person_2_0_og_over";
const VALUE_POINTS: [&str; 4] = [UNDER_0_5, FROM_0_5_TO_0_9, FROM_1_0_TO_1_9, OVER_2];

/// The single types; two headings differ between the periods (typos and all, as the
/// original wrote them).
mod singles {
    use crate::output::Single;

    pub const UNDER_0_5_STATUS: Single = Single::of(super::UNDER_0_5, "Under 0,5 rom per preson");
    pub const UNDER_0_5_HISTORY: Single =
        Single::of(super::UNDER_0_5, "Personer per rom - under 0.5");
    pub const FROM_0_5_TO_0_9: Single =
        Single::of(super::FROM_0_5_TO_0_9, "0,5–0,9 rom per person");
    pub const FROM_1_0_TO_1_9_STATUS: Single =
        Single::of(super::FROM_1_0_TO_1_9, "1,0–1,9 rom per person");
    pub const FROM_1_0_TO_1_9_HISTORY: Single =
        Single::of(super::FROM_1_0_TO_1_9, "Personer per rom - 1,5 - 1,9");
    pub const OVER_2: Single = Single::of(super::OVER_2, "2 rom eller flere per person");
}

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    let aggregated = inputs.common("aggregated", || {
        let df = inputs
            .get("df")?
            .filter(c(BYDEL_ID).is_null().or(c(BYDEL_ID).not_eq(lit(OSLO_ID))))?;
        let summed: Vec<(&str, Agg)> = VALUE_POINTS
            .iter()
            .chain(["rom_per_person_i_alt"].iter())
            .map(|c| (*c, Agg::Sum))
            .collect();
        Ok(add_ratios(
            rollup(df, &summed, &[])?,
            &VALUE_POINTS,
            &VALUE_POINTS,
        )?)
    })?;

    let all_series = json!([
        {"heading": "Under 0,5 rom per person", "subheading": ""},
        {"heading": "0,5–0,9 rom per person", "subheading": ""},
        {"heading": "1,0–1,9 rom per person", "subheading": ""},
        {"heading": "2 rom eller flere per person", "subheading": ""}
    ]);
    // Not a `Family`: the categories' historic documents have no total and no heading.
    let shape = match *dataset_type.variant::<Member>()? {
        All(Status) => Shape::new(
            flat(&VALUE_POINTS),
            "Husstander fordelt på personer per rom",
            all_series,
        )
        .period(Status),
        All(History) => Shape::new(per_series(&VALUE_POINTS), "", all_series),
        One(single, period) => Shape::one_series(single.column, period, single.heading, json!([])),
    };
    shape.output(aggregated)
}
