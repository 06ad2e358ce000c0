//! landbakgrunn's own documents (`docs/functions/landbakgrunn_innvandringsgrupper.md` step 6): per
//! district the largest groups at its latest year, with their values over the frame.

use super::frame::Frame;
use super::spec::DocumentSpec;
use super::{Written, file_name};
use crate::json::{Json, JsonText};
use bydelsfakta_udfs::geo;

/// What `Template::TopGroups` asks for.
pub(super) struct TopGroups<'t> {
    pub group: &'t str,
    pub rank_by: &'t str,
    pub top: usize,
    pub data_points: &'t [String],
    pub nested: bool,
}

/// The documents of a `TopGroups` output: one per distinct (district id, name).
pub(super) fn build<'a>(
    frame: &'a Frame,
    spec: &'a DocumentSpec,
    &TopGroups {
        group,
        rank_by,
        top,
        data_points,
        nested,
    }: &TopGroups<'a>,
    written: &mut Written<'_>,
) {
    let all: Vec<usize> = (0..frame.num_rows()).collect();
    let (ids, names) = (frame.texts(geo::BYDEL_ID), frame.texts(geo::BYDEL_NAVN));
    let mut districts = vec![];
    for &r in &all {
        if let (Some(id), Some(name)) = (&ids[r], &names[r])
            && !districts.contains(&(id, name))
        {
            districts.push((id, name));
        }
    }
    let (date, rank_column, group_column) = (
        frame.column(geo::DATE),
        frame.column(rank_by),
        frame.column(group),
    );
    let year = |r: usize| match date.number(r) {
        Json::Int(y) => y,
        _ => i64::MIN,
    };
    let rank = |r: usize| match rank_column.number(r) {
        Json::Int(v) => v as f64,
        Json::Float(v) => v,
        _ => f64::NAN,
    };
    // `{"date", "value", "ratio"}` of data point `dp` in row `r`.
    let value = |r: usize, dp: &String, text: &mut JsonText<'a>| {
        text.begin_object();
        text.key("date");
        text.value(&date.number(r));
        text.key("value");
        text.value(&frame.number(dp, r));
        text.key("ratio");
        text.value(&frame.number(&format!("{dp}_ratio"), r));
        text.end_object();
    };
    for (id, name) in districts {
        let rows: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&r| ids[r].as_ref() == Some(id))
            .collect();
        let latest = rows.iter().map(|&r| year(r)).max().unwrap_or(i64::MIN);
        // pandas' nlargest: descending, ties in row order.
        let mut ranked: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&r| year(r) == latest)
            .collect();
        ranked.sort_by(|&a, &b| {
            rank(b)
                .partial_cmp(&rank(a))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        ranked.truncate(top);
        let mut text = written.text();
        text.begin_object();
        text.key("district");
        text.str(name);
        text.key("id");
        text.str(id);
        text.key("data");
        text.begin_array();
        for &top_row in &ranked {
            let label = group_column.cell(top_row);
            let group_rows: Vec<usize> = rows
                .iter()
                .copied()
                .filter(|&r| group_column.cell(r) == label)
                .collect();
            text.begin_object();
            text.key("geography");
            text.value(&label);
            text.key("values");
            text.begin_array();
            if nested {
                for dp in data_points {
                    text.begin_array();
                    group_rows.iter().for_each(|&r| value(r, dp, &mut text));
                    text.end_array();
                }
            } else if let Some(&last) = group_rows.last() {
                data_points.iter().for_each(|dp| value(last, dp, &mut text));
            }
            text.end_array();
            text.end_object();
        }
        text.end_array();
        text.key("meta");
        text.begin_object();
        text.key("series");
        text.value(&Json::from(&spec.series));
        text.key("heading");
        text.str(&spec.heading);
        text.end_object();
        text.end_object();
        // Its entries have no id: a NaN in them names no entry.
        written.add(file_name(name, id), text, &[]);
    }
}
