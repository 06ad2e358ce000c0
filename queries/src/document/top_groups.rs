//! landbakgrunn's own documents (spec `landbakgrunn_innvandringsgrupper.md` step 6): per
//! district the largest groups at its latest year, with their values over the frame.

use super::Document;
use super::frame::Frame;
use super::spec::DocumentSpec;
use crate::json::Json;
use bydelsfakta_udfs::geo;

/// The documents of a `TopGroups` output: one per distinct (district id, name).
pub fn build(
    frame: &Frame,
    spec: &DocumentSpec,
    group: &str,
    rank_by: &str,
    top: usize,
    data_points: &[String],
    nested: bool,
) -> Vec<Document> {
    let all: Vec<usize> = (0..frame.num_rows()).collect();
    let mut districts: Vec<(String, String)> = vec![];
    for &r in &all {
        if let (Some(id), Some(name)) =
            (frame.text(geo::BYDEL_ID, r), frame.text(geo::BYDEL_NAVN, r))
            && !districts.contains(&(id.clone(), name.clone()))
        {
            districts.push((id, name));
        }
    }
    let year = |r: usize| match frame.number(geo::DATE, r) {
        Json::Int(y) => y,
        _ => i64::MIN,
    };
    let rank = |r: usize| match frame.number(rank_by, r) {
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
                .filter(|&r| frame.text(geo::BYDEL_ID, r).as_deref() == Some(id.as_str()))
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
                    let label = frame.cell(group, top_row);
                    let group_rows: Vec<usize> = rows
                        .iter()
                        .copied()
                        .filter(|&r| frame.cell(group, r) == label)
                        .collect();
                    let value = |r: usize, dp: &String| {
                        Json::object([
                            ("date", frame.number(geo::DATE, r)),
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
            let json = Json::object([
                ("district", Json::str(name.clone())),
                ("id", Json::str(id.clone())),
                ("data", Json::Array(data)),
                (
                    "meta",
                    Json::object([
                        ("series", Json::from(&spec.series)),
                        ("heading", Json::str(spec.heading.clone())),
                    ]),
                ),
            ]);
            let file_name = if id.is_empty() {
                format!("{name}.json")
            } else {
                format!("{id}.json")
            };
            Document { file_name, json }
        })
        .collect()
}
