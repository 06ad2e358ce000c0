//! `levekar_ikke_sysselsatte`: non-employed persons aged 30-59
//! (`docs/functions/levekar_ikke_sysselsatte.md`). The steps are shared with `levekar_totalt`, which
//! matches the years the other way round.

use datafusion::common::JoinType;
use datafusion::prelude::*;
use serde_json::json;

use crate::Period::{self, History, Status};
use crate::Result;
use crate::dataset_types;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape};
use bydelsfakta_udfs::geo::{DATE, DELBYDEL_ID};
use bydelsfakta_udfs::plan::{Agg, add_ratios, c, population, rollup, without_pseudo_districts};

pub const FUNCTION: Function = Function {
    name: "levekar_ikke_sysselsatte",
    inputs: &[
        ("sysselsatte_raw", "sysselsatte"),
        ("befolkning_raw", "befolkning-etter-kjonn-og-alder"),
    ],
    types: dataset_types![
        "status" => "levekar-ikke-sysselsatte-status", Status;
        "historisk" => "levekar-ikke-sysselsatte-historisk", History;
    ],
    plan,
};

pub const VALUE: &str = "antall_ikke_sysselsatte";

/// Which year a row carries: population on 1 January of Y goes with employment in Q4 of
/// Y-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YearOf {
    /// The employment year (this function: population date - 1).
    Employment,
    /// The population year (levekar_totalt: employment date + 1).
    Population,
}

/// `population - antall_sysselsatte` at the three levels with its ratio to the population;
/// pseudo districts are left out before aggregating, so Oslo excludes them.
pub fn non_employed(
    sysselsatte: DataFrame,
    befolkning: DataFrame,
    year_of: YearOf,
) -> Result<DataFrame> {
    let mut befolkning = population(befolkning, 30, 59)?;
    let mut sysselsatte = sysselsatte;
    match year_of {
        YearOf::Employment => befolkning = befolkning.with_column(DATE, c(DATE) - lit(1i64))?,
        YearOf::Population => sysselsatte = sysselsatte.with_column(DATE, c(DATE) + lit(1i64))?,
    }
    let befolkning = befolkning.select(vec![
        c(DATE).alias("__b_date"),
        c(DELBYDEL_ID).alias("__b_delbydel_id"),
        c("population"),
    ])?;
    let sub_districts = befolkning
        .clone()
        .select(vec![c("__b_delbydel_id").alias("__s_delbydel_id")])?;
    let sysselsatte = sysselsatte.join(
        sub_districts,
        JoinType::LeftSemi,
        &[DELBYDEL_ID],
        &["__s_delbydel_id"],
        None,
    )?;
    let merged = sysselsatte.join(
        befolkning,
        JoinType::Inner,
        &[DATE, DELBYDEL_ID],
        &["__b_date", "__b_delbydel_id"],
        None,
    )?;
    let merged = without_pseudo_districts(merged)?
        .with_column(VALUE, c("population") - c("antall_sysselsatte"))?;
    let rolled = rollup(merged, &[("population", Agg::Sum), (VALUE, Agg::Sum)], &[])?;
    Ok(add_ratios(rolled, &[VALUE], &["population"])?)
}

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    let df = non_employed(
        inputs.get("sysselsatte_raw")?,
        inputs.get("befolkning_raw")?,
        YearOf::Employment,
    )?;
    Shape::one_series(
        VALUE,
        *dataset_type.variant::<Period>()?,
        "Antall ikke-sysselsatte personer mellom 30-59 år",
        json!([{"heading": "Ikke sysselsatte", "subheading": ""}]),
    )
    .output(df)
}
