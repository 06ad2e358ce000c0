//! JSON text exactly as Python's `json.dumps(doc, ensure_ascii=False, allow_nan=False)`
//! writes it (docs/contract.md §10.1): `", "` and `": "` separators, keys in insertion order, raw
//! UTF-8, and floats in Python's `repr` (`2020.0`, `1e-05`, `1e+16`).
//!
//! Integers and floats are different variants because the original's column types decide
//! between `3311` and `3311.0` (docs/contract.md §10.2). [`JsonText`] writes the text,
//! `float` writes Python's floats.

mod float;
mod text;

pub use text::{JsonText, NonFinite};

use std::borrow::Cow;

/// A JSON value that keeps integers and floats apart and objects in insertion order: a cell
/// of a frame (its strings borrowed), `meta.series`, a step output. Documents are not
/// built as values: [`JsonText`] writes them as they are drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// An object from `(key, value)` pairs, in the given order.
    pub fn object<K: Into<Cow<'a, str>>>(pairs: impl IntoIterator<Item = (K, Json<'a>)>) -> Self {
        Json::Object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn str(s: impl Into<Cow<'a, str>>) -> Self {
        Json::Str(s.into())
    }

    /// The same value, owning its strings.
    pub fn into_owned(self) -> Json<'static> {
        match self {
            Json::Null => Json::Null,
            Json::Bool(b) => Json::Bool(b),
            Json::Int(i) => Json::Int(i),
            Json::Float(f) => Json::Float(f),
            Json::Str(s) => Json::Str(Cow::Owned(s.into_owned())),
            Json::Array(items) => Json::Array(items.into_iter().map(Json::into_owned).collect()),
            Json::Object(pairs) => Json::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                    .collect(),
            ),
        }
    }

    /// The Python `json.dumps` text, with non-finite floats written as Python writes them
    /// with `allow_nan=True` (`NaN`, `Infinity`).
    pub fn to_python_string(&self) -> String {
        let mut text = JsonText::with_capacity(0);
        text.value(self);
        text.finish().0
    }
}

impl From<&serde_json::Value> for Json<'_> {
    fn from(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Json::Null,
            serde_json::Value::Bool(b) => Json::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Json::Int(i),
                None => Json::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Json::str(s.clone()),
            serde_json::Value::Array(items) => Json::Array(items.iter().map(Json::from).collect()),
            serde_json::Value::Object(map) => Json::Object(
                map.iter()
                    .map(|(k, v)| (Cow::Owned(k.clone()), Json::from(v)))
                    .collect(),
            ),
        }
    }
}
