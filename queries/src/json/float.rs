//! Floats as Python's `repr` writes them (`2020.0`, `1e-05`, `1e+16`), which `json.dumps`
//! uses.

use std::fmt::Write;

/// [`python_float_repr`] appended to `out`. Python writes fixed notation for decimal
/// exponents -4..=15, the range in which ryu's shortest round-trip digits are fixed
/// notation with the same `.0`; only the rare rest goes through the general path.
pub(crate) fn write_python_float(f: f64, out: &mut String) {
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
        let written = include_str!("../../tests/data/python-float-repr.txt");
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
}
