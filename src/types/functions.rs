//! SQL-callable functions of `vector` and `halfvec`.
//!
//! Each function is written once, generic over the element type, and [`vector_functions!`]
//! stamps out the `#[pg_extern]` entry points for both types (`vector_l2_distance`,
//! `halfvec_l2_distance`, …). Their SQL declarations are hand-written in `sql/`; symbol names
//! there are the Rust names with `_wrapper` appended.

use std::ffi::{CStr, CString};

use half::f16;
use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::text::{self, ErrorKind, MAX_DIM};

use super::array::ArrayArg;
use super::*;

// ---------------------------------------------------------------- I/O

pub fn text_in<E: Element>(input: &CStr, typmod: i32) -> PgVec<E> {
    let s = input.to_string_lossy();
    match E::parse(&s) {
        Ok(values) => {
            check_expected_dim(typmod, values.len());
            PgVec::from_slice(&values)
        }
        Err(e) => {
            let code = match e.kind() {
                ErrorKind::InvalidTextRepresentation => {
                    PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION
                }
                ErrorKind::NumericValueOutOfRange => {
                    PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE
                }
                ErrorKind::DataException => PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
                ErrorKind::ProgramLimitExceeded => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            };
            let message = e.message(E::TYPE_NAME, &s);
            match e.detail() {
                Some(detail) => {
                    ereport!(ERROR, code, message, detail);
                }
                None => error(code, message),
            }
        }
    }
}

pub fn text_out<E: Element>(v: &PgVec<E>) -> CString {
    let s = text::format_vector(v.as_slice().iter().map(|&x| x.into()));
    CString::new(s).expect("formatted vectors contain no NUL")
}

pub fn typmod_in<E: Element>(list: ArrayArg) -> i32 {
    let mods = list.integer_typmods();
    if mods.len() != 1 {
        error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "invalid type modifier".into(),
        );
    }
    let n = mods[0];
    if n < 1 {
        error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("dimensions for type {} must be at least 1", E::TYPE_NAME),
        );
    }
    if n as usize > MAX_DIM {
        error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!(
                "dimensions for type {} cannot exceed {MAX_DIM}",
                E::TYPE_NAME
            ),
        );
    }
    n
}

/// Element codec of the binary wire format (network byte order).
pub trait WireElement: Element {
    const WIRE_SIZE: usize;
    fn put(self, out: &mut [u8]);
    fn get(bytes: &[u8]) -> Self;
}

impl WireElement for f32 {
    const WIRE_SIZE: usize = 4;
    fn put(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_bits().to_be_bytes());
    }
    fn get(b: &[u8]) -> Self {
        f32::from_bits(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

impl WireElement for f16 {
    const WIRE_SIZE: usize = 2;
    fn put(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_bits().to_be_bytes());
    }
    fn get(b: &[u8]) -> Self {
        f16::from_bits(u16::from_be_bytes([b[0], b[1]]))
    }
}

/// Binary input: int16 dim, int16 unused (must be 0), dim elements, all big-endian.
/// Every length is checked before it is read; the message cursor ends after the value.
/// A binary-input message (`StringInfo`) read front to back; every read is checked against
/// the message's length (Postgres' "insufficient data left in message"), and the message's
/// cursor is moved past what was read when the reader is dropped.
pub struct Message<'a> {
    buf: &'a mut pg_sys::StringInfoData,
    cursor: usize,
}

impl Message<'_> {
    pub fn new(buf: pgrx::Internal) -> Self {
        let buf = unsafe {
            &mut *(buf
                .unwrap()
                .expect("recv buffer")
                .cast_mut_ptr::<pg_sys::StringInfoData>())
        };
        let cursor = buf.cursor as usize;
        Message { buf, cursor }
    }

    pub fn take(&mut self, n: usize) -> &[u8] {
        let len = self.buf.len as usize;
        if n > len.saturating_sub(self.cursor) {
            error(
                PgSqlErrorCode::ERRCODE_PROTOCOL_VIOLATION,
                "insufficient data left in message".into(),
            );
        }
        let data = unsafe { std::slice::from_raw_parts(self.buf.data as *const u8, len) };
        let s = &data[self.cursor..self.cursor + n];
        self.cursor += n;
        s
    }

    pub fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().unwrap())
    }

    pub fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }

    pub fn f32(&mut self) -> f32 {
        f32::from_bits(u32::from_be_bytes(self.take(4).try_into().unwrap()))
    }
}

impl Drop for Message<'_> {
    fn drop(&mut self) {
        self.buf.cursor = self.cursor as i32;
    }
}

pub fn binary_recv<E: WireElement>(buf: pgrx::Internal, typmod: i32) -> PgVec<E> {
    let mut msg = Message::new(buf);
    let dim = msg.i16();
    let unused = msg.i16();
    check_dim::<E>(dim.max(0) as usize);
    check_expected_dim(typmod, dim as usize);
    if unused != 0 {
        error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("expected unused to be 0, not {unused}"),
        );
    }
    let body = msg.take(dim as usize * E::WIRE_SIZE);
    let mut v = PgVec::<E>::zeroed(dim as usize);
    for (slot, bytes) in v
        .as_mut_slice()
        .iter_mut()
        .zip(body.chunks_exact(E::WIRE_SIZE))
    {
        let x = E::get(bytes);
        check_element::<E>(x.into());
        *slot = x;
    }
    v
}

pub fn binary_send<E: WireElement>(v: &PgVec<E>) -> RawVarlena {
    let (out, body) = RawVarlena::zeroed(4 + v.dim() * E::WIRE_SIZE);
    body[0..2].copy_from_slice(&(v.dim() as i16).to_be_bytes());
    for (x, chunk) in v
        .as_slice()
        .iter()
        .zip(body[4..].chunks_exact_mut(E::WIRE_SIZE))
    {
        x.put(chunk);
    }
    out
}

/// The `vector(n)` type-modifier cast.
pub fn typmod_cast<E: Element>(v: PgVec<E>, typmod: i32) -> PgVec<E> {
    check_expected_dim(typmod, v.dim());
    v
}

/// Values (from an array or another vector type) into a new vector, with every check.
pub fn from_f32_values<E: Element>(values: &[f32], typmod: i32) -> PgVec<E> {
    check_dim::<E>(values.len());
    check_expected_dim(typmod, values.len());
    let mut v = PgVec::<E>::zeroed(values.len());
    for (slot, &x) in v.as_mut_slice().iter_mut().zip(values) {
        check_element::<E>(x);
        *slot = E::from_f32(x).unwrap_or_else(|| out_of_range::<E>(x));
    }
    v
}

// ---------------------------------------------------------------- distances

pub fn l2_distance<E: Element>(a: &PgVec<E>, b: &PgVec<E>) -> f64 {
    check_same_dims(a, b);
    (E::l2_squared(a.as_slice(), b.as_slice()) as f64).sqrt()
}

pub fn l2_squared_distance<E: Element>(a: &PgVec<E>, b: &PgVec<E>) -> f64 {
    check_same_dims(a, b);
    E::l2_squared(a.as_slice(), b.as_slice()) as f64
}

pub fn inner_product<E: Element>(a: &PgVec<E>, b: &PgVec<E>) -> f64 {
    check_same_dims(a, b);
    E::dot(a.as_slice(), b.as_slice()) as f64
}

/// 1 − cos θ, clamped to [0, 2]; NaN when either vector is zero (as pgvector).
pub fn cosine_distance<E: Element>(a: &PgVec<E>, b: &PgVec<E>) -> f64 {
    check_same_dims(a, b);
    let (dot, na, nb) = E::cosine_parts(a.as_slice(), b.as_slice());
    let similarity = dot as f64 / (na as f64 * nb as f64).sqrt();
    1.0 - similarity.clamp(-1.0, 1.0)
}

pub fn l1_distance<E: Element>(a: &PgVec<E>, b: &PgVec<E>) -> f64 {
    check_same_dims(a, b);
    E::l1(a.as_slice(), b.as_slice()) as f64
}

/// Angle between unit vectors as a fraction of π (used by IVF on normalised data).
pub fn spherical_distance<E: Element>(a: &PgVec<E>, b: &PgVec<E>) -> f64 {
    check_same_dims(a, b);
    let dot = (E::dot(a.as_slice(), b.as_slice()) as f64).clamp(-1.0, 1.0);
    dot.acos() / std::f64::consts::PI
}

// ---------------------------------------------------------------- other functions

pub fn norm<E: Element>(v: &PgVec<E>) -> f64 {
    v.as_slice()
        .iter()
        .map(|&x| {
            let x: f32 = x.into();
            x as f64 * x as f64
        })
        .sum::<f64>()
        .sqrt()
}

pub fn l2_normalize<E: Element>(v: &PgVec<E>) -> PgVec<E> {
    let n = norm(v);
    if n > 0.0 {
        PgVec::from_f32_checked(v.as_slice().iter().map(|&x| (x.into() as f64 / n) as f32))
    } else {
        PgVec::from_slice(v.as_slice())
    }
}

/// `bit(dim)` with bit i set where x[i] > 0 (pgvector's binary_quantize).
pub fn binary_quantize<E: Element>(v: &PgVec<E>) -> RawVarlena {
    let dim = v.dim();
    let (out, body) = RawVarlena::zeroed(4 + dim.div_ceil(8));
    body[..4].copy_from_slice(&(dim as i32).to_ne_bytes());
    for (i, &x) in v.as_slice().iter().enumerate() {
        if x.into() > 0.0 {
            body[4 + i / 8] |= 0x80 >> (i % 8);
        }
    }
    out
}

/// Elements start..start+count (1-based, clipped like `substring`).
pub fn subvector<E: Element>(v: &PgVec<E>, start: i32, count: i32) -> PgVec<E> {
    let dim = v.dim() as i64;
    let (start, count) = (start as i64, count as i64);
    let empty = || -> ! {
        error(
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            format!("{} must have at least 1 dimension", E::TYPE_NAME),
        )
    };
    if count < 1 {
        empty();
    }
    let end = (start + count).min(dim + 1);
    let first = start.max(1);
    if first > dim || end <= first {
        empty();
    }
    PgVec::from_slice(&v.as_slice()[(first - 1) as usize..(end - 1) as usize])
}

fn elementwise<E: Element>(
    a: &PgVec<E>,
    b: &PgVec<E>,
    op: impl Fn(f32, f32) -> f32,
    check_underflow: bool,
) -> PgVec<E> {
    check_same_dims(a, b);
    let mut out = PgVec::<E>::zeroed(a.dim());
    for ((slot, &x), &y) in out
        .as_mut_slice()
        .iter_mut()
        .zip(a.as_slice())
        .zip(b.as_slice())
    {
        let (x, y) = (x.into(), y.into());
        let r = op(x, y);
        let e = E::from_f32(r)
            .filter(|_| r.is_finite())
            .unwrap_or_else(|| overflow_error());
        if check_underflow && e.into() == 0.0 && x != 0.0 && y != 0.0 {
            underflow_error();
        }
        *slot = e;
    }
    out
}

pub fn add<E: Element>(a: &PgVec<E>, b: &PgVec<E>) -> PgVec<E> {
    elementwise(a, b, |x, y| x + y, false)
}

pub fn sub<E: Element>(a: &PgVec<E>, b: &PgVec<E>) -> PgVec<E> {
    elementwise(a, b, |x, y| x - y, false)
}

pub fn mul<E: Element>(a: &PgVec<E>, b: &PgVec<E>) -> PgVec<E> {
    elementwise(a, b, |x, y| x * y, true)
}

pub fn concat<E: Element>(a: &PgVec<E>, b: &PgVec<E>) -> PgVec<E> {
    let dim = a.dim() + b.dim();
    check_dim::<E>(dim);
    let mut out = PgVec::<E>::zeroed(dim);
    out.as_mut_slice()[..a.dim()].copy_from_slice(a.as_slice());
    out.as_mut_slice()[a.dim()..].copy_from_slice(b.as_slice());
    out
}

/// Element-wise order, then shorter first (pgvector's btree order).
pub fn cmp<E: Element>(a: &PgVec<E>, b: &PgVec<E>) -> i32 {
    for (x, y) in a.as_slice().iter().zip(b.as_slice()) {
        let (x, y): (f32, f32) = ((*x).into(), (*y).into());
        if x < y {
            return -1;
        }
        if x > y {
            return 1;
        }
    }
    (a.dim() as i64 - b.dim() as i64).signum() as i32
}

// ---------------------------------------------------------------- aggregates

/// avg state: `{n, Σx₀, Σx₁, …}` in double precision; starts as `{0}`. States are SQL values a
/// user can pass in directly, so each is checked as pgvector does (`vector_accum: expected
/// state array`) and every vector built from one has 1..=16000 dimensions.
pub fn accum<E: Element>(state: ArrayArg, v: &PgVec<E>) -> Vec<f64> {
    let s = state.state_values(&format!("{}_accum", E::TYPE_NAME));
    let dim = s.len() - 1;
    if dim != 0 {
        check_expected_dim(dim as i32, v.dim());
    }
    let mut out = Vec::with_capacity(1 + v.dim());
    out.push(s[0] + 1.0);
    for (i, &x) in v.as_slice().iter().enumerate() {
        let x = x.into() as f64;
        let sum = if dim == 0 { x } else { s[i + 1] + x };
        if sum.is_infinite() {
            overflow_error();
        }
        out.push(sum);
    }
    out
}

/// Merges two avg states (parallel aggregation); shared by `vector` and `halfvec`, as in
/// pgvector.
pub fn combine(a: ArrayArg, b: ArrayArg) -> Vec<f64> {
    let a = a.state_values("vector_combine");
    let b = b.state_values("vector_combine");
    let out = if a[0] == 0.0 {
        b
    } else if b[0] == 0.0 {
        a
    } else {
        check_expected_dim((a.len() - 1) as i32, b.len() - 1);
        let mut out = a;
        out[0] += b[0];
        for (x, y) in out[1..].iter_mut().zip(&b[1..]) {
            *x += y;
            if x.is_infinite() {
                overflow_error();
            }
        }
        out
    };
    if out.len() > 1 || out[0] != 0.0 {
        check_dim::<f32>(out.len() - 1);
    }
    out
}

/// Final avg; NULL when no rows were aggregated.
pub fn avg<E: Element>(state: ArrayArg) -> Option<PgVec<E>> {
    let s = state.state_values(&format!("{}_avg", E::TYPE_NAME));
    let n = s[0];
    if n == 0.0 {
        return None;
    }
    check_dim::<E>(s.len() - 1);
    // As pgvector: each mean rounded to the element type (out of range for halfvec is an
    // error naming the value), then the element checks (NaN, infinity).
    let mut v = PgVec::<E>::zeroed(s.len() - 1);
    for (slot, &sum) in v.as_mut_slice().iter_mut().zip(&s[1..]) {
        let x = (sum / n) as f32;
        let e = E::from_f32(x).unwrap_or_else(|| out_of_range::<E>(x));
        check_element::<E>(e.into());
        *slot = e;
    }
    Some(v)
}

// ---------------------------------------------------------------- entry points

/// Declares the `#[pg_extern]` entry points of one vector type, named `<prefix>_<function>`.
macro_rules! vector_functions {
    ($prefix:ident, $elem:ty) => {
        paste::paste! {
            type [<$prefix:camel T>] = PgVec<$elem>;

            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _in>](input: &CStr, _oid: pg_sys::Oid, typmod: i32) -> [<$prefix:camel T>] {
                text_in(input, typmod)
            }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _out>](v: [<$prefix:camel T>]) -> CString { text_out(&v) }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _typmod_in>](list: ArrayArg) -> i32 { typmod_in::<$elem>(list) }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _recv>](buf: pgrx::Internal, _oid: pg_sys::Oid, typmod: i32) -> [<$prefix:camel T>] {
                binary_recv(buf, typmod)
            }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _send>](v: [<$prefix:camel T>]) -> RawVarlena { binary_send(&v) }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _typmod_cast>](v: [<$prefix:camel T>], typmod: i32, _explicit: bool) -> [<$prefix:camel T>] {
                typmod_cast(v, typmod)
            }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<array_to_ $prefix>](a: ArrayArg, typmod: i32, _explicit: bool) -> [<$prefix:camel T>] {
                let values = a.to_f32_vec_checked(|n| {
                    check_dim::<$elem>(n);
                    check_expected_dim(typmod, n);
                });
                from_f32_values(&values, typmod)
            }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _to_float4>](v: [<$prefix:camel T>], _typmod: i32, _explicit: bool) -> Vec<f32> {
                v.to_f32_vec()
            }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _to_float8>](v: [<$prefix:camel T>], _typmod: i32, _explicit: bool) -> Vec<f64> {
                v.as_slice().iter().map(|&x| Into::<f32>::into(x) as f64).collect()
            }

            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _l2_distance>](a: [<$prefix:camel T>], b: [<$prefix:camel T>]) -> f64 { l2_distance(&a, &b) }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _l2_squared_distance>](a: [<$prefix:camel T>], b: [<$prefix:camel T>]) -> f64 { l2_squared_distance(&a, &b) }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _inner_product>](a: [<$prefix:camel T>], b: [<$prefix:camel T>]) -> f64 { inner_product(&a, &b) }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _negative_inner_product>](a: [<$prefix:camel T>], b: [<$prefix:camel T>]) -> f64 { -inner_product(&a, &b) }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _cosine_distance>](a: [<$prefix:camel T>], b: [<$prefix:camel T>]) -> f64 { cosine_distance(&a, &b) }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _l1_distance>](a: [<$prefix:camel T>], b: [<$prefix:camel T>]) -> f64 { l1_distance(&a, &b) }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _spherical_distance>](a: [<$prefix:camel T>], b: [<$prefix:camel T>]) -> f64 { spherical_distance(&a, &b) }

            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _dims>](v: [<$prefix:camel T>]) -> i32 { v.dim() as i32 }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _norm>](v: [<$prefix:camel T>]) -> f64 { norm(&v) }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _l2_normalize>](v: [<$prefix:camel T>]) -> [<$prefix:camel T>] { l2_normalize(&v) }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _binary_quantize>](v: [<$prefix:camel T>]) -> RawVarlena { binary_quantize(&v) }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _subvector>](v: [<$prefix:camel T>], start: i32, count: i32) -> [<$prefix:camel T>] {
                subvector(&v, start, count)
            }

            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _add>](a: [<$prefix:camel T>], b: [<$prefix:camel T>]) -> [<$prefix:camel T>] { add(&a, &b) }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _sub>](a: [<$prefix:camel T>], b: [<$prefix:camel T>]) -> [<$prefix:camel T>] { sub(&a, &b) }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _mul>](a: [<$prefix:camel T>], b: [<$prefix:camel T>]) -> [<$prefix:camel T>] { mul(&a, &b) }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _concat>](a: [<$prefix:camel T>], b: [<$prefix:camel T>]) -> [<$prefix:camel T>] { concat(&a, &b) }

            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _cmp>](a: [<$prefix:camel T>], b: [<$prefix:camel T>]) -> i32 { cmp(&a, &b) }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _lt>](a: [<$prefix:camel T>], b: [<$prefix:camel T>]) -> bool { cmp(&a, &b) < 0 }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _le>](a: [<$prefix:camel T>], b: [<$prefix:camel T>]) -> bool { cmp(&a, &b) <= 0 }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _eq>](a: [<$prefix:camel T>], b: [<$prefix:camel T>]) -> bool { cmp(&a, &b) == 0 }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _ne>](a: [<$prefix:camel T>], b: [<$prefix:camel T>]) -> bool { cmp(&a, &b) != 0 }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _ge>](a: [<$prefix:camel T>], b: [<$prefix:camel T>]) -> bool { cmp(&a, &b) >= 0 }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _gt>](a: [<$prefix:camel T>], b: [<$prefix:camel T>]) -> bool { cmp(&a, &b) > 0 }

            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _accum>](state: ArrayArg, v: [<$prefix:camel T>]) -> Vec<f64> { accum(state, &v) }
            #[pg_extern(immutable, strict, parallel_safe, sql = false)]
            fn [<$prefix _avg>](state: ArrayArg) -> Option<[<$prefix:camel T>]> { avg(state) }
        }
    };
}

vector_functions!(vector, f32);
vector_functions!(halfvec, f16);

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn vector_combine(a: ArrayArg, b: ArrayArg) -> Vec<f64> {
    combine(a, b)
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn halfvec_to_vector(v: HalfVec, typmod: i32, _explicit: bool) -> Vector {
    from_f32_values(&v.to_f32_vec(), typmod)
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn vector_to_halfvec(v: Vector, typmod: i32, _explicit: bool) -> HalfVec {
    from_f32_values(v.as_slice(), typmod)
}
