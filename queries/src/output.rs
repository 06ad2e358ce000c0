//! An output: the final frame of one dataset type and how its documents draw it. Plans
//! build one the one way, [`Shape`]; families of category types (`alle_*`, `<kind>_*`)
//! describe theirs with [`Family`], which yields a shape too.

use datafusion::logical_expr::SortExpr;
use datafusion::prelude::{DataFrame, lit};
use serde_json::Value;

use crate::document::Template;
use crate::error::Result;
use crate::function::Period;
use bydelsfakta_udfs::geo::ROW;
use bydelsfakta_udfs::plan::{self, ascending, c};

/// A function's result for one type: the final frame, its row order, and its documents.
///
/// Plans build it with [`Shape::output`]. The fields are public as the one escape hatch: a
/// step Shape does not offer (the Databricks port's rounding) takes an output and changes
/// its frame, and says why where it does.
pub struct Output {
    pub frame: DataFrame,
    /// The frame's row order; documents follow it (first appearance, values order).
    pub order: Vec<SortExpr>,
    pub template: Template,
    pub heading: String,
    /// `meta.series`, verbatim.
    pub series: Value,
    /// The one-row scale frame (`udfs::plan::scale`), when the documents carry a scale.
    pub scale: Option<DataFrame>,
}

/// How a frame becomes an [`Output`]: the template and metadata of its documents, whether
/// they show the latest year only, which column's scale they carry, the row order, and
/// which rows leave before the documents are drawn.
pub struct Shape<'a> {
    template: Template,
    heading: &'a str,
    meta_series: Value,
    latest_year_only: bool,
    scale: Option<&'a str>,
    order: Vec<SortExpr>,
    drop_missing: Option<&'a str>,
}

impl<'a> Shape<'a> {
    /// Documents of `template`: every year, no scale, in rollup order.
    pub fn new(template: Template, heading: &'a str, meta_series: Value) -> Self {
        Self {
            template,
            heading,
            meta_series,
            latest_year_only: false,
            scale: None,
            order: plan::rollup_order(&[]),
            drop_missing: None,
        }
    }

    /// The most common shape: one series drawn flat. `status` documents show the latest
    /// year and carry the scale of the series over every year; `historisk` ones every
    /// year, no scale.
    pub fn one_series(series: &'a str, period: Period, heading: &'a str, meta: Value) -> Self {
        let shape = Self::new(flat(&[series]), heading, meta).period(period);
        match period {
            Period::Status => shape.scale(series),
            Period::History => shape,
        }
    }

    /// `status` keeps the latest year (after the scale is taken over every year).
    pub fn period(mut self, period: Period) -> Self {
        self.latest_year_only = period.is_status();
        self
    }

    /// The documents carry the scale of `column`, computed on the whole frame (the
    /// original's `get_min_max_values_and_ratios`).
    pub fn scale(mut self, column: &'a str) -> Self {
        self.scale = Some(column);
        self
    }

    pub fn order(mut self, order: Vec<SortExpr>) -> Self {
        self.order = order;
        self
    }

    /// Rows in the input file's order: pre-aggregated datasets, whose file already holds
    /// the sub-district, district and Oslo rows.
    pub fn in_file_order(self) -> Self {
        self.order(ascending(&[ROW]))
    }

    /// Rows where `column` is missing leave the documents, after the scale is taken.
    pub fn drop_missing(mut self, column: &'a str) -> Self {
        self.drop_missing = Some(column);
        self
    }

    pub fn output(self, frame: DataFrame) -> Result<Output> {
        // The scale, the latest year and the documents all read the frame; equal frames
        // of the other types of the function are computed once (`plan::share`).
        let frame = plan::share(frame)?;
        let scale = match self.scale {
            Some(column) => Some(plan::scale(frame.clone(), column)?),
            None => None,
        };
        let mut frame = if self.latest_year_only {
            plan::status(vec![frame])?.remove(0)
        } else {
            frame
        };
        if let Some(column) = self.drop_missing {
            frame = frame.filter(c(column).is_not_null())?;
        }
        Ok(Output {
            frame,
            order: self.order,
            template: self.template,
            heading: self.heading.into(),
            series: self.meta_series,
            scale,
        })
    }
}

/// Template [`Template::Flat`] over `series`.
pub fn flat(series: &[&str]) -> Template {
    Template::Flat {
        series: names(series),
    }
}

/// Template [`Template::PerSeries`] over `series`.
pub fn per_series(series: &[&str]) -> Template {
    Template::PerSeries {
        series: names(series),
    }
}

/// Names as owned strings, for templates.
pub fn names(columns: &[&str]) -> Vec<String> {
    columns.iter().map(|c| c.to_string()).collect()
}

/// A pre-aggregated rate dataset's `<series>_ratio` (the ratio the documents draw beside
/// the series): its `percent` column over 100.
pub fn with_percent_ratio(frame: DataFrame, series: &str, percent: &str) -> Result<DataFrame> {
    Ok(frame.with_column(
        &format!("{series}_ratio"),
        bydelsfakta_udfs::ratio().call(vec![c(percent), lit(100.0f64)]),
    )?)
}

/// One series a type draws by itself (one category of a [`Family`], say): its column and
/// heading, and the column of its status scale.
#[derive(Debug, Clone, Copy)]
pub struct Single {
    pub column: &'static str,
    pub heading: &'static str,
    /// The column the status scale is computed on; the column itself unless the original
    /// asked for another (bygningstyper's `totalt`).
    pub scale: &'static str,
}

impl Single {
    /// `column` under `heading`, with the scale of the column itself.
    pub const fn of(column: &'static str, heading: &'static str) -> Self {
        Self {
            column,
            heading,
            scale: column,
        }
    }
}

/// The variant of a family's dataset type: all categories, or one.
#[derive(Debug, Clone, Copy)]
pub enum Member {
    All(Period),
    One(Single, Period),
}

/// The family of types the original builds over a set of categories (bygningstyper,
/// husholdning_med_barn, innvandrer_befolkning): `alle_status` shows the categories
/// (flat), `alle_historisk` the categories and their total (one list per series, with a
/// "Totalt" series), and each `<kind>_status|historisk` one category (flat, with the
/// status scale of the whole frame).
pub struct Family<'a> {
    pub categories: &'a [&'a str],
    pub total: &'a str,
    pub heading: &'a str,
    /// `meta.series` of the categories.
    pub meta_series: Value,
    /// Whether the frame still holds every year (then status types keep the latest).
    pub filter_status: bool,
}

impl Member {
    pub fn period(&self) -> Period {
        match *self {
            Member::All(period) | Member::One(_, period) => period,
        }
    }
}

impl<'a> Family<'a> {
    pub fn shape(self, member: &Member) -> Shape<'a> {
        let filter_status = self.filter_status;
        // Every year is kept when the frame holds the status year only already.
        let filtered = |shape: Shape<'a>, period| {
            if filter_status {
                shape.period(period)
            } else {
                shape
            }
        };
        match *member {
            Member::All(period) => {
                let (template, meta_series) = match period {
                    Period::Status => (flat(self.categories), self.meta_series),
                    Period::History => {
                        let mut series = self.categories.to_vec();
                        series.push(self.total);
                        let mut meta_series = self.meta_series;
                        if let Some(list) = meta_series.as_array_mut() {
                            list.push(serde_json::json!({"heading": "Totalt", "subheading": ""}));
                        }
                        (per_series(&series), meta_series)
                    }
                };
                let shape = Shape::new(template, self.heading, meta_series);
                filtered(shape, period)
            }
            Member::One(single, period) => {
                let shape =
                    Shape::new(flat(&[single.column]), single.heading, Value::Array(vec![]));
                let shape = match period {
                    Period::Status => shape.scale(single.scale),
                    Period::History => shape,
                };
                filtered(shape, period)
            }
        }
    }
}
