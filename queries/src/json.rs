//! JSON text exactly as Python's `json.dumps(doc, ensure_ascii=False, allow_nan=False)`
//! writes it (docs/contract.md §10.1): `", "` and `": "` separators, keys in insertion order, raw
//! UTF-8, and floats in Python's `repr` (`2020.0`, `1e-05`, `1e+16`).
//!
//! Integers and floats are different variants because the original's column types decide
//! between `3311` and `3311.0` (docs/contract.md §10.2).

use std::borrow::Cow;
use std::fmt::Write;

/// A JSON value that keeps integers and floats apart and objects in insertion order.
/// Strings and keys borrow where they can (column names, cells of the frame a document
/// is built from): a batch writes tens of thousands of small objects.
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

    /// The value under `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The path (`values[3].ratio`) and value of the first NaN or infinity, in document
    /// order: the place where Python's `allow_nan=False` would have raised.
    pub fn first_non_finite(&self) -> Option<(String, f64)> {
        match self {
            Json::Float(f) if !f.is_finite() => Some((String::new(), *f)),
            Json::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                item.first_non_finite()
                    .map(|(path, f)| (format!("[{i}]{}", dotted(&path)), f))
            }),
            Json::Object(pairs) => pairs.iter().find_map(|(k, v)| {
                v.first_non_finite()
                    .map(|(path, f)| (format!("{k}{}", dotted(&path)), f))
            }),
            _ => None,
        }
    }

    /// The Python `json.dumps` text, with non-finite floats written as Python writes them
    /// with `allow_nan=True` (`NaN`, `Infinity`).
    pub fn to_python_string(&self) -> String {
        let mut out = String::new();
        self.write_python(&mut out, true);
        out
    }

    /// Appends the Python `json.dumps(..., allow_nan=False)` text to `out`; false (and a
    /// partial text) where Python would have raised: at a NaN or infinity
    /// ([`Json::first_non_finite`] says where).
    pub fn write_finite_python(&self, out: &mut String) -> bool {
        self.write_python(out, false)
    }

    /// Appends the text; false (and a partial text) at a non-finite float unless
    /// `allow_nan`.
    fn write_python(&self, out: &mut String, allow_nan: bool) -> bool {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(true) => out.push_str("true"),
            Json::Bool(false) => out.push_str("false"),
            Json::Int(i) => out.push_str(itoa::Buffer::new().format(*i)),
            Json::Float(f) if !f.is_finite() && !allow_nan => return false,
            Json::Float(f) => write_python_float(*f, out),
            Json::Str(s) => write_python_str(s, out),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    if !item.write_python(out, allow_nan) {
                        return false;
                    }
                }
                out.push(']');
            }
            Json::Object(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_python_str(k, out);
                    out.push_str(": ");
                    if !v.write_python(out, allow_nan) {
                        return false;
                    }
                }
                out.push('}');
            }
        }
        true
    }
}

fn dotted(path: &str) -> String {
    if path.is_empty() || path.starts_with('[') {
        path.to_string()
    } else {
        format!(".{path}")
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

/// Python's escaping with `ensure_ascii=False`: quotes, backslashes and control
/// characters; everything else raw.
fn write_python_str(s: &str, out: &mut String) {
    out.push('"');
    let mut plain = 0;
    for (i, byte) in s.bytes().enumerate() {
        // Multi-byte UTF-8 never contains these bytes, so byte positions are char boundaries.
        let escaped = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..0x20 => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        if escaped.is_empty() {
            write!(out, "\\u{byte:04x}").expect("write to String");
        } else {
            out.push_str(escaped);
        }
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

/// [`python_float_repr`] appended to `out`. Python writes fixed notation for decimal
/// exponents -4..=15, the range in which ryu's shortest round-trip digits are fixed
/// notation with the same `.0`; only the rare rest goes through the general path.
fn write_python_float(f: f64, out: &mut String) {
    let magnitude = f.abs();
    if f.is_finite() && (magnitude == 0.0 || (1e-4..1e16).contains(&magnitude)) {
        out.push_str(ryu::Buffer::new().format_finite(f));
    } else {
        out.push_str(&python_float_repr(f));
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, in fixed notation when the
/// decimal exponent is in -5 < e < 16 (always with a fractional part), otherwise as
/// `d[.ddd]e±XX`.
pub fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    // ryu's digits are Python's: the shortest that round-trip, the nearest of those, ties
    // to even (Rust's own `{:e}` rounds such ties up: `...858.13` where Python has `.12`).
    let text = ryu::Buffer::new().format_finite(f).to_string();
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (digits, exp) = digits_and_exponent(unsigned);
    let mut out = String::from(sign);
    if (-5 < exp) && (exp < 16) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let exp_sign = if exp < 0 { '-' } else { '+' };
        write!(out, "e{exp_sign}{:02}", exp.abs()).expect("write to String");
    }
    out
}

/// The significant digits and decimal exponent of ryu's text, which is fixed (`123.45`,
/// `0.00012`) or scientific (`1.2345e-5`, `1e16`): `1.2345e-5` -> (`12345`, -5).
fn digits_and_exponent(text: &str) -> (String, i32) {
    let (mantissa, exp) = match text.split_once('e') {
        Some((mantissa, exp)) => (mantissa, exp.parse::<i32>().expect("ryu's exponent")),
        None => (text, 0),
    };
    let point = mantissa.find('.').unwrap_or(mantissa.len()) as i32;
    let all: String = mantissa.chars().filter(|c| *c != '.').collect();
    let significant = all.trim_start_matches('0');
    let leading = (all.len() - significant.len()) as i32;
    let digits = significant.trim_end_matches('0');
    if digits.is_empty() {
        return ("0".into(), 0);
    }
    (digits.to_string(), exp + point - 1 - leading)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each pair is (value, Python 3 `repr(value)`).
    #[test]
    fn floats_as_python_repr() {
        let cases: &[(f64, &str)] = &[
            (1e-05, "1e-05"),
            (1e16, "1e+16"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (123456789012345.0, "123456789012345.0"),
            (5e-324, "5e-324"),
            (2020.0, "2020.0"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (1.2345e-05, "1.2345e-05"),
            (1e15, "1000000000000000.0"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (5.3e-07, "5.3e-07"),
            (0.19899999999999998, "0.19899999999999998"),
            (14241.089600000001, "14241.089600000001"),
            (-56.0, "-56.0"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (123.456, "123.456"),
            (1e100, "1e+100"),
            (9999999999999998.0, "9999999999999998.0"),
            // Exactly between two 17-digit candidates: Python rounds to even.
            (165793407361858.13, "165793407361858.12"),
            (1888179516627061.3, "1888179516627061.2"),
            (3.0517578125e-05, "3.0517578125e-05"),
        ];
        for (value, expected) in cases {
            assert_eq!(python_float_repr(*value), *expected, "{value:?}");
            let mut fast = String::new();
            write_python_float(*value, &mut fast);
            assert_eq!(fast, *expected, "{value:?}");
        }
    }

    #[test]
    fn the_fixed_notation_shortcut_agrees_with_the_general_repr() {
        // A deterministic spread of values: random bit patterns, decimals as the data has
        // them (counts, shares, rates), and the notation boundaries.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut values = vec![1e-4, 9.999999999999999e-5, 1e16, 9999999999999998.0];
        for _ in 0..200_000 {
            let bits = next();
            values.push(f64::from_bits(bits));
            values.push((bits % 2_000_000) as f64 / 1000.0);
            values.push((bits % 10_000) as f64 / ((next() % 100_000) as f64 + 1.0));
        }
        for value in values.into_iter().filter(|v| v.is_finite()) {
            let mut fast = String::new();
            write_python_float(value, &mut fast);
            assert_eq!(fast, python_float_repr(value), "{value:?}");
        }
    }

    #[test]
    fn floats_as_python_wrote_them() {
        let written = include_str!("../tests/data/python-float-repr.txt");
        let mut checked = 0;
        for line in written.lines().filter(|l| !l.starts_with('#')) {
            let (bits, expected) = line.split_once(' ').expect("bits and repr");
            let value = f64::from_bits(u64::from_str_radix(bits, 16).expect("hex bits"));
            assert_eq!(python_float_repr(value), expected, "{bits}");
            let mut fast = String::new();
            write_python_float(value, &mut fast);
            assert_eq!(fast, expected, "{bits}");
            checked += 1;
        }
        assert_eq!(checked, 3000);
    }

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
        ]);
        assert_eq!(
            doc.to_python_string(),
            "{\"district\": \"Bydel Grünerløkka\", \"n\": 3311, \"f\": 3311.0, \"b\": false, \
             \"s\": \"a\\\"b\\\\c\\n\\u0001\u{2028}/–\", \"a\": [1, []], \"o\": {}}"
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
                ]),
            ]),
        )]);
        let (path, value) = doc.first_non_finite().unwrap();
        assert_eq!(path, "values[1].ratio");
        assert!(value.is_infinite());
    }
}
