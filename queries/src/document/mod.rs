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
use crate::json::{Json, JsonText, NonFinite};
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

/// Builds every document of `spec` from `batch` (the plan's final frame, in its row order),
/// each written as it is drawn. A document that cannot be drawn fails the set at once; a
/// NaN or infinity anywhere fails it too, once every document is drawn
/// (docs/deviations.md D1), so that a layout error anywhere is the one reported.
pub fn build_documents(batch: RecordBatch, spec: &DocumentSpec) -> Result<Vec<Document>> {
    let frame = Frame::new(batch);
    let mut written = Written::new(spec);
    match &spec.template {
        Template::TopGroups {
            group,
            rank_by,
            top,
            data_points,
            nested,
        } => {
            let layout = top_groups::TopGroups {
                group,
                rank_by,
                top: *top,
                data_points,
                nested: *nested,
            };
            top_groups::build(&frame, spec, &layout, &mut written);
        }
        _ => {
            let districts = DistrictDocuments::new(&frame, spec);
            for id in districts.district_ids() {
                districts.district_document(&id, &mut written)?;
            }
            districts.oslo_document(&mut written)?;
        }
    }
    written.finish()
}

/// The documents of one output as they are written, and the first NaN or infinity among
/// them.
struct Written<'s> {
    spec: &'s DocumentSpec,
    documents: Vec<Document>,
    non_finite: Option<Error>,
}

impl<'s> Written<'s> {
    fn new(spec: &'s DocumentSpec) -> Self {
        Self {
            spec,
            documents: vec![],
            non_finite: None,
        }
    }

    /// A text for the next document. The documents of one output are alike in size: the
    /// last one's length sizes the next one's text, which would otherwise grow by
    /// reallocating.
    fn text<'k>(&self) -> JsonText<'k> {
        let last = self.documents.last().map_or(0, |d| d.body.len());
        JsonText::with_capacity(last + last / 4)
    }

    /// Adds a written document whose `data` entries have `entry_ids` (none for a layout
    /// whose entries have no id).
    fn add(&mut self, file_name: String, text: JsonText<'_>, entry_ids: &[Cow<'_, str>]) {
        let (body, non_finite) = text.finish();
        if let Some(non_finite) = non_finite
            && self.non_finite.is_none()
        {
            self.non_finite = Some(non_finite_error(
                self.spec, &file_name, entry_ids, non_finite,
            ));
        }
        self.documents.push(Document { file_name, body });
    }

    fn finish(self) -> Result<Vec<Document>> {
        match self.non_finite {
            Some(error) => Err(error),
            None => Ok(self.documents),
        }
    }
}

/// Where Python's `allow_nan=False` would have raised in `document`.
fn non_finite_error(
    spec: &DocumentSpec,
    document: &str,
    entry_ids: &[Cow<'_, str>],
    NonFinite { path, value }: NonFinite,
) -> Error {
    // Name the entry by its id: "data[3].values[0].ratio" -> entry of data[3].
    let entry = path
        .strip_prefix("data[")
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(i, _)| i.parse::<usize>().ok())
        .and_then(|i| entry_ids.get(i))
        .map(|id| {
            Json::Str(id.clone())
                .to_python_string()
                .trim_matches('"')
                .to_string()
        })
        .unwrap_or_else(|| "-".to_string());
    Error::NonFinite {
        dataset: spec.output_dataset.clone(),
        document: document.to_string(),
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

    fn district_document(&self, district: &str, written: &mut Written<'_>) -> Result<()> {
        let is =
            |column: &[Option<Cow<'a, str>>], r: usize, v: &str| column[r].as_deref() == Some(v);
        let rows = self.rows_where(|r| is(&self.bydel_id, r, district));
        let name = distinct(&self.bydel_navn, rows.iter().copied())
            .into_iter()
            .next()
            .ok_or_else(|| self.document_error(district, "the district has no name".into()))?;
        let oslo = self.rows_where(|r| is(&self.bydel_id, r, geo::OSLO_ID));
        let mut text = written.text();
        let mut ids = vec![];
        self.begin_document(&mut text, &name, district);
        for sub in distinct(&self.delbydel_id, rows.iter().copied()) {
            let sub_rows: Vec<usize> = rows
                .iter()
                .copied()
                .filter(|&r| is(&self.delbydel_id, r, &sub))
                .collect();
            let entry = Entry {
                rows: &sub_rows,
                id: &sub,
                name: None,
                name_column: geo::DELBYDEL_NAVN,
            };
            self.entry(&mut text, district, entry, true)?;
            ids.push(sub);
        }
        let own: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&r| self.delbydel_id[r].is_none())
            .collect();
        for (id, entry_rows) in [
            (Cow::Owned(district.to_string()), &own),
            (Cow::Borrowed(geo::OSLO_ID), &oslo),
        ] {
            let entry = Entry {
                rows: entry_rows,
                id: &id,
                name: Some(name.clone()),
                name_column: geo::BYDEL_NAVN,
            };
            self.entry(&mut text, district, entry, true)?;
            ids.push(id);
        }
        self.end_document(&mut text, "bydel");
        written.add(file_name(&name, district), text, &ids);
        Ok(())
    }

    fn oslo_document(&self, written: &mut Written<'_>) -> Result<()> {
        let top = self.rows_where(|r| self.delbydel_navn[r].is_none());
        let mut text = written.text();
        let mut ids = vec![];
        self.begin_document(&mut text, geo::OSLO_NAME, geo::OSLO_ID);
        for id in distinct(&self.bydel_id, top.iter().copied()) {
            if is_pseudo_district(&id) {
                continue;
            }
            let rows: Vec<usize> = top
                .iter()
                .copied()
                .filter(|&r| self.bydel_id[r] == Some(id.clone()))
                .collect();
            let entry = Entry {
                rows: &rows,
                id: &id,
                name: None,
                name_column: geo::BYDEL_NAVN,
            };
            self.entry(&mut text, geo::OSLO_ID, entry, false)?;
            ids.push(id);
        }
        self.end_document(&mut text, "oslo i alt");
        written.add(file_name(geo::OSLO_NAME, geo::OSLO_ID), text, &ids);
        Ok(())
    }

    /// `_generate_data`: one entry of `document` with its flags.
    fn entry(
        &self,
        text: &mut JsonText<'a>,
        document: &str,
        Entry {
            rows,
            id,
            name,
            name_column,
        }: Entry<'_, 'a>,
        in_district_document: bool,
    ) -> Result<()> {
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
        text.begin_object();
        text.key("id");
        text.str(id);
        text.key("geography");
        text.value(&name);
        text.key("values");
        entry_values::build(&self.spec.template, self.frame, rows, text)
            .map_err(|message| self.document_error(document, format!("entry {id}: {message}")))?;
        text.key("avgRow");
        text.bool(avg_row);
        text.key("totalRow");
        text.bool(total_row);
        text.end_object();
        Ok(())
    }

    /// A document's text up to its `data` entries.
    fn begin_document(&self, text: &mut JsonText<'a>, district: &str, id: &str) {
        text.begin_object();
        text.key("district");
        text.str(district);
        text.key("id");
        text.str(id);
        text.key("data");
        text.begin_array();
    }

    /// A document's text after its `data` entries.
    fn end_document(&self, text: &mut JsonText<'a>, scope: &'static str) {
        text.end_array();
        text.key("meta");
        self.metadata(text, scope);
        text.end_object();
    }

    fn metadata(&self, text: &mut JsonText<'a>, scope: &'static str) {
        text.begin_object();
        text.key("heading");
        text.str(&self.spec.heading);
        text.key("series");
        text.value(&Json::from(&self.spec.series));
        text.key("publishedDate");
        text.str(&self.spec.published_date);
        text.key("help");
        text.str(HELP_TEXT);
        text.key("scope");
        text.str(scope);
        text.key("scale");
        if self.spec.scale && self.frame.num_rows() > 0 {
            let n = |i: usize| match self.frame.number(SCALE_COLUMNS[i], 0) {
                Json::Int(v) => Json::Float(v as f64),
                other => other,
            };
            text.begin_object();
            for (key, columns) in [("value", [0, 1]), ("ratio", [2, 3])] {
                text.key(key);
                text.begin_array();
                columns.into_iter().for_each(|i| text.value(&n(i)));
                text.end_array();
            }
            text.end_object();
        } else {
            text.begin_array();
            text.end_array();
        }
        text.end_object();
    }
}

/// One entry of a document: its rows, its id and its name.
struct Entry<'r, 'a> {
    rows: &'r [usize],
    id: &'r str,
    /// Without a name given, the rows' `name_column` must agree on one (a missing name
    /// counts as a name of its own).
    name: Option<Cow<'a, str>>,
    name_column: &'static str,
}

/// `<id>.json`, or `<district>.json` when the id is empty.
fn file_name(district: &str, id: &str) -> String {
    if id.is_empty() {
        format!("{district}.json")
    } else {
        format!("{id}.json")
    }
}
