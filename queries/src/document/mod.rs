//! Documents of one output dataset: the original's `Output` class (00-common §9) over the
//! final frame, and the D1 check that every number in them is finite.

mod frame;
mod spec;
mod templates;
mod top_groups;

use datafusion::arrow::array::RecordBatch;

pub use frame::Frame;
pub use spec::{DocumentSpec, HistoryBlock, MoveField, MoveValue, Template};

use crate::error::{Error, Result};
use crate::json::Json;
use bydelsfakta_udfs::geo;
use bydelsfakta_udfs::plan::SCALE_COLUMNS;

const HELP: &str = "Dette er en beskrivelse for hvordan dataene leses";

/// One document, ready to write as `<file_name>` under the output prefix.
#[derive(Debug, Clone)]
pub struct Document {
    /// `<id>.json` (or `<district>.json` when the id is empty).
    pub file_name: String,
    pub json: Json,
}

/// Builds every document of `spec` from `batch` (the plan's final frame, in its row order)
/// and checks them all before returning: a NaN or infinity anywhere fails the whole set
/// (DEVIATIONS D1).
pub fn build_documents(batch: RecordBatch, spec: &DocumentSpec) -> Result<Vec<Document>> {
    let frame = Frame::new(batch);
    let documents = match &spec.template {
        Template::TopGroups {
            group,
            rank_by,
            top,
            data_points,
            nested,
        } => top_groups::build(&frame, spec, group, rank_by, *top, data_points, *nested),
        _ => {
            let layout = Layout::new(&frame, spec);
            let mut documents: Vec<Document> = layout
                .district_ids()
                .into_iter()
                .map(|id| layout.district_document(&id))
                .collect::<Result<_>>()?;
            documents.push(layout.oslo_document()?);
            documents
        }
    };
    for doc in &documents {
        check_finite(spec, doc)?;
    }
    Ok(documents)
}

fn check_finite(spec: &DocumentSpec, doc: &Document) -> Result<()> {
    let Some((path, value)) = doc.json.first_non_finite() else {
        return Ok(());
    };
    // Name the entry by its id: "data[3].values[0].ratio" -> entry of data[3].
    let entry = path
        .strip_prefix("data[")
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(i, _)| i.parse::<usize>().ok())
        .and_then(|i| match doc.json.get("data") {
            Some(Json::Array(entries)) => entries.get(i),
            _ => None,
        })
        .and_then(|entry| entry.get("id"))
        .map(|id| id.to_python_string().trim_matches('"').to_string())
        .unwrap_or_else(|| "-".to_string());
    Err(Error::NonFinite {
        dataset: spec.output_dataset.clone(),
        document: doc.file_name.clone(),
        entry,
        field: path,
        value: if value.is_nan() {
            "NaN (missing)".into()
        } else {
            value.to_string()
        },
    })
}

struct Layout<'a> {
    frame: &'a Frame,
    spec: &'a DocumentSpec,
    /// The geography of every row, read once: each document selects its rows by it.
    bydel_id: Vec<Option<String>>,
    bydel_navn: Vec<Option<String>>,
    delbydel_id: Vec<Option<String>>,
    delbydel_navn: Vec<Option<String>>,
}

/// Distinct non-missing values of a column over `rows`, in order of first appearance.
fn distinct(column: &[Option<String>], rows: impl IntoIterator<Item = usize>) -> Vec<String> {
    let mut seen: Vec<String> = vec![];
    for r in rows {
        if let Some(v) = &column[r]
            && !seen.contains(v)
        {
            seen.push(v.clone());
        }
    }
    seen
}

fn is_excluded(id: &str) -> bool {
    geo::PSEUDO_DISTRICTS.contains(&id)
}

impl<'a> Layout<'a> {
    fn new(frame: &'a Frame, spec: &'a DocumentSpec) -> Self {
        Self {
            frame,
            spec,
            bydel_id: frame.texts(geo::BYDEL_ID),
            bydel_navn: frame.texts(geo::BYDEL_NAVN),
            delbydel_id: frame.texts(geo::DELBYDEL_ID),
            delbydel_navn: frame.texts(geo::DELBYDEL_NAVN),
        }
    }

    fn rows_where(&self, pred: impl Fn(usize) -> bool) -> Vec<usize> {
        (0..self.frame.num_rows()).filter(|&r| pred(r)).collect()
    }

    fn district_ids(&self) -> Vec<String> {
        distinct(&self.bydel_id, 0..self.frame.num_rows())
            .into_iter()
            .filter(|id| !is_excluded(id) && id != geo::OSLO_ID)
            .collect()
    }

    fn document_error(&self, document: &str, message: String) -> Error {
        Error::Document {
            dataset: self.spec.output_dataset.clone(),
            document: format!("{document}.json"),
            message,
        }
    }

    fn district_document(&self, district: &str) -> Result<Document> {
        let is = |column: &[Option<String>], r: usize, v: &str| column[r].as_deref() == Some(v);
        let rows = self.rows_where(|r| is(&self.bydel_id, r, district));
        let name = distinct(&self.bydel_navn, rows.iter().copied())
            .into_iter()
            .next()
            .ok_or_else(|| self.document_error(district, "the district has no name".into()))?;
        let oslo = self.rows_where(|r| is(&self.bydel_id, r, geo::OSLO_ID));
        let mut data = vec![];
        for sub in distinct(&self.delbydel_id, rows.iter().copied()) {
            let sub_rows: Vec<usize> = rows
                .iter()
                .copied()
                .filter(|&r| is(&self.delbydel_id, r, &sub))
                .collect();
            data.push(self.entry(district, &sub_rows, &sub, None, geo::DELBYDEL_NAVN, true)?);
        }
        let own: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&r| self.delbydel_id[r].is_none())
            .collect();
        data.push(self.entry(district, &own, district, Some(&name), geo::BYDEL_NAVN, true)?);
        data.push(self.entry(
            district,
            &oslo,
            geo::OSLO_ID,
            Some(&name),
            geo::BYDEL_NAVN,
            true,
        )?);
        Ok(self.document(&name, district, data, "bydel"))
    }

    fn oslo_document(&self) -> Result<Document> {
        let top = self.rows_where(|r| self.delbydel_navn[r].is_none());
        let mut data = vec![];
        for id in distinct(&self.bydel_id, top.iter().copied()) {
            if is_excluded(&id) {
                continue;
            }
            let rows: Vec<usize> = top
                .iter()
                .copied()
                .filter(|&r| self.bydel_id[r].as_deref() == Some(id.as_str()))
                .collect();
            data.push(self.entry(geo::OSLO_ID, &rows, &id, None, geo::BYDEL_NAVN, false)?);
        }
        Ok(self.document(geo::OSLO_NAME, geo::OSLO_ID, data, "oslo i alt"))
    }

    /// `_generate_data`: one entry with its flags; without a given name, the rows must
    /// agree on one (a missing name counts as a name of its own).
    fn entry(
        &self,
        document: &str,
        rows: &[usize],
        id: &str,
        name: Option<&str>,
        name_column: &str,
        in_district_document: bool,
    ) -> Result<Json> {
        let mut name = match name {
            Some(name) => Json::str(name),
            None => {
                let mut names: Vec<Json> = vec![];
                for &r in rows {
                    let n = self.frame.cell(name_column, r);
                    if !names.contains(&n) {
                        names.push(n);
                    }
                }
                match names.as_slice() {
                    [one] => one.clone(),
                    [] => {
                        return Err(self.document_error(
                            document,
                            format!("entry {id} has no rows to take its name from"),
                        ));
                    }
                    _ => {
                        return Err(self.document_error(
                            document,
                            format!("multiple names for one geography id {id}"),
                        ));
                    }
                }
            }
        };
        if name == Json::Null {
            return Err(self.document_error(document, format!("entry {id} has no name")));
        }
        let (mut avg_row, mut total_row) = (false, false);
        if id.chars().count() == 2 {
            if id == geo::OSLO_ID {
                total_row = true;
                name = Json::str(geo::OSLO_NAME);
            } else if in_district_document {
                avg_row = true;
            }
        }
        if id == geo::OSLO_ID {
            avg_row = false;
            total_row = true;
        }
        let values = templates::values(&self.spec.template, self.frame, rows)
            .map_err(|message| self.document_error(document, format!("entry {id}: {message}")))?;
        Ok(Json::object([
            ("id", Json::str(id)),
            ("geography", name),
            ("values", values),
            ("avgRow", Json::Bool(avg_row)),
            ("totalRow", Json::Bool(total_row)),
        ]))
    }

    fn document(&self, district: &str, id: &str, data: Vec<Json>, scope: &str) -> Document {
        let file_name = if id.is_empty() {
            format!("{district}.json")
        } else {
            format!("{id}.json")
        };
        let json = Json::object([
            ("district", Json::str(district)),
            ("id", Json::str(id)),
            ("data", Json::Array(data)),
            ("meta", self.metadata(scope)),
        ]);
        Document { file_name, json }
    }

    fn metadata(&self, scope: &str) -> Json {
        let scale = if self.spec.scale && self.frame.num_rows() > 0 {
            let n = |i: usize| match self.frame.number(SCALE_COLUMNS[i], 0) {
                Json::Int(v) => Json::Float(v as f64),
                other => other,
            };
            Json::object([
                ("value", Json::Array(vec![n(0), n(1)])),
                ("ratio", Json::Array(vec![n(2), n(3)])),
            ])
        } else {
            Json::Array(vec![])
        };
        Json::object([
            ("heading", Json::str(self.spec.heading.clone())),
            ("series", Json::from(&self.spec.series)),
            ("publishedDate", Json::str(self.spec.published_date.clone())),
            ("help", Json::str(HELP)),
            ("scope", Json::str(scope)),
            ("scale", scale),
        ])
    }
}
