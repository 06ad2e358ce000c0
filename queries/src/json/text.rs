//! JSON text written as it is drawn. A batch writes some 20 MB of documents: they go from
//! the frame's cells straight to their text, with no tree of values in between to build and
//! free. The writer knows where it is, so that the first NaN or infinity is reported by its
//! path (`data[3].values[0].ratio`), where Python's `allow_nan=False` would have raised.

use std::borrow::Cow;
use std::fmt::Write;

use super::Json;
use super::float::write_python_float;

/// The text of one JSON value, written piece by piece: open a container, write its keys
/// and items, close it. Separators come by themselves.
pub struct JsonText<'k> {
    out: String,
    /// The open containers, the outermost first.
    open: Vec<Open<'k>>,
    /// The first NaN or infinity written, if any.
    non_finite: Option<NonFinite>,
    /// Integers under a `value` key are written as floats (`2249` -> `2249.0`).
    float_values: bool,
}

/// A NaN or infinity in the text, which Python's `json.dumps(..., allow_nan=False)`
/// refuses: where it is and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct NonFinite {
    /// Keys and indices from the outermost value: `data[3].values[0].ratio`.
    pub path: String,
    pub value: f64,
}

/// An open container and how many items (or keys) it has so far.
enum Open<'k> {
    Array(usize),
    /// The object's current key, for the path.
    Object(usize, Cow<'k, str>),
}

impl<'k> JsonText<'k> {
    /// An empty text with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            out: String::with_capacity(capacity),
            open: vec![],
            non_finite: None,
            float_values: false,
        }
    }

    /// The text, and its first NaN or infinity, if any (written as Python's
    /// `allow_nan=True` writes them: `NaN`, `Infinity`).
    pub fn finish(self) -> (String, Option<NonFinite>) {
        debug_assert!(self.open.is_empty(), "a container left open");
        (self.out, self.non_finite)
    }

    /// Whether integers written under a `value` key become floats.
    pub fn float_values(&self) -> bool {
        self.float_values
    }

    /// Integers written under a `value` key become floats while `on`.
    pub fn set_float_values(&mut self, on: bool) {
        self.float_values = on;
    }

    pub fn begin_object(&mut self) {
        self.item();
        self.out.push('{');
        self.open.push(Open::Object(0, Cow::Borrowed("")));
    }

    pub fn end_object(&mut self) {
        debug_assert!(matches!(self.open.last(), Some(Open::Object(..))));
        self.open.pop();
        self.out.push('}');
    }

    pub fn begin_array(&mut self) {
        self.item();
        self.out.push('[');
        self.open.push(Open::Array(0));
    }

    pub fn end_array(&mut self) {
        debug_assert!(matches!(self.open.last(), Some(Open::Array(_))));
        self.open.pop();
        self.out.push(']');
    }

    /// The next key of the innermost object; its value comes next.
    pub fn key(&mut self, key: &'k str) {
        self.key_cow(Cow::Borrowed(key));
    }

    fn key_cow(&mut self, key: Cow<'k, str>) {
        let Some(Open::Object(items, current)) = self.open.last_mut() else {
            panic!("a key outside an object");
        };
        if *items > 0 {
            self.out.push_str(", ");
        }
        *items += 1;
        write_python_str(&key, &mut self.out);
        self.out.push_str(": ");
        *current = key;
    }

    pub fn null(&mut self) {
        self.item();
        self.out.push_str("null");
    }

    pub fn bool(&mut self, value: bool) {
        self.item();
        self.out.push_str(if value { "true" } else { "false" });
    }

    pub fn int(&mut self, value: i64) {
        if self.float_values && self.under_key("value") {
            return self.float(value as f64);
        }
        self.item();
        self.out.push_str(itoa::Buffer::new().format(value));
    }

    pub fn float(&mut self, value: f64) {
        self.item();
        if !value.is_finite() && self.non_finite.is_none() {
            self.non_finite = Some(NonFinite {
                path: self.path(),
                value,
            });
        }
        write_python_float(value, &mut self.out);
    }

    pub fn str(&mut self, value: &str) {
        self.item();
        write_python_str(value, &mut self.out);
    }

    /// A whole value, nested ones included.
    pub fn value(&mut self, value: &Json<'_>) {
        match value {
            Json::Null => self.null(),
            Json::Bool(b) => self.bool(*b),
            Json::Int(i) => self.int(*i),
            Json::Float(f) => self.float(*f),
            Json::Str(s) => self.str(s),
            Json::Array(items) => {
                self.begin_array();
                items.iter().for_each(|item| self.value(item));
                self.end_array();
            }
            Json::Object(pairs) => {
                self.begin_object();
                for (key, value) in pairs {
                    self.key_cow(Cow::Owned(key.to_string()));
                    self.value(value);
                }
                self.end_object();
            }
        }
    }

    /// Before a value: the separator and the count of the array it is an item of.
    fn item(&mut self) {
        if let Some(Open::Array(items)) = self.open.last_mut() {
            if *items > 0 {
                self.out.push_str(", ");
            }
            *items += 1;
        }
    }

    fn under_key(&self, key: &str) -> bool {
        matches!(self.open.last(), Some(Open::Object(_, current)) if current == key)
    }

    /// Where the value being written is: `key[index].key`.
    fn path(&self) -> String {
        let mut path = String::new();
        for open in &self.open {
            match open {
                Open::Array(items) => {
                    write!(path, "[{}]", items - 1).expect("write to String");
                }
                Open::Object(_, key) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
            }
        }
        path
    }
}

/// Python's escaping with `ensure_ascii=False`: quotes, backslashes and control
/// characters; everything else raw.
fn write_python_str(s: &str, out: &mut String) {
    out.push('"');
    // Most strings (keys, names, ids) need no escape: one scan, one copy.
    let needs_escape = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
    let mut plain = 0;
    while let Some(at) = s.as_bytes()[plain..].iter().position(|&b| needs_escape(b)) {
        // Multi-byte UTF-8 never contains these bytes, so byte positions are char boundaries.
        let i = plain + at;
        out.push_str(&s[plain..i]);
        match s.as_bytes()[i] {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            byte => write!(out, "\\u{byte:04x}").expect("write to String"),
        }
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumps_like_python() {
        let doc = Json::object([
            ("district", Json::str("Bydel Grünerløkka")),
            ("n", Json::Int(3311)),
            ("f", Json::Float(3311.0)),
            ("b", Json::Bool(false)),
            ("s", Json::str("a\"b\\c\n\u{1}\u{2028}/–")),
            ("a", Json::Array(vec![Json::Int(1), Json::Array(vec![])])),
            ("o", Json::object(Vec::<(String, Json)>::new())),
            ("c", Json::str("\r\t\u{8}\u{c}\u{1f}\u{7f}\"")),
        ]);
        assert_eq!(
            doc.to_python_string(),
            "{\"district\": \"Bydel Grünerløkka\", \"n\": 3311, \"f\": 3311.0, \"b\": false, \
             \"s\": \"a\\\"b\\\\c\\n\\u0001\u{2028}/–\", \"a\": [1, []], \"o\": {}, \
             \"c\": \"\\r\\t\\b\\f\\u001f\u{7f}\\\"\"}"
        );
    }

    #[test]
    fn finds_the_first_non_finite_with_its_path() {
        let doc = Json::object([(
            "values",
            Json::Array(vec![
                Json::object([("ratio", Json::Float(0.5))]),
                Json::object([
                    ("value", Json::Int(1)),
                    ("ratio", Json::Float(f64::INFINITY)),
                    ("later", Json::Float(f64::NAN)),
                ]),
            ]),
        )]);
        let mut text = JsonText::with_capacity(0);
        text.value(&doc);
        let (body, non_finite) = text.finish();
        assert_eq!(
            body,
            "{\"values\": [{\"ratio\": 0.5}, {\"value\": 1, \"ratio\": Infinity, \"later\": NaN}]}"
        );
        let non_finite = non_finite.unwrap();
        assert_eq!(non_finite.path, "values[1].ratio");
        assert!(non_finite.value.is_infinite());
    }

    #[test]
    fn a_top_level_array_starts_its_path_with_an_index() {
        let mut text = JsonText::with_capacity(0);
        text.begin_array();
        text.int(1);
        text.begin_object();
        text.key("x");
        text.float(f64::NAN);
        text.end_object();
        text.end_array();
        let (body, non_finite) = text.finish();
        assert_eq!(body, "[1, {\"x\": NaN}]");
        assert_eq!(non_finite.unwrap().path, "[1].x");
    }

    #[test]
    fn integers_under_value_become_floats_while_asked() {
        let mut text = JsonText::with_capacity(0);
        text.begin_array();
        for floats in [false, true] {
            text.set_float_values(floats);
            text.begin_object();
            text.key("value");
            text.int(2249);
            text.key("date");
            text.int(2020);
            text.end_object();
        }
        text.set_float_values(false);
        text.int(7);
        text.end_array();
        assert_eq!(
            text.finish().0,
            "[{\"value\": 2249, \"date\": 2020}, {\"value\": 2249.0, \"date\": 2020}, 7]"
        );
    }
}
