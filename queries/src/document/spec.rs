//! What the document writer needs to know about one output dataset. It travels inside the
//! writer operator (serialized by the codec) to whichever executor runs it.

use serde::{Deserialize, Serialize};

/// The `values` builder of an entry (docs/contract.md §8; docs/templates.md shows what each
/// one draws).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Template {
    /// The original's TemplateA (and its aliases B, I, J): a flat list over series, then rows.
    Flat { series: Vec<String> },
    /// TemplateC: one inner list per series.
    PerSeries { series: Vec<String> },
    /// TemplateE: age distribution by gender over the age columns.
    AgeByGender { ages: Vec<String> },
    /// TemplateG: key numbers: the series at the latest year, a history list column, the year.
    KeyNumbers {
        series: Vec<String>,
        history: String,
    },
    /// TemplateH: blocks of non-missing columns per row.
    HistoryBlocks { blocks: Vec<HistoryBlock> },
    /// TemplateK: district and Oslo ratios per series.
    DistrictAndOslo { series: Vec<String> },
    /// Moves per year and age group (flyttehyppighet_*): per year
    /// `{"year", "immigration": [...], "emigration": [...]}`; the latest year's object
    /// alone when `latest_only`.
    Moves {
        immigration: Vec<MoveField>,
        emigration: Vec<MoveField>,
        latest_only: bool,
    },
    /// Not the district layout at all (landbakgrunn): one document per district with its
    /// `top` largest groups by `rank_by` at the district's latest year, each with the
    /// values of `data_points` (with `<dp>_ratio`), flat (status) or one list per data point.
    TopGroups {
        group: String,
        rank_by: String,
        top: usize,
        data_points: Vec<String>,
        nested: bool,
    },
    /// `template`'s values, with every integer `value` written as a float when the boolean
    /// column `flag` is true: the Databricks port's pivot turns whole columns float when
    /// one cell is missing anywhere, which the plan's column types cannot express.
    FloatValuesWhen {
        flag: String,
        template: Box<Template>,
    },
}

/// One field of a move object: a column, or an object of category -> column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoveField {
    pub key: String,
    pub value: MoveValue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MoveValue {
    Column(String),
    Categories(Vec<(String, String)>),
}

/// One block of `HistoryBlocks` (one list of the original's TemplateH): the columns after
/// `date`, and whether pandas' transpose upcast every number of the block to float (all
/// columns numeric) or kept each cell's kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryBlock {
    pub columns: Vec<String>,
    pub as_float: bool,
}

/// One output dataset's documents: template, metadata and where the scale comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentSpec {
    /// Output dataset id, for messages.
    pub output_dataset: String,
    pub template: Template,
    /// `meta.heading`.
    pub heading: String,
    /// `meta.series`, verbatim (some functions use `"Heading"` or `false`).
    pub series: serde_json::Value,
    /// Whether the frame carries the scale columns (`udfs::plan::SCALE_COLUMNS`).
    pub scale: bool,
    /// `meta.publishedDate`, `YYYY-MM-DD`.
    pub published_date: String,
}
