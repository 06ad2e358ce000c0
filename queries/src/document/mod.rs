//! Documents of one output dataset: the original's `Output` class (docs/contract.md §9) over the
//! final frame, and the D1 check that every number in them is finite.

mod entry_values;
mod frame;
mod spec;
mod top_groups;

use std::borrow::Cow;

use datafusion::arrow::array::RecordBatch;

pub use frame::Frame;
pub use spec::{DocumentSpec, HistoryBlock, MoveField, MoveValue, Template};

use crate::error::{Error, Result};
use crate::json::Json;
use bydelsfakta_udfs::geo;
use bydelsfakta_udfs::plan::SCALE_COLUMNS;

/// `meta.help`: the original writes this one text into every document.
const HELP_TEXT: &str = "Dette er en beskrivelse for hvordan dataene leses";

/// One document, ready to write as `<file_name>` under the output prefix.
#[derive(Debug, Clone)]
pub struct Document {
    /// `<id>.json` (or `<district>.json` when the id is empty).
    pub file_name: String,
    /// The JSON text, as the original's `json.dumps` wrote it.
    pub body: String,
}

/// One document before it is written out.
struct DocumentJson<'a> {
    file_name: String,
    json: Json<'a>,
}

/// Builds every document of `spec` from `batch` (the plan's final frame, in its row order)
/// and writes them all out before returning: a NaN or infinity anywhere fails the whole set
/// (docs/deviations.md D1).
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
            let districts = DistrictDocuments::new(&frame, spec);
            let mut documents: Vec<DocumentJson> = districts
                .district_ids()
                .into_iter()
                .map(|id| districts.district_document(&id))
                .collect::<Result<_>>()?;
            documents.push(districts.oslo_document()?);
            documents
        }
    };
    // The documents of one output are alike in size: the last one's length sizes the next
    // one's text, which would otherwise grow by reallocating.
    let mut last_len = 0;
    documents
        .into_iter()
        .map(|doc| {
            let mut body = String::with_capacity(last_len + last_len / 4);
            if !doc.json.write_finite_python(&mut body) {
                return Err(non_finite_error(spec, &doc));
            }
            last_len = body.len();
            Ok(Document {
                file_name: doc.file_name,
                body,
            })
        })
        .collect()
}

/// Where Python's `allow_nan=False` would have raised in `doc`.
fn non_finite_error(spec: &DocumentSpec, doc: &DocumentJson<'_>) -> Error {
    let Some((path, value)) = doc.json.first_non_finite() else {
        unreachable!("only a document with a non-finite number fails to write");
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
    Error::NonFinite {
        dataset: spec.output_dataset.clone(),
        document: doc.file_name.clone(),
        entry,
        field: path,
        value: if value.is_nan() {
            "NaN (missing)".into()
        } else {
            value.to_string()
        },
    }
}

/// The original's district layout (docs/contract.md §9): one document per district with its
/// sub-districts, itself and Oslo as entries, and the "Oslo i alt" document with every
/// district. Every template but `TopGroups` is drawn in it.
struct DistrictDocuments<'a> {
    frame: &'a Frame,
    spec: &'a DocumentSpec,
    /// The geography of every row, read once: each document selects its rows by it.
    bydel_id: Vec<Option<Cow<'a, str>>>,
    bydel_navn: Vec<Option<Cow<'a, str>>>,
    delbydel_id: Vec<Option<Cow<'a, str>>>,
    delbydel_navn: Vec<Option<Cow<'a, str>>>,
}

/// Distinct non-missing values of a column over `rows`, in order of first appearance.
fn distinct<'a>(
    column: &[Option<Cow<'a, str>>],
    rows: impl IntoIterator<Item = usize>,
) -> Vec<Cow<'a, str>> {
    let mut seen: Vec<Cow<'a, str>> = vec![];
    for r in rows {
        if let Some(v) = &column[r]
            && !seen.contains(v)
        {
            seen.push(v.clone());
        }
    }
    seen
}

fn is_pseudo_district(id: &str) -> bool {
    geo::PSEUDO_DISTRICTS.contains(&id)
}

impl<'a> DistrictDocuments<'a> {
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

    fn district_ids(&self) -> Vec<Cow<'a, str>> {
        distinct(&self.bydel_id, 0..self.frame.num_rows())
            .into_iter()
            .filter(|id| !is_pseudo_district(id) && id != geo::OSLO_ID)
            .collect()
    }

    fn document_error(&self, document: &str, message: String) -> Error {
        Error::Document {
            dataset: self.spec.output_dataset.clone(),
            document: format!("{document}.json"),
            message,
        }
    }

    fn district_document(&self, district: &str) -> Result<DocumentJson<'a>> {
        let is =
            |column: &[Option<Cow<'a, str>>], r: usize, v: &str| column[r].as_deref() == Some(v);
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
            data.push(self.entry(district, &sub_rows, sub, None, geo::DELBYDEL_NAVN, true)?);
        }
        let own: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&r| self.delbydel_id[r].is_none())
            .collect();
        data.push(self.entry(
            district,
            &own,
            Cow::Owned(district.to_string()),
            Some(name.clone()),
            geo::BYDEL_NAVN,
            true,
        )?);
        data.push(self.entry(
            district,
            &oslo,
            Cow::Borrowed(geo::OSLO_ID),
            Some(name.clone()),
            geo::BYDEL_NAVN,
            true,
        )?);
        Ok(self.document(&name, district, data, "bydel"))
    }

    fn oslo_document(&self) -> Result<DocumentJson<'a>> {
        let top = self.rows_where(|r| self.delbydel_navn[r].is_none());
        let mut data = vec![];
        for id in distinct(&self.bydel_id, top.iter().copied()) {
            if is_pseudo_district(&id) {
                continue;
            }
            let rows: Vec<usize> = top
                .iter()
                .copied()
                .filter(|&r| self.bydel_id[r] == Some(id.clone()))
                .collect();
            data.push(self.entry(geo::OSLO_ID, &rows, id, None, geo::BYDEL_NAVN, false)?);
        }
        Ok(self.document(geo::OSLO_NAME, geo::OSLO_ID, data, "oslo i alt"))
    }

    /// `_generate_data`: one entry with its flags; without a given name, the rows must
    /// agree on one (a missing name counts as a name of its own).
    fn entry(
        &self,
        document: &str,
        rows: &[usize],
        id: Cow<'a, str>,
        name: Option<Cow<'a, str>>,
        name_column: &str,
        in_district_document: bool,
    ) -> Result<Json<'a>> {
        let mut name = match name {
            Some(name) => Json::Str(name),
            None => {
                let names_column = self.frame.column(name_column);
                let mut names: Vec<Json> = vec![];
                for &r in rows {
                    let n = names_column.cell(r);
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
        let values = entry_values::build(&self.spec.template, self.frame, rows)
            .map_err(|message| self.document_error(document, format!("entry {id}: {message}")))?;
        Ok(Json::object([
            ("id", Json::Str(id)),
            ("geography", name),
            ("values", values),
            ("avgRow", Json::Bool(avg_row)),
            ("totalRow", Json::Bool(total_row)),
        ]))
    }

    fn document(
        &self,
        district: &str,
        id: &str,
        data: Vec<Json<'a>>,
        scope: &'static str,
    ) -> DocumentJson<'a> {
        let file_name = if id.is_empty() {
            format!("{district}.json")
        } else {
            format!("{id}.json")
        };
        let json = Json::object([
            ("district", Json::str(district.to_string())),
            ("id", Json::str(id.to_string())),
            ("data", Json::Array(data)),
            ("meta", self.metadata(scope)),
        ]);
        DocumentJson { file_name, json }
    }

    fn metadata(&self, scope: &'static str) -> Json<'a> {
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
            ("heading", Json::str(self.spec.heading.as_str())),
            ("series", Json::from(&self.spec.series)),
            (
                "publishedDate",
                Json::str(self.spec.published_date.as_str()),
            ),
            ("help", Json::str(HELP_TEXT)),
            ("scope", Json::str(scope)),
            ("scale", scale),
        ])
    }
}
