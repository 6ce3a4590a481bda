//! `sparsevec`: pgvector's sparse vector, as (dimension, sorted 0-based indices, non-zero
//! values).
//!
//! Text form `{1:1.5,3:2}/5` (1-based indices, any order in input, no zeros stored); the
//! checks and their order follow pgvector's `sparsevec_in`, so errors read the same.
//! Distances merge the two sorted index lists and accumulate in f32 in index order, as
//! pgvector does, so results are bit-identical to pgvector's.

use std::cmp::Ordering;

use crate::text::{number_prefix_len, parse_number, skip_space, write_f32, ParseError};

/// Largest `sparsevec` dimension.
pub const MAX_DIM: i64 = 1_000_000_000;
/// Most non-zero elements of one `sparsevec`.
pub const MAX_NNZ: usize = 16000;

/// A sparse vector: `indices` strictly ascending in `0..dim`, `values` non-zero and finite.
#[derive(Clone, Debug, PartialEq)]
pub struct Sparse {
    pub dim: i32,
    pub indices: Vec<i32>,
    pub values: Vec<f32>,
}

/// Why a sparse vector was rejected; [`SparseError::message`] gives pgvector's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SparseError {
    /// `invalid input syntax for type sparsevec: "…"`, with an optional detail.
    Syntax {
        detail: Option<&'static str>,
    },
    OutOfRange {
        token: String,
    },
    NaN,
    Infinite,
    TooFewDims,
    TooManyDims,
    NegativeNnz,
    TooManyNnz,
    NnzOverDim,
    IndexOutOfBounds,
    NotAscending,
    Duplicate,
    /// `expected N dimensions, not M`
    Expected {
        typmod: i32,
        dim: i32,
    },
}

/// The SQLSTATE class of a [`SparseError`].
pub use crate::text::ErrorKind;

impl SparseError {
    pub fn message(&self, input: &str) -> String {
        match self {
            SparseError::Syntax { .. } => {
                format!("invalid input syntax for type sparsevec: \"{input}\"")
            }
            SparseError::OutOfRange { token } => {
                format!("\"{token}\" is out of range for type sparsevec")
            }
            SparseError::NaN => "NaN not allowed in sparsevec".into(),
            SparseError::Infinite => "infinite value not allowed in sparsevec".into(),
            SparseError::TooFewDims => "sparsevec must have at least 1 dimension".into(),
            SparseError::TooManyDims => {
                format!("sparsevec cannot have more than {MAX_DIM} dimensions")
            }
            SparseError::NegativeNnz => "sparsevec cannot have negative number of elements".into(),
            SparseError::TooManyNnz => {
                format!("sparsevec cannot have more than {MAX_NNZ} non-zero elements")
            }
            SparseError::NnzOverDim => "sparsevec cannot have more elements than dimensions".into(),
            SparseError::IndexOutOfBounds => "sparsevec index out of bounds".into(),
            SparseError::NotAscending => "sparsevec indices must be in ascending order".into(),
            SparseError::Duplicate => "sparsevec indices must not contain duplicates".into(),
            SparseError::Expected { typmod, dim } => {
                format!("expected {typmod} dimensions, not {dim}")
            }
        }
    }

    pub fn detail(&self) -> Option<&'static str> {
        match self {
            SparseError::Syntax { detail } => *detail,
            _ => None,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            SparseError::Syntax { .. } => ErrorKind::InvalidTextRepresentation,
            SparseError::OutOfRange { .. } => ErrorKind::NumericValueOutOfRange,
            SparseError::TooManyDims | SparseError::TooManyNnz | SparseError::NnzOverDim => {
                ErrorKind::ProgramLimitExceeded
            }
            _ => ErrorKind::DataException,
        }
    }
}

/// pgvector's `CheckDim`.
pub fn check_dim(dim: i64) -> Result<(), SparseError> {
    if dim < 1 {
        return Err(SparseError::TooFewDims);
    }
    if dim > MAX_DIM {
        return Err(SparseError::TooManyDims);
    }
    Ok(())
}

/// pgvector's `CheckNnz`.
pub fn check_nnz(nnz: i64, dim: i64) -> Result<(), SparseError> {
    if nnz < 0 {
        return Err(SparseError::NegativeNnz);
    }
    if nnz > MAX_NNZ as i64 {
        return Err(SparseError::TooManyNnz);
    }
    if nnz > dim {
        return Err(SparseError::NnzOverDim);
    }
    Ok(())
}

/// pgvector's `CheckExpectedDim` (typmod −1: any).
pub fn check_expected(typmod: i32, dim: i32) -> Result<(), SparseError> {
    if typmod != -1 && typmod != dim {
        return Err(SparseError::Expected { typmod, dim });
    }
    Ok(())
}

/// pgvector's `CheckIndex` for element `i` of `indices`.
pub fn check_index(indices: &[i32], i: usize, dim: i32) -> Result<(), SparseError> {
    let index = indices[i];
    if index < 0 || index >= dim {
        return Err(SparseError::IndexOutOfBounds);
    }
    if i > 0 {
        if index < indices[i - 1] {
            return Err(SparseError::NotAscending);
        }
        if index == indices[i - 1] {
            return Err(SparseError::Duplicate);
        }
    }
    Ok(())
}

/// pgvector's `CheckElement`.
pub fn check_value(v: f32) -> Result<(), SparseError> {
    if v.is_nan() {
        return Err(SparseError::NaN);
    }
    if v.is_infinite() {
        return Err(SparseError::Infinite);
    }
    Ok(())
}

/// C `strtol` on `s`: the value (clamped to i64) and the bytes consumed (0: no number).
fn strtol(s: &[u8]) -> (i64, usize) {
    let mut i = skip_space(s, 0);
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let start = i;
    let mut v: i64 = 0;
    while let Some(d) = s.get(i).filter(|b| b.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add((d - b'0') as i64);
        i += 1;
    }
    if i == start {
        return (0, 0);
    }
    (if negative { -v } else { v }, i)
}

fn syntax() -> SparseError {
    SparseError::Syntax { detail: None }
}

/// Parse the text form `{i:v,…}/dim` with `typmod` (−1: any dimension), as `sparsevec_in`.
pub fn parse(input: &str, typmod: i32) -> Result<Sparse, SparseError> {
    let s = input.as_bytes();
    let max_nnz = 1 + s.iter().filter(|&&b| b == b',').count();
    if max_nnz > MAX_NNZ {
        return Err(SparseError::TooManyNnz);
    }
    let mut i = skip_space(s, 0);
    if s.get(i) != Some(&b'{') {
        return Err(SparseError::Syntax {
            detail: Some("Vector contents must start with \"{\"."),
        });
    }
    i = skip_space(s, i + 1);
    let mut elements: Vec<(i64, f32)> = Vec::new();
    if s.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            i = skip_space(s, i);
            if i >= s.len() {
                return Err(syntax());
            }
            let (index, len) = strtol(&s[i..]);
            if len == 0 {
                return Err(syntax());
            }
            // Kept in int range for the error message later, as pgvector does.
            let index = index.clamp(i32::MIN as i64 + 1, i32::MAX as i64);
            i = skip_space(s, i + len);
            if s.get(i) != Some(&b':') {
                return Err(syntax());
            }
            i = skip_space(s, i + 1);
            let len = number_prefix_len(&s[i..]);
            if len == 0 {
                return Err(syntax());
            }
            let token = &input[i..i + len];
            let value = parse_number(token).map_err(|e| match e {
                ParseError::OutOfRange { token } => SparseError::OutOfRange { token },
                _ => syntax(),
            })?;
            check_value(value)?;
            if value != 0.0 {
                elements.push((index - 1, value)); // 1-based (SQL) to 0-based
            }
            i = skip_space(s, i + len);
            match s.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return Err(syntax()),
            }
        }
    }
    i = skip_space(s, i);
    if s.get(i) != Some(&b'/') {
        return Err(SparseError::Syntax {
            detail: Some("Unexpected end of input."),
        });
    }
    let (dim, len) = strtol(&s[i + 1..]);
    if len == 0 {
        return Err(syntax());
    }
    let dim = dim.clamp(i32::MIN as i64, i32::MAX as i64);
    i = skip_space(s, i + 1 + len);
    if i != s.len() {
        return Err(SparseError::Syntax {
            detail: Some("Junk after closing."),
        });
    }
    check_dim(dim)?;
    let dim = dim as i32;
    check_expected(typmod, dim)?;
    elements.sort_by_key(|e| e.0);
    let mut out = Sparse {
        dim,
        indices: Vec::with_capacity(elements.len()),
        values: Vec::with_capacity(elements.len()),
    };
    for (k, (index, value)) in elements.into_iter().enumerate() {
        out.indices
            .push(index.clamp(i32::MIN as i64, i32::MAX as i64) as i32);
        out.values.push(value);
        check_index(&out.indices, k, dim)?;
    }
    Ok(out)
}

/// The text form, as `sparsevec_out` writes it.
pub fn format(dim: i32, indices: &[i32], values: &[f32]) -> String {
    let mut out = String::with_capacity(16 + indices.len() * 16);
    out.push('{');
    for (k, (&i, &v)) in indices.iter().zip(values).enumerate() {
        if k > 0 {
            out.push(',');
        }
        out.push_str(&(i as i64 + 1).to_string());
        out.push(':');
        write_f32(&mut out, v);
    }
    out.push_str("}/");
    out.push_str(&dim.to_string());
    out
}

/// The non-zero elements of a dense vector.
pub fn from_dense(values: impl IntoIterator<Item = f32>) -> (Vec<i32>, Vec<f32>) {
    let (mut idx, mut val) = (Vec::new(), Vec::new());
    for (i, v) in values.into_iter().enumerate() {
        if v != 0.0 {
            idx.push(i as i32);
            val.push(v);
        }
    }
    (idx, val)
}

/// A sparse vector's two sorted element lists, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct SparseRef<'a> {
    pub dim: i32,
    pub indices: &'a [i32],
    pub values: &'a [f32],
}

/// Walk the union of both index lists in order: `f(a, b)` with each side's value (0 where a
/// side has no element there).
#[inline]
fn merge(a: SparseRef, b: SparseRef, mut f: impl FnMut(f32, f32)) {
    let (mut i, mut j) = (0, 0);
    while i < a.indices.len() || j < b.indices.len() {
        let ai = a.indices.get(i).copied().unwrap_or(i32::MAX);
        let bj = b.indices.get(j).copied().unwrap_or(i32::MAX);
        match (i < a.indices.len(), j < b.indices.len(), ai.cmp(&bj)) {
            (true, true, Ordering::Equal) => {
                f(a.values[i], b.values[j]);
                i += 1;
                j += 1;
            }
            (true, _, Ordering::Less) | (true, false, _) => {
                f(a.values[i], 0.0);
                i += 1;
            }
            _ => {
                f(0.0, b.values[j]);
                j += 1;
            }
        }
    }
}

/// Squared L2 distance, accumulated in f32 in index order (pgvector's result bit for bit).
pub fn l2_squared(a: SparseRef, b: SparseRef) -> f32 {
    let mut d = 0f32;
    merge(a, b, |x, y| {
        let diff = x - y;
        d += diff * diff;
    });
    d
}

/// Inner product over the common indices, in f32 in index order.
pub fn inner_product(a: SparseRef, b: SparseRef) -> f32 {
    let (mut i, mut j, mut d) = (0, 0, 0f32);
    while i < a.indices.len() && j < b.indices.len() {
        match a.indices[i].cmp(&b.indices[j]) {
            Ordering::Equal => {
                d += a.values[i] * b.values[j];
                i += 1;
                j += 1;
            }
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
        }
    }
    d
}

/// L1 distance, in f32 in index order.
pub fn l1(a: SparseRef, b: SparseRef) -> f32 {
    let mut d = 0f32;
    merge(a, b, |x, y| d += (x - y).abs());
    d
}

/// Cosine distance as pgvector computes it (f32 norms, f64 quotient clamped to [−1, 1]).
pub fn cosine_distance(a: SparseRef, b: SparseRef) -> f64 {
    let norm = |v: &[f32]| v.iter().fold(0f32, |acc, &x| acc + x * x);
    let similarity =
        inner_product(a, b) as f64 / ((norm(a.values) as f64) * (norm(b.values) as f64)).sqrt();
    if similarity.is_nan() {
        return f64::NAN;
    }
    1.0 - similarity.clamp(-1.0, 1.0)
}

/// Euclidean norm, accumulated in f64.
pub fn l2_norm(values: &[f32]) -> f64 {
    values
        .iter()
        .map(|&x| x as f64 * x as f64)
        .sum::<f64>()
        .sqrt()
}

/// pgvector's `sparsevec_cmp`: compares as the dense vectors would (element by element, then
/// shorter first), without expanding them.
pub fn cmp(a: SparseRef, b: SparseRef) -> Ordering {
    let n = a.indices.len().min(b.indices.len());
    let sign = |v: f32| {
        if v < 0.0 {
            Ordering::Less
        } else {
            Ordering::Greater
        }
    };
    for k in 0..n {
        match a.indices[k].cmp(&b.indices[k]) {
            // a has a non-zero where b has zero
            Ordering::Less => return sign(a.values[k]),
            Ordering::Greater => return sign(b.values[k]).reverse(),
            Ordering::Equal => {}
        }
        if a.values[k] < b.values[k] {
            return Ordering::Less;
        }
        if a.values[k] > b.values[k] {
            return Ordering::Greater;
        }
    }
    if a.indices.len() < b.indices.len() && b.indices[n] < a.dim {
        return sign(b.values[n]).reverse();
    }
    if a.indices.len() > b.indices.len() && a.indices[n] < b.dim {
        return sign(a.values[n]);
    }
    a.dim.cmp(&b.dim)
}

/// Most non-zero elements of a `sparsevec` an hnsw index holds (pgvector's limit).
pub const HNSW_MAX_NNZ: usize = 1000;

/// Bytes of a sparse vector with `nnz` elements as an index stores it.
pub fn stored_len(nnz: usize) -> usize {
    4 + 8 * nnz
}

/// A sparse vector as an index stores it (native endianness, 4-byte aligned where it lies):
/// `nnz u32, indices[nnz] i32, values[nnz] f32`. The dimension is the index's.
pub fn encode(indices: &[i32], values: &[f32]) -> Vec<u8> {
    debug_assert_eq!(indices.len(), values.len());
    let mut out = Vec::with_capacity(stored_len(indices.len()));
    out.extend_from_slice(&(indices.len() as u32).to_ne_bytes());
    for i in indices {
        out.extend_from_slice(&i.to_ne_bytes());
    }
    for v in values {
        out.extend_from_slice(&v.to_ne_bytes());
    }
    out
}

/// Length of the stored sparse vector at the start of `bytes` (`None`: too short to hold it).
pub fn stored_len_of(bytes: &[u8]) -> Option<usize> {
    let nnz = u32::from_ne_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let len = stored_len(nnz);
    (bytes.len() >= len).then_some(len)
}

/// A stored sparse vector's element lists, read in place when `bytes` is 4-byte aligned (pages
/// and the build's arena are), else copied into `copy`.
pub fn stored_view<'a>(bytes: &'a [u8], copy: &'a mut (Vec<i32>, Vec<f32>)) -> SparseRef<'a> {
    let nnz = stored_len_of(bytes).map_or(0, |l| (l - 4) / 8);
    let idx = &bytes[4..4 + 4 * nnz];
    let val = &bytes[4 + 4 * nnz..4 + 8 * nnz];
    // SAFETY: every bit pattern is a valid i32 and f32.
    let (ip, im, _) = unsafe { idx.align_to::<i32>() };
    let (vp, vm, _) = unsafe { val.align_to::<f32>() };
    if ip.is_empty() && vp.is_empty() && im.len() == nnz && vm.len() == nnz {
        return SparseRef {
            dim: 0,
            indices: im,
            values: vm,
        };
    }
    let word = |c: &[u8]| -> [u8; 4] { c.try_into().unwrap() };
    copy.0 = idx
        .chunks_exact(4)
        .map(|c| i32::from_ne_bytes(word(c)))
        .collect();
    copy.1 = val
        .chunks_exact(4)
        .map(|c| f32::from_ne_bytes(word(c)))
        .collect();
    SparseRef {
        dim: 0,
        indices: &copy.0,
        values: &copy.1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    fn r(s: &Sparse) -> SparseRef<'_> {
        SparseRef {
            dim: s.dim,
            indices: &s.indices,
            values: &s.values,
        }
    }

    fn dense(s: &Sparse) -> Vec<f32> {
        let mut d = vec![0f32; s.dim as usize];
        for (&i, &v) in s.indices.iter().zip(&s.values) {
            d[i as usize] = v;
        }
        d
    }

    fn random(rng: &mut SmallRng, dim: i32, density: f64) -> Sparse {
        let mut d = Vec::with_capacity(dim as usize);
        for _ in 0..dim {
            d.push(if rng.gen_bool(density) {
                (rng.gen_range(-8i32..=8) as f32) * 0.25 // exact sums: the reference is exact
            } else {
                0.0
            });
        }
        let (indices, values) = from_dense(d);
        Sparse {
            dim,
            indices,
            values,
        }
    }

    #[test]
    fn text_round_trips_and_sorts() {
        let s = parse(" { 3:2 , 1:1.5 }/5 ", -1).unwrap();
        assert_eq!(s.indices, vec![0, 2]);
        assert_eq!(s.values, vec![1.5, 2.0]);
        assert_eq!(format(s.dim, &s.indices, &s.values), "{1:1.5,3:2}/5");
        assert_eq!(parse("{}/3", -1).unwrap().indices, Vec::<i32>::new());
        assert_eq!(
            parse("{1:0,2:1}/2", -1).unwrap().indices,
            vec![1],
            "zeros dropped"
        );
        assert_eq!(format(3, &[], &[]), "{}/3");
    }

    #[test]
    fn text_errors_are_pgvectors() {
        let cases: &[(&str, i32, SparseError)] = &[
            (
                "[1]/2",
                -1,
                SparseError::Syntax {
                    detail: Some("Vector contents must start with \"{\"."),
                },
            ),
            (
                "{1:1}",
                -1,
                SparseError::Syntax {
                    detail: Some("Unexpected end of input."),
                },
            ),
            (
                "{1:1}/2x",
                -1,
                SparseError::Syntax {
                    detail: Some("Junk after closing."),
                },
            ),
            ("{1:}/2", -1, SparseError::Syntax { detail: None }),
            ("{a:1}/2", -1, SparseError::Syntax { detail: None }),
            ("{1:1,}/2", -1, SparseError::Syntax { detail: None }),
            ("{1:1}/", -1, SparseError::Syntax { detail: None }),
            ("{1:NaN}/2", -1, SparseError::NaN),
            ("{1:inf}/2", -1, SparseError::Infinite),
            (
                "{1:1e39}/2",
                -1,
                SparseError::OutOfRange {
                    token: "1e39".into(),
                },
            ),
            ("{}/0", -1, SparseError::TooFewDims),
            ("{}/1000000001", -1, SparseError::TooManyDims),
            ("{0:1}/2", -1, SparseError::IndexOutOfBounds),
            ("{3:1}/2", -1, SparseError::IndexOutOfBounds),
            ("{1:1,1:2}/2", -1, SparseError::Duplicate),
            ("{1:1}/2", 3, SparseError::Expected { typmod: 3, dim: 2 }),
        ];
        for (input, typmod, want) in cases {
            assert_eq!(parse(input, *typmod).as_ref(), Err(want), "{input}");
        }
        let many = format!("{{{}}}/100000", vec!["1:1"; 16001].join(","));
        assert_eq!(parse(&many, -1), Err(SparseError::TooManyNnz));
        assert_eq!(
            SparseError::IndexOutOfBounds.message(""),
            "sparsevec index out of bounds"
        );
    }

    #[test]
    fn distances_match_a_dense_reference() {
        let mut rng = SmallRng::seed_from_u64(11);
        for (dim, density) in [(1, 1.0), (7, 0.5), (100, 0.05), (1000, 0.3), (33, 0.0)] {
            for _ in 0..20 {
                let (a, b) = (
                    random(&mut rng, dim, density),
                    random(&mut rng, dim, density),
                );
                let (da, db) = (dense(&a), dense(&b));
                let want_l2: f64 = da
                    .iter()
                    .zip(&db)
                    .map(|(x, y)| ((x - y) as f64).powi(2))
                    .sum();
                let want_ip: f64 = da.iter().zip(&db).map(|(x, y)| (x * y) as f64).sum();
                let want_l1: f64 = da
                    .iter()
                    .zip(&db)
                    .map(|(x, y)| ((x - y) as f64).abs())
                    .sum();
                assert_eq!(l2_squared(r(&a), r(&b)) as f64, want_l2);
                assert_eq!(inner_product(r(&a), r(&b)) as f64, want_ip);
                assert_eq!(l1(r(&a), r(&b)) as f64, want_l1);
                let (na, nb) = (l2_norm(&a.values), l2_norm(&b.values));
                let cos = cosine_distance(r(&a), r(&b));
                if na > 0.0 && nb > 0.0 {
                    let want = 1.0 - (want_ip / (na * nb)).clamp(-1.0, 1.0);
                    assert!((cos - want).abs() < 1e-6, "{cos} vs {want}");
                } else {
                    assert!(cos.is_nan());
                }
                // Ordering equals the dense vectors' element-wise order.
                let want_cmp = da
                    .iter()
                    .zip(&db)
                    .find_map(|(x, y)| x.partial_cmp(y).filter(|o| o.is_ne()))
                    .unwrap_or(Ordering::Equal);
                assert_eq!(cmp(r(&a), r(&b)), want_cmp);
            }
        }
    }

    #[test]
    fn order_with_different_dimensions_is_shorter_first_after_elements() {
        let p = |s: &str| parse(s, -1).unwrap();
        let cases = [
            ("{1:1}/2", "{1:1}/3", Ordering::Less),
            ("{}/3", "{2:-1}/2", Ordering::Greater),
            ("{2:1}/2", "{}/3", Ordering::Greater),
            ("{1:1}/2", "{1:1}/2", Ordering::Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(cmp(r(&p(a)), r(&p(b))), want, "{a} vs {b}");
        }
    }
}
