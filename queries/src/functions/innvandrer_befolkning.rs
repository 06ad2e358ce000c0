//! `innvandrer_befolkning`: immigrant population by length of residence
//! (`docs/functions/innvandrer_befolkning.md`).

use datafusion::common::JoinType;
use datafusion::functions_aggregate::expr_fn::{bool_or, sum};
use datafusion::prelude::*;
use serde_json::json;

use crate::Period::{History, Status};
use crate::Result;
use crate::dataset_types;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::Member::{self, All, One};
use crate::output::{Family, Output, Single};
use bydelsfakta_udfs::geo::{BYDEL_ID, DATE, DELBYDEL_ID, KEYS};
use bydelsfakta_udfs::plan::{
    Agg, add_ratios, age_columns, all_of, c, guarded, historic, rollup, status, with_columns,
};
use bydelsfakta_udfs::row_sum;

pub const FUNCTION: Function = Function {
    name: "innvandrer_befolkning",
    inputs: &[
        ("livage", "botid"),
        ("population_df", "befolkning-etter-kjonn-og-alder"),
    ],
    types: dataset_types![
        "alle_status" => "innvandring-befolkning-alle-status", All(Status);
        "alle_historisk" => "innvandring-befolkning-alle-historisk", All(History);
        "kort_status" => "innvandring-befolkning-kort-status", One(SHORT, Status);
        "kort_historisk" => "innvandring-befolkning-kort-historisk", One(SHORT, History);
        "lang_status" => "innvandring-befolkning-lang-status", One(LONG, Status);
        "lang_historisk" => "innvandring-befolkning-lang-historisk", One(LONG, History);
        "to_foreldre_status" => "innvandring-befolkning-to-foreldre-status", One(TWO_PARENTS, Status);
        "to_foreldre_historisk" => "innvandring-befolkning-to-foreldre-historisk", One(TWO_PARENTS, History);
    ],
    plan,
};

/// The categories the single types draw.
const SHORT: Single = Single::of("short", "Innvandrer med kort botid (<=5 år)");
const LONG: Single = Single::of("long", "Innvandrer med lang botid (>5 år)");
const TWO_PARENTS: Single = Single::of("two_parents", "Norskfødt med innvandrerforeldre");

const CATEGORIES: [(&str, &str); 3] = [
    ("Innvandrer, kort botid (<=5 år)", "short"),
    ("Innvandrer, lang botid (>5 år)", "long"),
    ("Øvrige befolkning", "two_parents"),
];

/// `df`, or the original's KeyError: each residence category occurs in a row of the status
/// frame the pivot keeps (all keys present).
fn categories_present(df: DataFrame, livage: DataFrame) -> Result<DataFrame> {
    let found = |i: usize| format!("__found_{i}");
    let check = livage.filter(complete_keys())?.aggregate(
        vec![],
        CATEGORIES
            .iter()
            .enumerate()
            .map(|(i, (label, _))| {
                coalesce(vec![bool_or(c("botid").eq(lit(*label))), lit(false)]).alias(found(i))
            })
            .collect(),
    )?;
    let all_found = all_of((0..CATEGORIES.len()).map(|i| c(&found(i))));
    let missing = concat_ws(
        lit("', '"),
        CATEGORIES
            .iter()
            .enumerate()
            .map(|(i, (label, _))| when(not(c(&found(i))), lit(*label)).end())
            .collect::<datafusion::error::Result<Vec<_>>>()?,
    );
    let message = concat(vec![
        lit("input botid: no row of the latest year both inputs share has botid '"),
        missing,
        lit("'"),
    ]);
    Ok(guarded(df, check, all_found, message)?)
}

/// The rows pandas' groupby keeps: every key and the category present.
fn complete_keys() -> Expr {
    all_of(
        KEYS.iter()
            .chain(["botid"].iter())
            .map(|k| c(k).is_not_null()),
    )
}

/// The original's `generate`: persons per residence category (immigrants plus Norwegian-born
/// to immigrant parents) as shares of the whole population, at the three levels.
fn generate(livage: DataFrame, population: DataFrame) -> Result<DataFrame> {
    let population = population.aggregate(
        vec![
            c(DATE).alias("__p_date"),
            c(BYDEL_ID).alias("__p_bydel_id"),
            c(DELBYDEL_ID).alias("__p_delbydel_id"),
        ],
        vec![sum(c("total")).alias("total")],
    )?;
    // Group by geography and category, then pivot the categories into columns; a
    // category a geography lacks counts as 0 (pandas' pivot_table then sum).
    let persons = c("innvandrer") + c("norskfodt_med_innvandrerforeldre");
    let pivoted = livage.filter(complete_keys())?.aggregate(
        KEYS.iter().map(|k| c(k)).collect(),
        CATEGORIES
            .iter()
            .map(|(label, name)| {
                Ok(
                    sum(when(c("botid").eq(lit(*label)), persons.clone()).otherwise(lit(0i64))?)
                        .alias(*name),
                )
            })
            .collect::<datafusion::error::Result<Vec<_>>>()?,
    )?;
    let merged = pivoted.join(
        population,
        JoinType::Inner,
        &[DATE, DELBYDEL_ID, BYDEL_ID],
        &["__p_date", "__p_delbydel_id", "__p_bydel_id"],
        None,
    )?;
    let rolled = rollup(
        merged,
        &[
            ("two_parents", Agg::Sum),
            ("short", Agg::Sum),
            ("long", Agg::Sum),
            ("total", Agg::Sum),
        ],
        &[],
    )?
    .with_column("total_cat", c("two_parents") + c("short") + c("long"))?;
    Ok(add_ratios(
        rolled,
        &["two_parents", "short", "long", "total_cat"],
        &["total"],
    )?)
}

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    let member: &Member = dataset_type.variant()?;
    let is_status = member.period().is_status();
    // The types of one period draw the same frame.
    let period = if is_status { "status" } else { "historic" };
    let df = inputs.common(period, || generated(inputs, is_status))?;

    Family {
        categories: &["short", "long", "two_parents"],
        total: "total_cat",
        heading: "Innvandring befolkning",
        meta_series: json!([
            {"heading": "Innvandrer", "subheading": "kort botid (<=5 år)"},
            {"heading": "Innvandrer", "subheading": "lang botid (>5 år)"},
            {"heading": "Norskfødt", "subheading": "med innvandrerforeldre"}
        ]),
        // The inputs were already restricted to the status or historic years.
        filter_status: false,
    }
    .shape(member)
    .output(df)
}

/// The frame the types of one period draw: the inputs' sub-district rows in the status or
/// the historic years, generated and checked as the original does.
fn generated(inputs: &Inputs, is_status: bool) -> Result<DataFrame> {
    let livage = inputs.get("livage")?.filter(c(DELBYDEL_ID).is_not_null())?;
    let population = inputs
        .get("population_df")?
        .filter(c(DELBYDEL_ID).is_not_null())?;
    // `total`: every age column from "0" to the last one.
    let ages = age_columns(population.schema());
    let total = row_sum().call(
        ages.iter()
            .skip_while(|a| *a != "0")
            .map(|a| c(a))
            .collect(),
    );
    let population = with_columns(population, vec![("total".into(), total)])?;
    let frames = vec![livage, population];
    // The original runs `generate` on the status frames for every type, so its failures
    // there fail every run: no shared year, or a residence category the latest shared year
    // lacks (the pivot has no column for it: KeyError). Those years are a subset of the
    // historic ones, so a category present there is present in the historic frames too.
    let [status_livage, status_population]: [DataFrame; 2] =
        status(frames.clone())?.try_into().expect("two frames");
    let [livage, population]: [DataFrame; 2] = if is_status {
        vec![status_livage.clone(), status_population]
    } else {
        historic(frames)?
    }
    .try_into()
    .expect("two frames");
    categories_present(generate(livage, population)?, status_livage)
}
