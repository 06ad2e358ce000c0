//! Entry `values` per template (docs/contract.md §8; docs/templates.md shows each with an
//! excerpt of a real document).

use std::borrow::Cow;

use super::frame::{Column, Frame};
use super::spec::{HistoryBlock, MoveField, MoveValue, Template};
use crate::json::Json;
use bydelsfakta_udfs::geo;

/// Builds one entry's `values` from its rows, or says why the original would have failed.
pub fn build<'a>(
    template: &'a Template,
    frame: &'a Frame,
    rows: &[usize],
) -> Result<Json<'a>, String> {
    match template {
        Template::Flat { series } => Ok(Json::Array(
            series
                .iter()
                .flat_map(|s| {
                    let columns = SeriesColumns::new(frame, s);
                    rows.iter().map(move |&r| columns.value(r))
                })
                .collect(),
        )),
        Template::PerSeries { series } => Ok(Json::Array(
            series
                .iter()
                .map(|s| {
                    let columns = SeriesColumns::new(frame, s);
                    Json::Array(rows.iter().map(|&r| columns.value(r)).collect())
                })
                .collect(),
        )),
        Template::AgeByGender { ages } => age_distribution(frame, rows, ages),
        Template::KeyNumbers { series, history } => key_numbers(frame, rows, series, history),
        Template::HistoryBlocks { blocks } => Ok(Json::Array(
            blocks
                .iter()
                .map(|b| history_block(frame, rows, b))
                .collect(),
        )),
        Template::Moves {
            immigration,
            emigration,
            latest_only,
        } => moves(frame, rows, immigration, emigration, *latest_only),
        Template::FloatValuesWhen { flag, template } => {
            let mut out = build(template, frame, rows)?;
            if rows
                .iter()
                .any(|&r| frame.cell(flag, r) == Json::Bool(true))
            {
                float_values(&mut out);
            }
            Ok(out)
        }
        Template::TopGroups { .. } => {
            Err("TopGroups is a document layout, not entry values".into())
        }
        Template::DistrictAndOslo { series } => Ok(Json::Array(
            series
                .iter()
                .flat_map(|s| {
                    let date = frame.column(geo::DATE);
                    let district = frame.column(&format!("{s}_ratio_district"));
                    let oslo = frame.column(&format!("{s}_ratio_oslo"));
                    rows.iter().map(move |&r| {
                        Json::object([
                            ("date", date.number(r)),
                            ("districtRatio", district.number(r)),
                            ("osloRatio", oslo.number(r)),
                        ])
                    })
                })
                .collect(),
        )),
    }
}

/// The columns of one series' entry values.
struct SeriesColumns<'a> {
    value: Column<'a>,
    ratio: Column<'a>,
    date: Column<'a>,
}

impl<'a> SeriesColumns<'a> {
    fn new(frame: &'a Frame, series: &str) -> Self {
        Self {
            value: frame.column(series),
            ratio: frame.column(&format!("{series}_ratio")),
            date: frame.column(geo::DATE),
        }
    }

    /// `{"value", ["ratio",] "date"}`: the ratio is there whenever the frame has
    /// `<series>_ratio`.
    fn value(&self, row: usize) -> Json<'a> {
        let mut pairs = Vec::with_capacity(3);
        pairs.push(("value", self.value.number(row)));
        if self.ratio.exists() {
            pairs.push(("ratio", self.ratio.number(row)));
        }
        pairs.push(("date", self.date.number(row)));
        Json::object(pairs)
    }
}

/// Turns the integers under every `value` key into floats (`2249` -> `2249.0`).
fn float_values(json: &mut Json<'_>) {
    match json {
        Json::Array(items) => items.iter_mut().for_each(float_values),
        Json::Object(pairs) => {
            for (key, v) in pairs {
                match v {
                    Json::Int(i) if key == "value" => *v = Json::Float(*i as f64),
                    _ => float_values(v),
                }
            }
        }
        _ => {}
    }
}

fn add(a: &Json<'_>, b: &Json<'_>) -> Json<'static> {
    match (a, b) {
        (Json::Int(a), Json::Int(b)) => Json::Int(a + b),
        _ => Json::Float(as_f64(a) + as_f64(b)),
    }
}

fn as_f64(v: &Json<'_>) -> f64 {
    match v {
        Json::Int(i) => *i as f64,
        Json::Float(f) => *f,
        _ => f64::NAN,
    }
}

/// `AgeByGender` (the original's TemplateE): one object per age with both genders, their
/// sum and its share of the total.
fn age_distribution<'a>(
    frame: &'a Frame,
    rows: &[usize],
    ages: &'a [String],
) -> Result<Json<'a>, String> {
    let total = rows
        .iter()
        .map(|&r| frame.number("total", r))
        .fold(Json::Int(0), |acc, v| add(&acc, &v));
    let mut dates: Vec<Json> = vec![];
    for &r in rows {
        let d = frame.number(geo::DATE, r);
        if !dates.contains(&d) {
            dates.push(d);
        }
    }
    let date = match dates.as_slice() {
        [d] => match d {
            Json::Float(f) => Json::Int(*f as i64),
            other => other.clone(),
        },
        _ => return Err(format!("expected one year, found {}", dates.len())),
    };
    let last_of = |gender: i64| {
        rows.iter()
            .rev()
            .copied()
            .find(|&r| as_f64(&frame.number("kjonn", r)) == gender as f64)
            .ok_or_else(|| format!("no row for kjonn {gender}"))
    };
    let (men, women) = (last_of(1)?, last_of(2)?);
    Ok(Json::Array(
        ages.iter()
            .map(|age| {
                let mann = frame.number(age, men);
                let kvinne = frame.number(age, women);
                let sum = add(&mann, &kvinne);
                let ratio = Json::Float(as_f64(&sum) / as_f64(&total));
                Json::object([
                    ("age", Json::str(age.as_str())),
                    ("mann", mann),
                    ("kvinne", kvinne),
                    ("value", sum),
                    ("ratio", ratio),
                    ("date", date.clone()),
                ])
            })
            .collect(),
    ))
}

/// `KeyNumbers` (the original's TemplateG): `[s1, s2, ..., history, year]` at the latest
/// year; each series must have exactly one row there (pandas' `.item()`).
fn key_numbers<'a>(
    frame: &'a Frame,
    rows: &[usize],
    series: &[String],
    history: &str,
) -> Result<Json<'a>, String> {
    let latest = rows
        .iter()
        .map(|&r| as_f64(&frame.number(geo::DATE, r)))
        .fold(f64::NAN, f64::max);
    let status: Vec<usize> = rows
        .iter()
        .copied()
        .filter(|&r| as_f64(&frame.number(geo::DATE, r)) == latest)
        .collect();
    let [row] = status.as_slice() else {
        return Err(format!(
            "expected one row in the latest year, found {}",
            status.len()
        ));
    };
    let mut values: Vec<Json> = series.iter().map(|s| frame.number(s, *row)).collect();
    values.push(frame.cell(history, rows[0]));
    values.push(frame.number(geo::DATE, *row));
    Ok(Json::Array(values))
}

/// One block of `HistoryBlocks` (the original's TemplateH): per row, `date` and the block's
/// non-missing columns; rows with nothing but the date are left out.
fn history_block<'a>(frame: &'a Frame, rows: &[usize], block: &'a HistoryBlock) -> Json<'a> {
    let kind = |v: Json<'a>| match (block.as_float, v) {
        (true, Json::Int(i)) => Json::Float(i as f64),
        (_, v) => v,
    };
    let date = frame.column(geo::DATE);
    let columns: Vec<(&str, Column<'a>)> = block
        .columns
        .iter()
        .map(|c| (c.as_str(), frame.column(c)))
        .collect();
    Json::Array(
        rows.iter()
            .filter_map(|&r| {
                let mut pairs = vec![(Cow::Borrowed(geo::DATE), kind(date.cell(r)))];
                for (name, column) in &columns {
                    match column.cell(r) {
                        Json::Null => {}
                        Json::Float(f) if f.is_nan() => {}
                        v => pairs.push((Cow::Borrowed(*name), kind(v))),
                    }
                }
                (pairs.len() > 1).then_some(Json::Object(pairs))
            })
            .collect(),
    )
}

/// The columns of a [`MoveField`], looked up once.
enum FieldColumns<'a> {
    One(Column<'a>),
    Categories(Vec<(&'a str, Column<'a>)>),
}

impl<'a> FieldColumns<'a> {
    fn of(frame: &'a Frame, fields: &'a [MoveField]) -> Vec<(&'a str, Self)> {
        fields
            .iter()
            .map(|field| {
                let columns = match &field.value {
                    MoveValue::Column(column) => Self::One(frame.column(column)),
                    MoveValue::Categories(categories) => Self::Categories(
                        categories
                            .iter()
                            .map(|(key, column)| (key.as_str(), frame.column(column)))
                            .collect(),
                    ),
                };
                (field.key.as_str(), columns)
            })
            .collect()
    }
}

/// The flytting templates: per year (ascending) the moves in and out per age group.
fn moves<'a>(
    frame: &'a Frame,
    rows: &[usize],
    immigration: &'a [MoveField],
    emigration: &'a [MoveField],
    latest_only: bool,
) -> Result<Json<'a>, String> {
    let date = frame.column(geo::DATE);
    let age = frame.column("aldersgruppe_5_aar");
    // Each row's year, read once; the rows of a year keep their order.
    let mut dated: Vec<(i64, usize)> = rows
        .iter()
        .filter_map(|&r| match date.number(r) {
            Json::Int(y) => Some((y, r)),
            _ => None,
        })
        .collect();
    dated.sort_by_key(|&(year, _)| year);
    if latest_only && let Some(&(latest, _)) = dated.last() {
        // Only the latest year is drawn: the earlier ones are not built at all.
        dated.retain(|&(year, _)| year == latest);
    }
    let (immigration, emigration) = (
        FieldColumns::of(frame, immigration),
        FieldColumns::of(frame, emigration),
    );
    let element = |r: usize, fields: &[(&'a str, FieldColumns<'a>)]| {
        let mut pairs = vec![("alder", age.cell(r))];
        for (key, columns) in fields {
            let value = match columns {
                FieldColumns::One(column) => column.number(r),
                FieldColumns::Categories(categories) => Json::Object(
                    categories
                        .iter()
                        .map(|(key, column)| (Cow::Borrowed(*key), column.number(r)))
                        .collect(),
                ),
            };
            pairs.push((key, value));
        }
        Json::object(pairs)
    };
    let mut objects: Vec<Json> = dated
        .chunk_by(|a, b| a.0 == b.0)
        .map(|in_year| {
            Json::object([
                ("year", Json::Int(in_year[0].0)),
                (
                    "immigration",
                    Json::Array(
                        in_year
                            .iter()
                            .map(|&(_, r)| element(r, &immigration))
                            .collect(),
                    ),
                ),
                (
                    "emigration",
                    Json::Array(
                        in_year
                            .iter()
                            .map(|&(_, r)| element(r, &emigration))
                            .collect(),
                    ),
                ),
            ])
        })
        .collect();
    if latest_only {
        objects
            .pop()
            .ok_or_else(|| "no rows for the latest year".to_string())
    } else {
        Ok(Json::Array(objects))
    }
}
