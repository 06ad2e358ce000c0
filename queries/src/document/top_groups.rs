//! landbakgrunn's own documents (`docs/functions/landbakgrunn_innvandringsgrupper.md` step 6): per
//! district the largest groups at its latest year, with their values over the frame.

use super::DocumentJson;
use super::frame::Frame;
use super::spec::DocumentSpec;
use crate::json::Json;
use bydelsfakta_udfs::geo;

/// The documents of a `TopGroups` output: one per distinct (district id, name).
pub fn build<'a>(
    frame: &'a Frame,
    spec: &'a DocumentSpec,
    group: &str,
    rank_by: &str,
    top: usize,
    data_points: &[String],
    nested: bool,
) -> Vec<DocumentJson<'a>> {
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
    districts
        .into_iter()
        .map(|(id, name)| {
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
            let data = ranked
                .iter()
                .map(|&top_row| {
                    let label = group_column.cell(top_row);
                    let group_rows: Vec<usize> = rows
                        .iter()
                        .copied()
                        .filter(|&r| group_column.cell(r) == label)
                        .collect();
                    let value = |r: usize, dp: &String| {
                        Json::object([
                            ("date", date.number(r)),
                            ("value", frame.number(dp, r)),
                            ("ratio", frame.number(&format!("{dp}_ratio"), r)),
                        ])
                    };
                    let values = if nested {
                        Json::Array(
                            data_points
                                .iter()
                                .map(|dp| {
                                    Json::Array(group_rows.iter().map(|&r| value(r, dp)).collect())
                                })
                                .collect(),
                        )
                    } else {
                        match group_rows.last() {
                            Some(&last) => {
                                Json::Array(data_points.iter().map(|dp| value(last, dp)).collect())
                            }
                            None => Json::Array(vec![]),
                        }
                    };
                    Json::object([("geography", label), ("values", values)])
                })
                .collect();
            let file_name = if id.is_empty() {
                format!("{name}.json")
            } else {
                format!("{id}.json")
            };
            let json = Json::object([
                ("district", Json::Str(name.clone())),
                ("id", Json::Str(id.clone())),
                ("data", Json::Array(data)),
                (
                    "meta",
                    Json::object([
                        ("series", Json::from(&spec.series)),
                        ("heading", Json::str(spec.heading.as_str())),
                    ]),
                ),
            ]);
            DocumentJson { file_name, json }
        })
        .collect()
}
