//! Text form of vectors: `[1,2.5,3]`.
//!
//! Parsing follows pgvector's `vector_in` (and so `float4in`): optional white space around every
//! token, a mandatory `[` … `]`, comma-separated numbers in C `strtof` syntax, nothing but white
//! space after the `]`. Formatting follows Postgres' shortest-round-trip float output
//! (`float_to_shortest_decimal`): fixed notation for decimal exponents −4 ≤ e < 6, otherwise
//! `d.ddde±XX`, so text written by us is byte-identical to pgvector's.

use std::fmt::Write;

/// Largest dimension count of `vector` and `halfvec` (pgvector's limit).
pub const MAX_DIM: usize = 16000;

/// Why a text vector was rejected. `Display`-free on purpose: the extension turns each case
/// into pgvector's exact message and SQLSTATE (see [`ParseError::message`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// `invalid input syntax for type T: "input"`, with an optional detail line.
    Syntax { detail: Option<&'static str> },
    /// `"token" is out of range for type T`.
    OutOfRange { token: String },
    /// `T must have at least 1 dimension`.
    Empty,
    /// `T cannot have more than 16000 dimensions`.
    TooManyDims,
    /// `NaN not allowed in T`.
    NaN,
    /// `infinite value not allowed in T`.
    Infinite,
}

/// The SQLSTATE class a [`ParseError`] maps to (the extension picks the exact code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidTextRepresentation,
    NumericValueOutOfRange,
    DataException,
    ProgramLimitExceeded,
}

impl ParseError {
    /// pgvector's message for this error, for a type named `type_name` and the original input.
    pub fn message(&self, type_name: &str, input: &str) -> String {
        match self {
            ParseError::Syntax { .. } => {
                format!("invalid input syntax for type {type_name}: \"{input}\"")
            }
            ParseError::OutOfRange { token } => {
                format!("\"{token}\" is out of range for type {type_name}")
            }
            ParseError::Empty => format!("{type_name} must have at least 1 dimension"),
            ParseError::TooManyDims => {
                format!("{type_name} cannot have more than {MAX_DIM} dimensions")
            }
            ParseError::NaN => format!("NaN not allowed in {type_name}"),
            ParseError::Infinite => format!("infinite value not allowed in {type_name}"),
        }
    }

    pub fn detail(&self) -> Option<&'static str> {
        match self {
            ParseError::Syntax { detail } => *detail,
            _ => None,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            ParseError::Syntax { .. } => ErrorKind::InvalidTextRepresentation,
            ParseError::OutOfRange { .. } => ErrorKind::NumericValueOutOfRange,
            ParseError::Empty | ParseError::NaN | ParseError::Infinite => ErrorKind::DataException,
            ParseError::TooManyDims => ErrorKind::ProgramLimitExceeded,
        }
    }
}

/// C `isspace` in the "C" locale, as pgvector uses.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

pub(crate) fn skip_space(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    i
}

/// Length of the longest prefix of `s` that C `strtof` would consume as a number
/// (decimal with optional fraction and exponent, or inf/infinity/nan), 0 if none.
pub(crate) fn number_prefix_len(s: &[u8]) -> usize {
    let mut i = 0;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        i += 1;
    }
    let rest = &s[i..];
    let starts_with_ci =
        |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
    if starts_with_ci(b"infinity") {
        return i + 8;
    }
    if starts_with_ci(b"inf") || starts_with_ci(b"nan") {
        return i + 3;
    }
    let int_start = i;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < s.len() && s[i] == b'.' {
        let frac_start = i + 1;
        let mut j = frac_start;
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
        }
        digits += j - frac_start;
        if digits > 0 {
            i = j;
        }
    }
    if digits == 0 {
        return 0;
    }
    // An exponent counts only when at least one digit follows it.
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        let mut j = i + 1;
        if j < s.len() && (s[j] == b'+' || s[j] == b'-') {
            j += 1;
        }
        let exp_start = j;
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
        }
        if j > exp_start {
            i = j;
        }
    }
    i
}

/// Parse one number token (already known to be a valid strtof prefix) into an f32 with
/// correct rounding; returns `Err(OutOfRange)` when a finite literal overflows.
pub(crate) fn parse_number(token: &str) -> Result<f32, ParseError> {
    // Rust's parser accepts the same decimal/inf/nan grammar the scanner produced and rounds
    // correctly (like strtof, not via f64, so no double rounding).
    let v: f32 = token
        .parse()
        .map_err(|_| ParseError::Syntax { detail: None })?;
    if v.is_infinite() {
        let lower = token.trim_start_matches(['+', '-']).to_ascii_lowercase();
        if !lower.starts_with("inf") {
            return Err(ParseError::OutOfRange {
                token: token.to_string(),
            });
        }
    }
    // strtof reports ERANGE for a nonzero literal that rounds to zero; float4in (and so
    // pgvector) rejects it as out of range.
    if v == 0.0 {
        let mantissa = token.split(['e', 'E']).next().unwrap_or("");
        if mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
            return Err(ParseError::OutOfRange {
                token: token.to_string(),
            });
        }
    }
    Ok(v)
}

/// Parse the text form `[a,b,…]` into f32 elements, applying pgvector's checks
/// (syntax, at least one and at most [`MAX_DIM`] elements, no NaN or infinity).
pub fn parse_vector(input: &str) -> Result<Vec<f32>, ParseError> {
    parse_elements(input, Some)
}

/// Parse the text form into half-precision elements; a finite number that overflows f16
/// is out of range, as in pgvector's `halfvec_in`.
pub fn parse_halfvec(input: &str) -> Result<Vec<half::f16>, ParseError> {
    parse_elements(input, |v| {
        let h = half::f16::from_f32(v);
        (h.is_finite() || !v.is_finite()).then_some(h)
    })
}

/// Shared parser: `convert` turns each parsed f32 into the element type, or `None` when the
/// value does not fit it (reported as out of range with the offending token).
pub fn parse_elements<T: Copy + Into<f32>>(
    input: &str,
    convert: impl Fn(f32) -> Option<T>,
) -> Result<Vec<T>, ParseError> {
    let s = input.as_bytes();
    let mut i = skip_space(s, 0);
    if i >= s.len() || s[i] != b'[' {
        return Err(ParseError::Syntax {
            detail: Some("Vector contents must start with \"[\"."),
        });
    }
    i = skip_space(s, i + 1);
    if i < s.len() && s[i] == b']' {
        return Err(ParseError::Empty);
    }
    let mut out = Vec::new();
    loop {
        if out.len() == MAX_DIM {
            return Err(ParseError::TooManyDims);
        }
        i = skip_space(s, i);
        let len = number_prefix_len(&s[i..]);
        if len == 0 {
            return Err(ParseError::Syntax { detail: None });
        }
        // The scanner only accepts ASCII, so this slice is on char boundaries.
        let token = &input[i..i + len];
        let v = parse_number(token)?;
        let elem = convert(v).ok_or_else(|| ParseError::OutOfRange {
            token: token.to_string(),
        })?;
        let v: f32 = elem.into();
        if v.is_nan() {
            return Err(ParseError::NaN);
        }
        if v.is_infinite() {
            return Err(ParseError::Infinite);
        }
        out.push(elem);
        i = skip_space(s, i + len);
        match s.get(i) {
            Some(b',') => i += 1,
            Some(b']') => {
                i += 1;
                break;
            }
            _ => return Err(ParseError::Syntax { detail: None }),
        }
    }
    i = skip_space(s, i);
    if i != s.len() {
        return Err(ParseError::Syntax {
            detail: Some("Junk after closing right brace."),
        });
    }
    Ok(out)
}

/// Append the shortest text that reads back as exactly `v`, in Postgres' float4 output style.
pub fn write_f32(out: &mut String, v: f32) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v < 0.0 { "-Infinity" } else { "Infinity" });
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e-7".
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` exponent is an integer");
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if negative {
        out.push('-');
    }
    if (-4..6).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                for _ in digits.len()..int_len {
                    out.push('0');
                }
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
}

/// Format elements as `[a,b,…]`.
pub fn format_vector(values: impl IntoIterator<Item = f32>) -> String {
    let iter = values.into_iter();
    let mut out = String::with_capacity(2 + iter.size_hint().0 * 10);
    out.push('[');
    for (i, v) in iter.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_f32(&mut out, v);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(v: f32) -> String {
        let mut s = String::new();
        write_f32(&mut s, v);
        s
    }

    #[test]
    fn formats_like_postgres_float4out() {
        // Expected strings are what `SELECT x::float4::text` prints in Postgres 15.
        let cases: &[(f32, &str)] = &[
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1e6, "1e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.00012345, "0.00012345"),
            (1.5e-7, "1.5e-07"),
            (3.4028235e38, "3.4028235e+38"),
            (1e-45, "1e-45"),
            (100.0, "100"),
            (-0.0, "-0"),
            (0.0, "0"),
            (1.0 / 3.0, "0.33333334"),
            (16777216.0, "1.6777216e+07"),
        ];
        for (v, want) in cases {
            assert_eq!(fmt(*v), *want, "formatting {v:?}");
        }
    }

    #[test]
    fn output_round_trips_exactly() {
        // A stride through every finite positive bit pattern (subnormals to f32::MAX), both signs.
        for bits in (1u32..0x7f80_0000).step_by(7919).chain([0x7f7f_ffff]) {
            for sign in [0u32, 0x8000_0000] {
                let v = f32::from_bits(bits | sign);
                let text = fmt(v);
                let back: f32 = text.parse().unwrap();
                assert_eq!(back.to_bits(), v.to_bits(), "{v:e} -> {text}");
            }
        }
    }

    #[test]
    fn parses_valid_input() {
        assert_eq!(parse_vector("[1,2,3]").unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(
            parse_vector("  [ 1.5 ,\t-2e3,\n+.5 , 7. ]  ").unwrap(),
            vec![1.5, -2000.0, 0.5, 7.0]
        );
        // Underflow to zero is out of range (strtof's ERANGE, as pgvector checks it); zero is not.
        assert_eq!(
            parse_vector("[1e-50]"),
            Err(ParseError::OutOfRange {
                token: "1e-50".into()
            })
        );
        assert_eq!(parse_vector("[0e-50, -0.0]").unwrap(), vec![0.0, -0.0]);
        assert_eq!(parse_vector("[1E+2]").unwrap(), vec![100.0]);
        // Correct rounding straight to f32 (no double rounding via f64).
        assert_eq!(
            parse_vector("[1.00000005960464477539062500000001]").unwrap()[0].to_bits(),
            0x3f80_0001
        );
    }

    #[test]
    fn rejects_bad_input_with_pgvector_errors() {
        let syntax = |d| Err(ParseError::Syntax { detail: d });
        assert_eq!(
            parse_vector("1,2"),
            syntax(Some("Vector contents must start with \"[\"."))
        );
        assert_eq!(
            parse_vector(""),
            syntax(Some("Vector contents must start with \"[\"."))
        );
        assert_eq!(parse_vector("[]"), Err(ParseError::Empty));
        assert_eq!(parse_vector("[ ]"), Err(ParseError::Empty));
        assert_eq!(parse_vector("[1,]"), syntax(None));
        assert_eq!(parse_vector("[1,,2]"), syntax(None));
        assert_eq!(parse_vector("[1 2]"), syntax(None));
        assert_eq!(parse_vector("[1"), syntax(None));
        assert_eq!(parse_vector("[a]"), syntax(None));
        assert_eq!(parse_vector("[1e]"), syntax(None));
        assert_eq!(parse_vector("[.]"), syntax(None));
        assert_eq!(
            parse_vector("[1] x"),
            syntax(Some("Junk after closing right brace."))
        );
        assert_eq!(parse_vector("[NaN]"), Err(ParseError::NaN));
        assert_eq!(parse_vector("[-nan]"), Err(ParseError::NaN));
        assert_eq!(parse_vector("[inf]"), Err(ParseError::Infinite));
        assert_eq!(parse_vector("[-Infinity]"), Err(ParseError::Infinite));
        assert_eq!(
            parse_vector("[1,4e38]"),
            Err(ParseError::OutOfRange {
                token: "4e38".into()
            })
        );
        assert_eq!(
            parse_vector("[-1e39]"),
            Err(ParseError::OutOfRange {
                token: "-1e39".into()
            })
        );
    }

    #[test]
    fn dimension_limit() {
        let ok = format!("[{}]", vec!["1"; MAX_DIM].join(","));
        assert_eq!(parse_vector(&ok).unwrap().len(), MAX_DIM);
        let too_many = format!("[{}]", vec!["1"; MAX_DIM + 1].join(","));
        assert_eq!(parse_vector(&too_many), Err(ParseError::TooManyDims));
    }

    #[test]
    fn messages_match_pgvector() {
        assert_eq!(
            ParseError::Syntax { detail: None }.message("vector", "[x]"),
            "invalid input syntax for type vector: \"[x]\""
        );
        assert_eq!(
            ParseError::Empty.message("halfvec", ""),
            "halfvec must have at least 1 dimension"
        );
        assert_eq!(
            ParseError::TooManyDims.message("vector", ""),
            "vector cannot have more than 16000 dimensions"
        );
        assert_eq!(
            ParseError::OutOfRange {
                token: "1e39".into()
            }
            .message("vector", ""),
            "\"1e39\" is out of range for type vector"
        );
    }

    #[test]
    fn halfvec_range() {
        let h = parse_halfvec("[1.5, 65504, -0.1]").unwrap();
        assert_eq!(h[0].to_f32(), 1.5);
        assert_eq!(h[1].to_f32(), 65504.0);
        assert_eq!(h[2], half::f16::from_f32(-0.1));
        assert_eq!(
            parse_halfvec("[1, 70000]"),
            Err(ParseError::OutOfRange {
                token: "70000".into()
            })
        );
        assert_eq!(parse_halfvec("[inf]"), Err(ParseError::Infinite));
    }

    #[test]
    fn format_vector_joins() {
        assert_eq!(format_vector([1.0, -0.5, 1e10]), "[1,-0.5,1e+10]");
    }
}
