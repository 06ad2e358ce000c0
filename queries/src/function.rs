//! What a statistics function declares: its inputs, its dataset types with their output
//! datasets, and a pure plan from input tables to the final frame and its documents.

use std::collections::HashMap;

use datafusion::logical_expr::SortExpr;
use datafusion::prelude::DataFrame;

use crate::document::Template;
use crate::error::{Error, Result};

/// One dataset type of a function and the output dataset it produces.
#[derive(Debug, Clone, Copy)]
pub struct DatasetType {
    pub name: &'static str,
    pub output_dataset: &'static str,
}

/// A function: `inputs` as (argument, input dataset id) in declaration order (the order of
/// the original's prefix checks), `types`, and `plan`.
#[derive(Clone, Copy)]
pub struct Function {
    pub name: &'static str,
    pub inputs: &'static [(&'static str, &'static str)],
    pub types: &'static [DatasetType],
    pub plan: fn(&Inputs, &str) -> Result<Output>,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("name", &self.name)
            .finish()
    }
}

impl Function {
    /// The dataset type called `name`, or the error listing the valid ones (docs/deviations.md D3).
    pub fn dataset_type(&self, name: &str) -> Result<&'static DatasetType> {
        self.types
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| Error::UnknownDatasetType {
                function: self.name.into(),
                got: name.into(),
                valid: self.types.iter().map(|t| t.name.to_string()).collect(),
            })
    }

    /// Input dataset ids, in declaration order, without repeats.
    pub fn input_datasets(&self) -> Vec<&'static str> {
        let mut ids: Vec<&'static str> = vec![];
        for (_, id) in self.inputs {
            if !ids.contains(id) {
                ids.push(id);
            }
        }
        ids
    }
}

/// What one run computes: a function, one of its dataset types, and the prefix of each of
/// its inputs. [`Target::new`] checks all three, so planning takes a target and checks
/// nothing again.
#[derive(Debug, Clone)]
pub struct Target {
    function: &'static Function,
    dataset_type: &'static DatasetType,
    /// Every input dataset of the function with its prefix, in declaration order.
    input_prefixes: Vec<(&'static str, String)>,
}

impl Target {
    /// The target of `function`'s type `type_name` over `input_prefixes`, which must give
    /// every input of the function a prefix, in declaration order (the event contract's
    /// [`Function::input_datasets`] order), and nothing else.
    pub fn new(
        function: &'static Function,
        type_name: &str,
        input_prefixes: Vec<(&'static str, String)>,
    ) -> Result<Self> {
        let dataset_type = function.dataset_type(type_name)?;
        let given: Vec<&str> = input_prefixes.iter().map(|(id, _)| *id).collect();
        if given != function.input_datasets() {
            return Err(Error::Plan(format!(
                "function {}: inputs {given:?} given, {:?} declared",
                function.name,
                function.input_datasets()
            )));
        }
        Ok(Self {
            function,
            dataset_type,
            input_prefixes,
        })
    }

    pub fn function(&self) -> &'static Function {
        self.function
    }

    pub fn dataset_type(&self) -> &'static DatasetType {
        self.dataset_type
    }

    /// Every input dataset with its prefix, in declaration order.
    pub fn input_prefixes(&self) -> &[(&'static str, String)] {
        &self.input_prefixes
    }
}

/// The typed input tables of one run, by argument name.
pub struct Inputs {
    tables: HashMap<&'static str, DataFrame>,
}

impl Inputs {
    pub fn new(tables: HashMap<&'static str, DataFrame>) -> Self {
        Self { tables }
    }

    /// The table of argument `arg` (a cheap clone of a lazy plan).
    pub fn get(&self, arg: &str) -> Result<DataFrame> {
        self.tables
            .get(arg)
            .cloned()
            .ok_or_else(|| Error::Plan(format!("no input for argument '{arg}'")))
    }
}

/// A function's result for one type: the final frame, its row order, and its documents.
pub struct Output {
    pub frame: DataFrame,
    /// The frame's row order; documents follow it (first appearance, values order).
    pub order: Vec<SortExpr>,
    pub template: Template,
    pub heading: String,
    /// `meta.series`, verbatim.
    pub series: serde_json::Value,
    /// The one-row scale frame (`udfs::plan::scale`), when the documents carry a scale.
    pub scale: Option<DataFrame>,
}

/// Names as owned strings, for templates.
pub fn names(columns: &[&str]) -> Vec<String> {
    columns.iter().map(|c| c.to_string()).collect()
}

/// How the series of an output become entry values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// TemplateA (and its aliases B, I, J): one flat list.
    Flat,
    /// TemplateC: one list per series.
    Nested,
}

/// The common shapes of an output: series of a frame, optionally restricted to the latest
/// year, optionally with the scale of one column computed on the whole frame.
pub struct Shape<'a> {
    pub series: &'a [&'a str],
    pub layout: Layout,
    /// Restrict the frame to the latest year (`status`), or keep every year.
    pub latest_year_only: bool,
    /// The column whose scale the metadata carries (the original's
    /// `get_min_max_values_and_ratios`), if any.
    pub scale: Option<&'a str>,
    pub order: Vec<SortExpr>,
    pub heading: &'a str,
    pub meta_series: serde_json::Value,
}

impl Shape<'_> {
    pub fn output(self, frame: DataFrame) -> Result<Output> {
        use bydelsfakta_udfs::plan;
        // The scale, the latest year and the documents all read the frame.
        let frame = plan::share(frame)?;
        let scale = match self.scale {
            Some(column) => Some(plan::scale(frame.clone(), column)?),
            None => None,
        };
        let frame = if self.latest_year_only {
            plan::status(vec![frame])?.remove(0)
        } else {
            frame
        };
        let series = names(self.series);
        Ok(Output {
            frame,
            order: self.order,
            template: match self.layout {
                Layout::Flat => Template::Flat { series },
                Layout::Nested => Template::PerSeries { series },
            },
            heading: self.heading.into(),
            series: self.meta_series,
            scale,
        })
    }
}

impl Output {
    /// The most common shape: one series of a rolled-up frame, template A (B), sorted in
    /// rollup order. `status` restricts the frame to the latest year and attaches the scale
    /// of the series computed on the whole frame; otherwise every year, no scale.
    pub fn one_series(
        frame: DataFrame,
        series: &str,
        status: bool,
        heading: &str,
        meta_series: serde_json::Value,
    ) -> Result<Self> {
        Shape {
            series: &[series],
            layout: Layout::Flat,
            latest_year_only: status,
            scale: status.then_some(series),
            order: bydelsfakta_udfs::plan::rollup_order(&[]),
            heading,
            meta_series,
        }
        .output(frame)
    }

    /// One price per row of a pre-aggregated file (boligpriser, median_totalpris), in file
    /// order. Both types carry the scale, taken over every row of the frame (min and max
    /// skip the missing prices); then the rows without a price leave the documents.
    pub fn price(
        frame: DataFrame,
        price: &str,
        status: bool,
        heading: &str,
        meta_series: serde_json::Value,
    ) -> Result<Self> {
        use bydelsfakta_udfs::plan::{ascending, c};
        let mut output = Shape {
            series: &["value"],
            layout: Layout::Flat,
            latest_year_only: status,
            scale: Some("value"),
            order: ascending(&[bydelsfakta_udfs::geo::ROW]),
            heading,
            meta_series,
        }
        .output(frame.with_column("value", c(price))?)?;
        output.frame = output.frame.filter(c("value").is_not_null())?;
        Ok(output)
    }

    /// A pre-aggregated rate dataset (sub-district, district and Oslo rows in the file):
    /// `series` with `<series>_ratio = percent / 100`, in file order; `status` as in
    /// [`Output::one_series`].
    pub fn rate(
        frame: DataFrame,
        series: &str,
        percent: &str,
        status: bool,
        heading: &str,
        meta_series: serde_json::Value,
    ) -> Result<Self> {
        use bydelsfakta_udfs::plan::{ascending, c};
        let frame = frame.with_column(
            &format!("{series}_ratio"),
            bydelsfakta_udfs::ratio().call(vec![c(percent), datafusion::prelude::lit(100.0f64)]),
        )?;
        Shape {
            series: &[series],
            layout: Layout::Flat,
            latest_year_only: status,
            scale: status.then_some(series),
            order: ascending(&[bydelsfakta_udfs::geo::ROW]),
            heading,
            meta_series,
        }
        .output(frame)
    }
}

/// One single-category type of a [`Family`]: `<kind>_status` / `<kind>_historisk`.
pub struct Single<'a> {
    pub kind: &'a str,
    pub column: &'a str,
    pub heading: &'a str,
    /// The column the status scale is computed on; the column itself unless the original
    /// asked for another (bygningstyper's `totalt`).
    pub scale: &'a str,
}

/// The family of types the original builds over a set of categories (bygningstyper,
/// husholdning_med_barn, innvandrer_befolkning): `alle_status` shows the categories
/// (template A), `alle_historisk` the categories and their total (template C, with a
/// "Totalt" series), and each `<kind>_status|historisk` one category (A with the scale of
/// the whole frame, or B).
pub struct Family<'a> {
    pub categories: &'a [&'a str],
    pub total: &'a str,
    pub heading: &'a str,
    /// `meta.series` of the categories.
    pub meta_series: serde_json::Value,
    pub singles: &'a [Single<'a>],
    /// Whether the frame still holds every year (then status types keep the latest).
    pub filter_status: bool,
}

impl Family<'_> {
    pub fn output(self, frame: DataFrame, dataset_type: &str) -> Result<Output> {
        let (kind, period) = dataset_type.rsplit_once('_').unwrap_or((dataset_type, ""));
        let status = period == "status";
        let order = bydelsfakta_udfs::plan::rollup_order(&[]);
        let shape = if kind == "alle" {
            let mut series: Vec<&str> = self.categories.to_vec();
            let mut meta_series = self.meta_series;
            if !status {
                series.push(self.total);
                if let Some(list) = meta_series.as_array_mut() {
                    list.push(serde_json::json!({"heading": "Totalt", "subheading": ""}));
                }
            }
            return Shape {
                series: &series,
                layout: if status { Layout::Flat } else { Layout::Nested },
                latest_year_only: status && self.filter_status,
                scale: None,
                order,
                heading: self.heading,
                meta_series,
            }
            .output(frame);
        } else {
            let single = self
                .singles
                .iter()
                .find(|s| s.kind == kind)
                .ok_or_else(|| Error::Plan(format!("no single type '{kind}'")))?;
            Shape {
                series: std::slice::from_ref(&single.column),
                layout: Layout::Flat,
                latest_year_only: status && self.filter_status,
                scale: status.then_some(single.scale),
                order,
                heading: single.heading,
                meta_series: serde_json::json!([]),
            }
        };
        shape.output(frame)
    }
}
