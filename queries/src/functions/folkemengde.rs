//! `folkemengde`: population, yearly and 10-year change, key numbers
//! (`docs/functions/folkemengde.md`; docs/deviations.md D5).

use datafusion::arrow::datatypes::DataType;
use datafusion::functions::string::expr_fn::concat;
use datafusion::functions_aggregate::expr_fn::{array_agg, count, max};
use datafusion::functions_window::expr_fn::lag;
use datafusion::logical_expr::ExprFunctionExt;
use datafusion::prelude::*;
use serde_json::json;

use crate::Result;
use crate::dataset_types;
use crate::document::Template;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape, flat, names};
use bydelsfakta_udfs::geo::{BYDEL_ID, BYDEL_NAVN, DATE, DELBYDEL_ID, DELBYDEL_NAVN};
use bydelsfakta_udfs::plan::{Agg, c, cross_join, population, require_any, rollup};
use bydelsfakta_udfs::{ensure, ratio};

pub const FUNCTION: Function = Function {
    name: "folkemengde",
    inputs: &[("df", "befolkning-etter-kjonn-og-alder")],
    types: dataset_types![
        "historisk" => "folkemengde-utvikling-historisk", Drawn::Population;
        "historisk-prosent" => "folkemengde-utvikling-historisk-prosent", Drawn::Change;
        "nokkeltall" => "nokkeltall-om-befolkningen", Drawn::KeyNumbers;
    ],
    plan,
};

/// What each type draws from the same frame.
#[derive(Debug, Clone, Copy)]
enum Drawn {
    /// The population, every year.
    Population,
    /// The change from the year before, where there is one.
    Change,
    /// The latest year's key numbers with ten years of history.
    KeyNumbers,
}

/// Sub-districts are the original's `groupby(delbydel_id)`, in frame (date) order.
fn previous_in_sub_district(expr: Expr) -> Result<Expr> {
    Ok(lag(expr, Some(1), None)
        .partition_by(vec![c(DELBYDEL_ID)])
        .order_by(vec![
            c(DATE).sort(true, false),
            c(DELBYDEL_NAVN).sort(true, false),
            c(BYDEL_ID).sort(true, false),
            c(BYDEL_NAVN).sort(true, false),
        ])
        .build()?)
}

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    let frame = inputs.common("changes", || population_changes(inputs))?;
    // Oslo (00) first, then per district its sub-districts and its own rows.
    let order = vec![
        c(BYDEL_ID).sort(true, false),
        c(DELBYDEL_ID).sort(true, false),
        c(DATE).sort(true, false),
    ];

    let (shape, frame) = match dataset_type.variant::<Drawn>()? {
        Drawn::Population => (
            Shape::new(
                flat(&["population"]),
                "Folkemengde utvikling historisk",
                json!([]),
            ),
            frame,
        ),
        Drawn::Change => (
            Shape::new(
                flat(&["change"]),
                "Folkemengde utvikling historisk prosent",
                json!([]),
            ),
            frame.filter(
                c("change")
                    .is_not_null()
                    .and(c("change_ratio").is_not_null())
                    .and(not(datafusion::functions::math::expr_fn::isnan(c(
                        "change_ratio",
                    )))),
            )?,
        ),
        Drawn::KeyNumbers => (
            Shape::new(
                Template::KeyNumbers {
                    series: names(&["population", "change", "change_10y"]),
                    history: "history".into(),
                },
                "Nøkkeltall om befolkningen",
                json!([
                    {"heading": "Folkemengde", "subheading": "(totalt)"},
                    {"heading": "Utvikling siste år", "subheading": false},
                    {"heading": "Utvikling siste 10 år", "subheading": false}
                ]),
            ),
            key_numbers(frame)?,
        ),
    };
    shape.order(order).output(frame)
}

/// The rolled-up population with its yearly and ten-year changes, which every type draws.
fn population_changes(inputs: &Inputs) -> Result<DataFrame> {
    let pop = population(inputs.get("df")?, 0, 200)?;

    // change: population minus the previous available year of the sub-district.
    let pop = pop
        .window(vec![
            previous_in_sub_district(c("population"))?.alias("__previous"),
        ])?
        .with_column(
            "change",
            cast(c("population") - c("__previous"), DataType::Float64),
        )?;

    // change_10y at the latest year: population minus population ten years before.
    let latest = pop
        .clone()
        .aggregate(vec![], vec![max(c(DATE)).alias("__latest")])?;
    let pop = cross_join(pop, latest)?;
    let missing_year = concat(vec![
        lit("Dataset does not contain 10 year before "),
        cast(c("__latest"), DataType::Utf8),
        lit(": "),
        cast(c("__latest") - lit(10i64), DataType::Utf8),
    ]);
    let pop = require_any(pop, c(DATE).eq(c("__latest") - lit(10i64)), missing_year)?;
    let ten = pop
        .clone()
        .filter(
            c(DATE)
                .eq(c("__latest"))
                .or(c(DATE).eq(c("__latest") - lit(10i64))),
        )?
        .window(vec![
            previous_in_sub_district(c("population"))?.alias("__ten_before"),
        ])?
        .filter(c(DATE).eq(c("__latest")))?
        .select(vec![
            c(DATE).alias("__t_date"),
            c(BYDEL_ID).alias("__t_bydel_id"),
            c(DELBYDEL_ID).alias("__t_delbydel_id"),
            cast(c("population") - c("__ten_before"), DataType::Float64).alias("change_10y"),
        ])?;
    let pop = pop
        .join(
            ten,
            datafusion::common::JoinType::Left,
            &[DATE, BYDEL_ID, DELBYDEL_ID],
            &["__t_date", "__t_bydel_id", "__t_delbydel_id"],
            None,
        )?
        .select(vec![
            c(DATE),
            c(BYDEL_ID),
            c(BYDEL_NAVN),
            c(DELBYDEL_ID),
            c(DELBYDEL_NAVN),
            c("population"),
            c("change"),
            c("change_10y"),
        ])?;

    let rolled = rollup(
        pop,
        &[
            ("population", Agg::Sum),
            ("change", Agg::SumNans),
            ("change_10y", Agg::SumNans),
        ],
        &[],
    )?;
    // D5: the previous available year of the same geography (the original divides by the
    // row before in the whole sorted table, the same thing whenever the data is complete).
    let previous_population = lag(c("population"), Some(1), None)
        .partition_by(vec![c(BYDEL_ID), c(DELBYDEL_ID)])
        .order_by(vec![c(DATE).sort(true, false)])
        .build()?;
    let frame = rolled
        .window(vec![previous_population.alias("__previous_population")])?
        .with_column(
            "change_ratio",
            ratio().call(vec![c("change"), c("__previous_population")]),
        )?;
    Ok(frame)
}

/// One row per geography at the latest year, with the population of the last ten years as
/// a list. A geography that lacks one of those years fails the run, as the original's NaN
/// in the history (or `.item()` on a missing latest year) did.
fn key_numbers(frame: DataFrame) -> Result<DataFrame> {
    let latest = frame
        .clone()
        .aggregate(vec![], vec![max(c(DATE)).alias("__latest")])?;
    let frame = cross_join(frame, latest)?;
    let geography = [c(BYDEL_ID), coalesce_sub(c(DELBYDEL_ID))];
    let history = frame
        .clone()
        .filter(c(DATE).gt(c("__latest") - lit(10i64)))?
        .aggregate(
            vec![
                geography[0].clone().alias("__h_bydel_id"),
                geography[1].clone().alias("__h_delbydel_id"),
            ],
            vec![
                array_agg(c("population"))
                    .order_by(vec![c(DATE).sort(true, false)])
                    .build()?
                    .alias("history"),
                count(c(DATE)).alias("__years"),
                max(c("__latest")).alias("__h_latest"),
            ],
        )?;
    let complete = ensure().call(vec![
        c("__years").eq(lit(10i64)),
        concat(vec![
            lit("nokkeltall: geography "),
            c("__h_bydel_id"),
            lit("/"),
            c("__h_delbydel_id"),
            lit(" lacks years between "),
            cast(c("__h_latest") - lit(9i64), DataType::Utf8),
            lit(" and "),
            cast(c("__h_latest"), DataType::Utf8),
        ]),
    ]);
    let history = history.filter(complete)?;
    let status = frame
        .filter(c(DATE).eq(c("__latest")))?
        .with_column("__s_delbydel_id", coalesce_sub(c(DELBYDEL_ID)))?;
    Ok(status.join(
        history,
        datafusion::common::JoinType::Left,
        &[BYDEL_ID, "__s_delbydel_id"],
        &["__h_bydel_id", "__h_delbydel_id"],
        None,
    )?)
}

/// The original replaces a missing sub-district with `#` to pivot on it.
fn coalesce_sub(expr: Expr) -> Expr {
    datafusion::functions::expr_fn::coalesce(vec![expr, lit("#")])
}
