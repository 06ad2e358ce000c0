//! `befolkningsutvkl_forv_utvkl`: population development with births, deaths, migration
//! and the projection (`docs/functions/befolkningsutvkl_forv_utvkl.md`).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::functions_aggregate::expr_fn::{max, min, sum};
use datafusion::functions_window::expr_fn::lag;
use datafusion::logical_expr::ExprFunctionExt;
use datafusion::prelude::*;
use serde_json::json;

use crate::Period::History;
use crate::Result;
use crate::dataset_types;
use crate::document::{HistoryBlock, Template};
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape, names};
use bydelsfakta_udfs::geo::{
    BYDEL_ID, BYDEL_NAVN, DATE, DELBYDEL_ID, DELBYDEL_NAVN, KEYS, LEVEL, OSLO_ID, OSLO_NAME, ROW,
};
use bydelsfakta_udfs::plan::{
    Agg, age_columns, all_of, all_present, ascending, c, drop_missing, historic, null_str,
    population, rollup,
};
use bydelsfakta_udfs::{ensure, ratio, row_sum};

pub const FUNCTION: Function = Function {
    name: "befolkningsutvkl_forv_utvkl",
    inputs: &[
        ("population", "befolkning-etter-kjonn-og-alder"),
        ("dead", "dode"),
        ("born", "fodte"),
        ("immigration", "flytting-til-etter-alder"),
        ("emigration", "flytting-fra-etter-alder"),
        ("pop_extrapolation", "befolkningsframskrivninger"),
    ],
    types: dataset_types![
        "historisk" => "befolkningsutvikling-og-forventet-utvikling", History;
    ],
    plan,
};

/// The value columns of the history list, in key order.
const HISTORY: [&str; 6] = [
    "deaths",
    "births",
    "emigration",
    "immigration",
    "population",
    "change",
];

/// The history columns that are counts, cast to integers after the merge.
const COUNTS: [&str; 5] = [
    "deaths",
    "births",
    "emigration",
    "immigration",
    "population",
];

/// Sort keys: merged part before projection, then the source's own order.
const PART: &str = "__part";
const ORDER: &str = "__order";
const SEQUENCE: &str = "__sequence";

fn plan(inputs: &Inputs, _dataset_type: &DatasetType) -> Result<Output> {
    let [population_raw, dead, born, immigration, emigration]: [DataFrame; 5] = historic(vec![
        inputs.get("population")?,
        inputs.get("dead")?,
        inputs.get("born")?,
        inputs.get("immigration")?,
        inputs.get("emigration")?,
    ])?
    .try_into()
    .expect("five frames in, five out");

    // Population and its yearly change (pct_change per geography, in date order).
    let pop = rollup(
        population(drop_missing(population_raw)?, 0, 200)?,
        &[("population", Agg::Sum)],
        &[],
    )?;
    let previous = lag(c("population"), Some(1), None)
        .partition_by(
            [LEVEL]
                .into_iter()
                .chain(KEYS.into_iter().skip(1))
                .map(c)
                .collect(),
        )
        .order_by(vec![c(DATE).sort(true, false)])
        .build()?;
    let pop = pop
        .window(vec![previous.alias("__previous")])?
        .with_column(
            "change",
            ratio().call(vec![c("population"), c("__previous")]) - lit(1.0f64),
        )?;

    let counts = |df: DataFrame, column: &str| -> Result<DataFrame> {
        Ok(rollup(drop_missing(df)?, &[(column, Agg::Sum)], &[])?)
    };
    let sources = [
        source(
            pop,
            &[("population", "population"), ("change", "change")],
            0,
            c(LEVEL),
        )?,
        source(
            counts(dead, "antall_dode")?,
            &[("antall_dode", "deaths")],
            1,
            c(LEVEL),
        )?,
        source(
            counts(born, "antall_fodte")?,
            &[("antall_fodte", "births")],
            2,
            c(LEVEL),
        )?,
        source(
            migration(
                immigration,
                "innflytting_til_oslo",
                "innflytting_mellom_bydeler",
            )?,
            &[("migration", "immigration")],
            3,
            c(LEVEL),
        )?,
        source(
            migration(
                emigration,
                "utflytting_fra_oslo",
                "utflytting_mellom_bydeler",
            )?,
            &[("migration", "emigration")],
            4,
            c(LEVEL),
        )?,
    ];
    let union = sources
        .into_iter()
        .reduce(|a, b| a.union(b).expect("same columns"))
        .expect("five sources");
    // pandas' outer merge on the five keys (missing matches missing): one row per key, in
    // the order the keys first appear in population, deaths, births, ...
    let merged = union.aggregate(
        KEYS.iter().map(|k| c(k)).collect(),
        HISTORY
            .iter()
            .map(|h| max(c(h)).alias(*h))
            .chain([min(c(ORDER)).alias(ORDER)])
            .collect(),
    )?;
    // The five counts become nullable integers (`astype("Int64")`): a count read as float
    // is written as an integer, and one that is not a whole number fails the cast.
    let merged = merged
        .filter(all_of(COUNTS.iter().map(|h| whole_number(h))))?
        .select(
            KEYS.iter()
                .map(|k| c(k))
                .chain(HISTORY.iter().map(|h| {
                    if COUNTS.contains(h) {
                        cast(c(h), DataType::Int64).alias(*h)
                    } else {
                        c(h)
                    }
                }))
                .chain([
                    lit(ScalarValue::Float64(None)).alias("projection"),
                    lit(0i64).alias(PART),
                    c(ORDER),
                    lit(0i64).alias(SEQUENCE),
                ])
                .collect::<Vec<_>>(),
        )?;

    let frame = merged.union(projection(inputs.get("pop_extrapolation")?)?)?;
    Shape::new(
        Template::HistoryBlocks {
            blocks: vec![
                HistoryBlock {
                    columns: names(&HISTORY),
                    as_float: false,
                },
                HistoryBlock {
                    columns: names(&["projection"]),
                    as_float: true,
                },
            ],
        },
        "Befolkningsutvikling og fremskrivning",
        json!([
            {"heading": "Befolkningsutvikling", "subheading": ""},
            {"heading": "Befolkningsfremskrivning", "subheading": ""}
        ]),
    )
    .order(ascending(&[
        PART,
        ORDER,
        SEQUENCE,
        DATE,
        BYDEL_ID,
        BYDEL_NAVN,
        DELBYDEL_ID,
        DELBYDEL_NAVN,
    ]))
    .output(frame)
}

/// `ensure` that count column `name` holds a whole number (or nothing) in every row.
fn whole_number(name: &str) -> Expr {
    let value = cast(c(name), DataType::Float64);
    let message = concat(vec![
        lit(format!("befolkningsutvkl_forv_utvkl: {name} of ")),
        coalesce(vec![c(DELBYDEL_ID), c(BYDEL_ID), lit("?")]),
        lit(" in "),
        cast(c(DATE), DataType::Utf8),
        lit(" is "),
        cast(c(name), DataType::Utf8),
        lit(", not a whole number (the original's cast to integers fails)"),
    ]);
    ensure().call(vec![
        value
            .clone()
            .is_null()
            .or(value.clone().eq(trunc(vec![value]))),
        message,
    ])
}

/// One input of the outer merge in the merged layout: the keys, every history column (its
/// own ones filled), and its order key (`index` of the source, then `level`).
fn source(df: DataFrame, renames: &[(&str, &str)], index: i64, level: Expr) -> Result<DataFrame> {
    let columns: Vec<Expr> = KEYS
        .iter()
        .map(|k| c(k))
        .chain(
            HISTORY
                .iter()
                .map(|h| match renames.iter().find(|(_, to)| to == h) {
                    Some((from, to)) => c(from).alias(*to),
                    None if *h == "change" => lit(ScalarValue::Float64(None)).alias(*h),
                    None => lit(ScalarValue::Int64(None)).alias(*h),
                }),
        )
        .chain([(lit(index * 10) + level).alias(ORDER)])
        .collect();
    Ok(df.select(columns)?)
}

/// `process_migration`: per district and year, moves from outside Oslo plus moves between
/// districts, summed over age groups; Oslo is the sum over every district (moves between
/// districts included, as the original counts them). Oslo rows come first.
fn migration(df: DataFrame, from_outside: &str, between: &str) -> Result<DataFrame> {
    let keys = [DATE, BYDEL_ID, BYDEL_NAVN];
    let complete = all_present(&keys);
    let districts = df
        .filter(complete)?
        .aggregate(
            keys.iter().map(|k| c(k)).collect(),
            vec![
                sum(c(from_outside)).alias(from_outside),
                sum(c(between)).alias(between),
            ],
        )?
        .with_column("migration", c(from_outside) + c(between))?;
    let oslo = districts
        .clone()
        .aggregate(vec![c(DATE)], vec![sum(c("migration")).alias("migration")])?;
    let layout = |df: DataFrame, id: Expr, name: Expr, level: i64| {
        df.select(vec![
            c(DATE),
            id.alias(BYDEL_ID),
            name.alias(BYDEL_NAVN),
            null_str().alias(DELBYDEL_ID),
            null_str().alias(DELBYDEL_NAVN),
            c("migration"),
            lit(level).alias(LEVEL),
        ])
    };
    Ok(layout(oslo, lit(OSLO_ID), lit(OSLO_NAME), 0)?.union(layout(
        districts,
        c(BYDEL_ID),
        c(BYDEL_NAVN),
        1,
    )?)?)
}

/// `process_pop_extrapolation`: one row per input row with the projected population (sum
/// of the age columns), then Oslo per year. Not restricted to the common years.
fn projection(df: DataFrame) -> Result<DataFrame> {
    let ages = age_columns(df.schema());
    let districts = df.with_column(
        "projection",
        row_sum().call(ages.iter().map(|a| c(a)).collect()),
    )?;
    let oslo = districts.clone().aggregate(
        vec![c(DATE)],
        vec![sum(c("projection")).alias("projection")],
    )?;
    let layout = |df: DataFrame, id: Expr, name: Expr, order: i64, sequence: Expr| {
        df.select(
            [
                c(DATE),
                id.alias(BYDEL_ID),
                name.alias(BYDEL_NAVN),
                null_str().alias(DELBYDEL_ID),
                null_str().alias(DELBYDEL_NAVN),
            ]
            .into_iter()
            .chain(HISTORY.iter().map(|h| {
                let null = if *h == "change" {
                    ScalarValue::Float64(None)
                } else {
                    ScalarValue::Int64(None)
                };
                lit(null).alias(*h)
            }))
            .chain([
                cast(c("projection"), DataType::Float64).alias("projection"),
                lit(1i64).alias(PART),
                lit(order).alias(ORDER),
                sequence.alias(SEQUENCE),
            ])
            .collect::<Vec<_>>(),
        )
    };
    Ok(
        layout(districts, c(BYDEL_ID), c(BYDEL_NAVN), 0, c(ROW))?.union(layout(
            oslo,
            lit(OSLO_ID),
            lit(OSLO_NAME),
            1,
            c(DATE),
        )?)?,
    )
}
