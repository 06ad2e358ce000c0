//! Entry `values` per template (docs/contract.md §8; docs/templates.md shows each with an
//! excerpt of a real document).

use super::frame::{Column, Frame};
use super::spec::{HistoryBlock, MoveField, MoveValue, Template};
use crate::json::{Json, JsonText};
use bydelsfakta_udfs::geo;

/// Writes one entry's `values` from its rows, or says why the original would have failed.
pub fn build<'a>(
    template: &'a Template,
    frame: &'a Frame,
    rows: &[usize],
    text: &mut JsonText<'a>,
) -> Result<(), String> {
    match template {
        Template::Flat { series } => {
            text.begin_array();
            for s in series {
                let columns = SeriesColumns::new(frame, s);
                rows.iter().for_each(|&r| columns.write(r, text));
            }
            text.end_array();
        }
        Template::PerSeries { series } => {
            text.begin_array();
            for s in series {
                let columns = SeriesColumns::new(frame, s);
                text.begin_array();
                rows.iter().for_each(|&r| columns.write(r, text));
                text.end_array();
            }
            text.end_array();
        }
        Template::AgeByGender { ages } => age_distribution(frame, rows, ages, text)?,
        Template::KeyNumbers { series, history } => {
            key_numbers(frame, rows, series, history, text)?
        }
        Template::HistoryBlocks { blocks } => {
            text.begin_array();
            blocks
                .iter()
                .for_each(|b| history_block(frame, rows, b, text));
            text.end_array();
        }
        Template::Moves {
            immigration,
            emigration,
            latest_only,
        } => moves(frame, rows, immigration, emigration, *latest_only, text)?,
        Template::FloatValuesWhen { flag, template } => {
            let flagged = rows
                .iter()
                .any(|&r| frame.cell(flag, r) == Json::Bool(true));
            let before = text.float_values();
            text.set_float_values(before || flagged);
            let built = build(template, frame, rows, text);
            text.set_float_values(before);
            built?;
        }
        Template::TopGroups { .. } => {
            return Err("TopGroups is a document layout, not entry values".into());
        }
        Template::DistrictAndOslo { series } => {
            let date = frame.column(geo::DATE);
            text.begin_array();
            for s in series {
                let district = frame.column(&format!("{s}_ratio_district"));
                let oslo = frame.column(&format!("{s}_ratio_oslo"));
                for &r in rows {
                    text.begin_object();
                    text.key("date");
                    text.value(&date.number(r));
                    text.key("districtRatio");
                    text.value(&district.number(r));
                    text.key("osloRatio");
                    text.value(&oslo.number(r));
                    text.end_object();
                }
            }
            text.end_array();
        }
    }
    Ok(())
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
    fn write(&self, row: usize, text: &mut JsonText<'_>) {
        text.begin_object();
        text.key("value");
        text.value(&self.value.number(row));
        if self.ratio.exists() {
            text.key("ratio");
            text.value(&self.ratio.number(row));
        }
        text.key("date");
        text.value(&self.date.number(row));
        text.end_object();
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
    text: &mut JsonText<'a>,
) -> Result<(), String> {
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
    text.begin_array();
    for age in ages {
        let mann = frame.number(age, men);
        let kvinne = frame.number(age, women);
        let sum = add(&mann, &kvinne);
        text.begin_object();
        text.key("age");
        text.str(age);
        text.key("mann");
        text.value(&mann);
        text.key("kvinne");
        text.value(&kvinne);
        text.key("value");
        text.value(&sum);
        text.key("ratio");
        text.float(as_f64(&sum) / as_f64(&total));
        text.key("date");
        text.value(&date);
        text.end_object();
    }
    text.end_array();
    Ok(())
}

/// `KeyNumbers` (the original's TemplateG): `[s1, s2, ..., history, year]` at the latest
/// year; each series must have exactly one row there (pandas' `.item()`).
fn key_numbers(
    frame: &Frame,
    rows: &[usize],
    series: &[String],
    history: &str,
    text: &mut JsonText<'_>,
) -> Result<(), String> {
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
    text.begin_array();
    for s in series {
        text.value(&frame.number(s, *row));
    }
    text.value(&frame.cell(history, rows[0]));
    text.value(&frame.number(geo::DATE, *row));
    text.end_array();
    Ok(())
}

/// One block of `HistoryBlocks` (the original's TemplateH): per row, `date` and the block's
/// non-missing columns; rows with nothing but the date are left out.
fn history_block<'a>(
    frame: &'a Frame,
    rows: &[usize],
    block: &'a HistoryBlock,
    text: &mut JsonText<'a>,
) {
    let kind = |v: Json<'a>| match (block.as_float, v) {
        (true, Json::Int(i)) => Json::Float(i as f64),
        (_, v) => v,
    };
    let present = |v: &Json<'_>| match v {
        Json::Null => false,
        Json::Float(f) => !f.is_nan(),
        _ => true,
    };
    let date = frame.column(geo::DATE);
    let columns: Vec<(&str, Column<'a>)> = block
        .columns
        .iter()
        .map(|c| (c.as_str(), frame.column(c)))
        .collect();
    text.begin_array();
    for &r in rows {
        // A row's object opens at its first present column, so that a row with nothing
        // but its date writes nothing.
        let mut open = false;
        for (name, column) in &columns {
            let cell = column.cell(r);
            if !present(&cell) {
                continue;
            }
            if !open {
                text.begin_object();
                text.key(geo::DATE);
                text.value(&kind(date.cell(r)));
                open = true;
            }
            text.key(name);
            text.value(&kind(cell));
        }
        if open {
            text.end_object();
        }
    }
    text.end_array();
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

    /// The field's value in row `r`: a number, or an object of category -> number.
    fn write(&self, r: usize, text: &mut JsonText<'a>) {
        match self {
            Self::One(column) => text.value(&column.number(r)),
            Self::Categories(categories) => {
                text.begin_object();
                for (key, column) in categories {
                    text.key(key);
                    text.value(&column.number(r));
                }
                text.end_object();
            }
        }
    }
}

/// The flytting templates: per year (ascending) the moves in and out per age group; the
/// latest year's object alone when `latest_only`.
fn moves<'a>(
    frame: &'a Frame,
    rows: &[usize],
    immigration: &'a [MoveField],
    emigration: &'a [MoveField],
    latest_only: bool,
    text: &mut JsonText<'a>,
) -> Result<(), String> {
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
    if latest_only {
        // Only the latest year is drawn: the earlier ones are not written at all.
        let Some(&(latest, _)) = dated.last() else {
            return Err("no rows for the latest year".to_string());
        };
        dated.retain(|&(year, _)| year == latest);
    }
    let (immigration, emigration) = (
        FieldColumns::of(frame, immigration),
        FieldColumns::of(frame, emigration),
    );
    let elements =
        |rows: &[(i64, usize)], fields: &[(&'a str, FieldColumns<'a>)], text: &mut JsonText<'a>| {
            text.begin_array();
            for &(_, r) in rows {
                text.begin_object();
                text.key("alder");
                text.value(&age.cell(r));
                for (key, columns) in fields {
                    text.key(key);
                    columns.write(r, text);
                }
                text.end_object();
            }
            text.end_array();
        };
    if !latest_only {
        text.begin_array();
    }
    for in_year in dated.chunk_by(|a, b| a.0 == b.0) {
        text.begin_object();
        text.key("year");
        text.int(in_year[0].0);
        text.key("immigration");
        elements(in_year, &immigration, text);
        text.key("emigration");
        elements(in_year, &emigration, text);
        text.end_object();
    }
    if !latest_only {
        text.end_array();
    }
    Ok(())
}
