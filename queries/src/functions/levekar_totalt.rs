//! `levekar_totalt`: eight living-conditions indicators, each as the ratio of its rate to
//! the district's and to Oslo's rate (`docs/functions/levekar_totalt.md`).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::JoinType;
use datafusion::functions::string::expr_fn::concat;
use datafusion::functions_aggregate::expr_fn::first_value;
use datafusion::prelude::*;
use serde_json::json;

use super::botid_ikke_vestlige::short_residence_ratio;
use super::levekar_ikke_sysselsatte::{YearOf, non_employed};
use super::levekar_lav_utdanning::low_education;
use crate::Period::Status;
use crate::Result;
use crate::dataset_types;
use crate::document::Template;
use crate::function::{DatasetType, Function, Inputs};
use crate::output::{Output, Shape, names};
use bydelsfakta_udfs::geo::{BYDEL_ID, DATE, DELBYDEL_ID, KEYS, OSLO_ID, ROW};
use bydelsfakta_udfs::plan::{
    Agg, ascending, c, merge, population, prefixed, rollup, share, without_pseudo_districts,
};
use bydelsfakta_udfs::{ratio, required};

pub const FUNCTION: Function = Function {
    name: "levekar_totalt",
    inputs: &[
        ("redusert_funksjonsevne_raw", "redusert-funksjonsevne"),
        ("botid_ikke_vestlige_raw", "botid-ikke-vestlige"),
        ("lav_utdanning_raw", "lav-utdanning"),
        ("fattige_husholdninger_raw", "fattige-husholdninger"),
        ("sysselsatte_raw", "sysselsatte"),
        ("befolkning_raw", "befolkning-etter-kjonn-og-alder"),
        ("ikke_fullfort_vgs_raw", "ikke-fullfort-vgs"),
        ("dodsrater_raw", "dodsrater"),
        ("trangbodde_raw", "trangbodde"),
    ],
    types: dataset_types![
        "status" => "levekar-totalt-status", Status;
    ],
    plan,
};

const INDICATORS: [&str; 8] = [
    "antall_redusert_funksjonsevne",
    "ikke_vestlig_kort",
    "lav_utdanning",
    "antall_fattige_barnehusholdninger",
    "antall_ikke_sysselsatte",
    "ikke_fullfort_vgs",
    "dodsrate",
    "antall_trangbodde",
];

/// A percentage column as a share: `percent / 100`.
fn percent_share(df: DataFrame, percent: &str, indicator: &str) -> Result<DataFrame> {
    Ok(df.with_column(
        &format!("{indicator}_ratio"),
        ratio().call(vec![c(percent), lit(100.0f64)]),
    )?)
}

fn plan(inputs: &Inputs, dataset_type: &DatasetType) -> Result<Output> {
    let befolkning = inputs.get("befolkning_raw")?;
    let population_all_levels = rollup(
        population(befolkning.clone(), 0, 200)?,
        &[("population", Agg::Sum)],
        &[],
    )?;
    let trangbodde = merge(
        inputs.get("trangbodde_raw")?,
        population_all_levels.select(vec![
            c(BYDEL_ID).alias("__p_bydel_id"),
            c(DATE).alias("__p_date"),
            c(DELBYDEL_ID).alias("__p_delbydel_id"),
        ])?,
        JoinType::Inner,
        &[BYDEL_ID, DATE, DELBYDEL_ID],
        &["__p_bydel_id", "__p_date", "__p_delbydel_id"],
    )?;
    let rates = [
        percent_share(
            inputs.get("redusert_funksjonsevne_raw")?,
            "andel_personer_med_redusert_funksjonsevne",
            INDICATORS[0],
        )?,
        short_residence_ratio(inputs.get("botid_ikke_vestlige_raw")?, befolkning.clone())?,
        low_education(inputs.get("lav_utdanning_raw")?)?,
        percent_share(
            inputs.get("fattige_husholdninger_raw")?,
            "husholdninger_med_barn_under_18_aar_eu_skala_andel",
            INDICATORS[3],
        )?,
        non_employed(
            inputs.get("sysselsatte_raw")?,
            befolkning,
            YearOf::Population,
        )?,
        percent_share(
            inputs.get("ikke_fullfort_vgs_raw")?,
            "andelen_som_ikke_har_fullfort_i_lopet_av_5_aar",
            INDICATORS[5],
        )?,
        percent_share(inputs.get("dodsrater_raw")?, "dodsrate", INDICATORS[6])?,
        percent_share(trangbodde, "andel_som_bor_trangt", INDICATORS[7])?,
    ];

    // The first indicator (pre-aggregated, in file order) decides the row order, as the
    // left side of every merge.
    let mut merged: Option<DataFrame> = None;
    for (i, (rate, indicator)) in rates.into_iter().zip(INDICATORS).enumerate() {
        let relative = relative_ratio(rate, indicator, i == 0)?;
        merged = Some(match merged {
            None => relative,
            Some(left) => {
                let prefix = format!("__m{i}_");
                let right_keys: Vec<String> = KEYS.iter().map(|k| format!("{prefix}{k}")).collect();
                let right_keys: Vec<&str> = right_keys.iter().map(String::as_str).collect();
                let mut keep: Vec<Expr> =
                    left.schema().fields().iter().map(|f| c(f.name())).collect();
                for suffix in ["district", "oslo"] {
                    let column = format!("{indicator}_ratio_{suffix}");
                    keep.push(c(&format!("{prefix}{column}")).alias(column));
                }
                merge(
                    left,
                    prefixed(relative, &prefix)?,
                    JoinType::Inner,
                    &KEYS,
                    &right_keys,
                )?
                .select(keep)?
            }
        });
    }
    let frame = merged.expect("eight indicators");
    Shape::new(
        Template::DistrictAndOslo {
            series: names(&INDICATORS),
        },
        "Personer fra 16 til 66 år med redusert funksjonsevne",
        json!([
            {"heading": "Redusert funksjonsevne", "subheading": ""},
            {"heading": "Innvandrere fra Afrika, Asia mv. med kort botid", "subheading": ""},
            {"heading": "Lav utdanning", "subheading": ""},
            {"heading": "Lavinntektshusholdninger med barn", "subheading": ""},
            {"heading": "Ikke sysselsatte", "subheading": ""},
            {"heading": "Ikke fullført vgs", "subheading": ""},
            {"heading": "Dødelighet", "subheading": ""},
            {"heading": "Trangbodde", "subheading": ""}
        ]),
    )
    .period(*dataset_type.variant()?)
    .order(ascending(&[DATE, BYDEL_ID, ROW]))
    .output(frame)
}

/// `add_relative_ratio`: each row's rate divided by its district's own rate and by Oslo's
/// rate in the same year (pseudo districts left out). A district or Oslo without a rate
/// that year fails the run, as the original's lookup did.
fn relative_ratio(df: DataFrame, indicator: &str, keep_row_order: bool) -> Result<DataFrame> {
    let rate = format!("{indicator}_ratio");
    // Read three times below (the rows, the district rates, Oslo's): computed once.
    let df = share(
        without_pseudo_districts(df)?
            .filter(c(DATE).is_not_null().and(c(BYDEL_ID).is_not_null()))?,
    )?;
    let order = if df.schema().has_column_with_unqualified_name(ROW) {
        vec![c(ROW).sort(true, false)]
    } else {
        vec![]
    };
    let district_rate = df.clone().filter(c(DELBYDEL_ID).is_null())?.aggregate(
        vec![c(DATE).alias("__d_date"), c(BYDEL_ID).alias("__d_bydel_id")],
        vec![first_value(c(&rate), order.clone()).alias("__district_rate")],
    )?;
    let oslo_rate = df.clone().filter(c(BYDEL_ID).eq(lit(OSLO_ID)))?.aggregate(
        vec![c(DATE).alias("__o_date")],
        vec![first_value(c(&rate), order).alias("__oslo_rate")],
    )?;
    let joined = df
        .join(
            district_rate,
            JoinType::Left,
            &[DATE, BYDEL_ID],
            &["__d_date", "__d_bydel_id"],
            None,
        )?
        .join(oslo_rate, JoinType::Left, &[DATE], &["__o_date"], None)?;
    let missing = |what: &str| {
        concat(vec![
            lit(format!(
                "levekar_totalt: indicator {indicator} has no {what} rate for district "
            )),
            c(BYDEL_ID),
            lit(" in "),
            cast(c(DATE), DataType::Utf8),
        ])
    };
    let mut columns: Vec<Expr> = KEYS.iter().map(|k| c(k)).collect();
    if keep_row_order {
        columns.push(c(ROW));
    }
    columns.push(
        ratio()
            .call(vec![
                c(&rate),
                required().call(vec![c("__district_rate"), missing("district")]),
            ])
            .alias(format!("{rate}_district")),
    );
    columns.push(
        ratio()
            .call(vec![
                c(&rate),
                required().call(vec![c("__oslo_rate"), missing("Oslo")]),
            ])
            .alias(format!("{rate}_oslo")),
    );
    Ok(joined.select(columns)?)
}
