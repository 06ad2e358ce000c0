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
    /// The dataset type called `name`, or the error listing the valid ones (DEVIATIONS D3).
    pub fn dataset_type(&self, name: &str) -> Result<&'static DatasetType> {
        self.types.iter().find(|t| t.name == name).ok_or_else(|| {
            Error::Plan(format!(
                "function {}: unknown dataset type '{name}'; valid types: {}",
                self.name,
                self.types
                    .iter()
                    .map(|t| t.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
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
        use bydelsfakta_udfs::plan;
        let (frame, scale) = if status {
            let latest = plan::status(vec![frame.clone()])?.remove(0);
            (latest, Some(plan::scale(frame, series)?))
        } else {
            (frame, None)
        };
        Ok(Output {
            frame,
            order: plan::rollup_order(&[]),
            template: Template::A {
                series: names(&[series]),
            },
            heading: heading.into(),
            series: meta_series,
            scale,
        })
    }
}
