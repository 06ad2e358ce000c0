//! JSON text exactly as Python's `json.dumps(doc, ensure_ascii=False, allow_nan=False)`
//! writes it (00-common §10.1): `", "` and `": "` separators, keys in insertion order, raw
//! UTF-8, and floats in Python's `repr` (`2020.0`, `1e-05`, `1e+16`).
//!
//! Integers and floats are different variants because the original's column types decide
//! between `3311` and `3311.0` (00-common §10.2).

use std::fmt::Write;

/// A JSON value that keeps integers and floats apart and objects in insertion order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// An object from `(key, value)` pairs, in the given order.
    pub fn object<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Json)>) -> Json {
        Json::Object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    /// The value under `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
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

    /// The Python `json.dumps` text. Non-finite floats must have been rejected before
    /// (see [`Json::first_non_finite`]); they are written as Python would with
    /// `allow_nan=True` so that this function cannot fail.
    pub fn to_python_string(&self) -> String {
        let mut out = String::new();
        self.write_python(&mut out);
        out
    }

    fn write_python(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(true) => out.push_str("true"),
            Json::Bool(false) => out.push_str("false"),
            Json::Int(i) => write!(out, "{i}").expect("write to String"),
            Json::Float(f) => write_python_float(*f, out),
            Json::Str(s) => write_python_str(s, out),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_python(out);
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
                    v.write_python(out);
                }
                out.push('}');
            }
        }
    }
}

fn dotted(path: &str) -> String {
    if path.is_empty() || path.starts_with('[') {
        path.to_string()
    } else {
        format!(".{path}")
    }
}

impl From<&serde_json::Value> for Json {
    fn from(v: &serde_json::Value) -> Json {
        match v {
            serde_json::Value::Null => Json::Null,
            serde_json::Value::Bool(b) => Json::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Json::Int(i),
                None => Json::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Json::Str(s.clone()),
            serde_json::Value::Array(items) => Json::Array(items.iter().map(Json::from).collect()),
            serde_json::Value::Object(map) => Json::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), Json::from(v)))
                    .collect(),
            ),
        }
    }
}

fn write_python_str(s: &str, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32).expect("write to String"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// [`python_float_repr`] appended to `out`. Fixed notation (decimal exponent -4..=15) is
/// Rust's shortest round-trip `Display` plus the `.0` Python keeps; only the rare rest
/// goes through the general path.
fn write_python_float(f: f64, out: &mut String) {
    let magnitude = f.abs();
    if f.is_finite() && (magnitude == 0.0 || (1e-4..1e16).contains(&magnitude)) {
        let start = out.len();
        write!(out, "{f}").expect("write to String");
        if !out[start..].contains('.') {
            out.push_str(".0");
        }
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
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e-5", "0e0".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("LowerExp has an exponent");
    let exp: i32 = exp.parse().expect("LowerExp exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
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
