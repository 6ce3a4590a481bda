//! The `sparsevec` type: pgvector's sparse vector, same on-disk layout, text and binary forms.
//!
//! ```text
//!  0        4        8        12       16                  16 + 4·nnz            16 + 8·nnz
//!  +--------+--------+--------+--------+-------------------+---------------------+
//!  | vl_len | dim    | nnz    | unused | indices[nnz] i32  | values[nnz] f32     |
//!  | u32    | i32    | i32    | i32 =0 | 0-based, ascending| non-zero, finite    |
//!  +--------+--------+--------+--------+-------------------+---------------------+
//! ```
//! Parsing, formatting, distances and ordering live in `vector_core::sparse`.

use std::ffi::{CStr, CString};
use std::ptr::NonNull;

use half::f16;
use pgrx::callconv::{Arg, ArgAbi, BoxRet, FcInfo};
use pgrx::datum::Datum;
use pgrx::nullable::Nullable;
use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::sparse::{self, Sparse, SparseError, SparseRef};
use vector_core::text::ErrorKind;

use super::array::ArrayArg;
use super::functions::Message;
use super::{error, error_with_detail, overflow_error, HalfVec, RawVarlena, Vector};

const HEADER: usize = 16;

/// A `sparsevec` value in Postgres memory.
pub struct PgSparse {
    ptr: NonNull<u8>,
}

impl PgSparse {
    fn word(&self, at: usize) -> i32 {
        unsafe { (self.ptr.as_ptr().add(at) as *const i32).read() }
    }

    pub fn dim(&self) -> i32 {
        self.word(4)
    }

    pub fn nnz(&self) -> usize {
        self.word(8) as usize
    }

    pub fn indices(&self) -> &[i32] {
        unsafe {
            std::slice::from_raw_parts(self.ptr.as_ptr().add(HEADER) as *const i32, self.nnz())
        }
    }

    pub fn values(&self) -> &[f32] {
        unsafe {
            std::slice::from_raw_parts(
                self.ptr.as_ptr().add(HEADER + 4 * self.nnz()) as *const f32,
                self.nnz(),
            )
        }
    }

    pub fn as_ref(&self) -> SparseRef<'_> {
        SparseRef {
            dim: self.dim(),
            indices: self.indices(),
            values: self.values(),
        }
    }

    /// A new value (the caller has checked dimension, nnz and indices).
    pub fn new(dim: i32, indices: &[i32], values: &[f32]) -> PgSparse {
        let nnz = indices.len();
        assert!(nnz == values.len() && nnz <= sparse::MAX_NNZ && dim >= 1);
        let size = HEADER + 8 * nnz;
        unsafe {
            let p = pg_sys::palloc0(size) as *mut u8;
            super::set_varsize_4b(p, size);
            (p.add(4) as *mut i32).write(dim);
            (p.add(8) as *mut i32).write(nnz as i32);
            std::ptr::copy_nonoverlapping(indices.as_ptr(), p.add(HEADER) as *mut i32, nnz);
            std::ptr::copy_nonoverlapping(
                values.as_ptr(),
                p.add(HEADER + 4 * nnz) as *mut f32,
                nnz,
            );
            PgSparse {
                ptr: NonNull::new_unchecked(p),
            }
        }
    }

    fn from_sparse(s: &Sparse) -> PgSparse {
        PgSparse::new(s.dim, &s.indices, &s.values)
    }
}

impl FromDatum for PgSparse {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _typoid: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null {
            return None;
        }
        let p = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as *mut u8;
        let v = PgSparse {
            ptr: NonNull::new(p).expect("non-null sparsevec datum"),
        };
        // Never read past the value, whatever its header says.
        let size = super::varsize_4b(p);
        let (dim, nnz) = if size >= HEADER {
            (v.dim(), v.word(8))
        } else {
            (0, 0) // too short to hold a header: rejected below
        };
        if dim < 1 || nnz < 0 || nnz as usize > sparse::MAX_NNZ || size < HEADER + 8 * nnz as usize
        {
            error(
                PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                format!("invalid sparsevec value: {nnz} elements in {size} bytes"),
            );
        }
        Some(v)
    }
}

unsafe impl<'fcx> ArgAbi<'fcx> for PgSparse {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        arg.unbox_arg_using_from_datum()
            .unwrap_or_else(|| panic!("argument {index} must not be null"))
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
        arg.unbox_arg_using_from_datum().into()
    }
}

unsafe impl BoxRet for PgSparse {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        fcinfo.return_raw_datum(pg_sys::Datum::from(self.ptr.as_ptr()))
    }
}
pgrx::impl_sql_translatable!(PgSparse, "sparsevec");

/// A `vector_core::sparse` error as pgvector's ERROR (`input`: the text being parsed).
fn raise(e: SparseError, input: &str) -> ! {
    let code = match e.kind() {
        ErrorKind::InvalidTextRepresentation => PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
        ErrorKind::NumericValueOutOfRange => PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
        ErrorKind::DataException => PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
        ErrorKind::ProgramLimitExceeded => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
    };
    match e.detail() {
        Some(detail) => error_with_detail(code, e.message(input), detail.into()),
        None => error(code, e.message(input)),
    }
}

fn check<T>(r: Result<T, SparseError>) -> T {
    r.unwrap_or_else(|e| raise(e, ""))
}

fn check_same_dims(a: &PgSparse, b: &PgSparse) {
    if a.dim() != b.dim() {
        error(
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            format!("different sparsevec dimensions {} and {}", a.dim(), b.dim()),
        );
    }
}

// ---------------------------------------------------------------- I/O

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_in(input: &CStr, _oid: pg_sys::Oid, typmod: i32) -> PgSparse {
    let s = input.to_string_lossy();
    match sparse::parse(&s, typmod) {
        Ok(v) => PgSparse::from_sparse(&v),
        Err(e) => raise(e, &s),
    }
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_out(v: PgSparse) -> CString {
    CString::new(sparse::format(v.dim(), v.indices(), v.values())).unwrap()
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_typmod_in(list: ArrayArg) -> i32 {
    let mods = list.integer_typmods();
    if mods.len() != 1 {
        error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "invalid type modifier".into(),
        );
    }
    if mods[0] < 1 {
        error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "dimensions for type sparsevec must be at least 1".into(),
        );
    }
    if mods[0] as i64 > sparse::MAX_DIM {
        error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!(
                "dimensions for type sparsevec cannot exceed {}",
                sparse::MAX_DIM
            ),
        );
    }
    mods[0]
}

/// Binary input: int32 dim, nnz, unused (0), then nnz int32 0-based indices and nnz float4
/// values, all big-endian; every field checked as pgvector does, in its order.
#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_recv(buf: pgrx::Internal, _oid: pg_sys::Oid, typmod: i32) -> PgSparse {
    let mut msg = Message::new(buf);
    let dim = msg.i32();
    let nnz = msg.i32();
    let unused = msg.i32();
    check(sparse::check_dim(dim as i64));
    check(sparse::check_nnz(nnz as i64, dim as i64));
    check(sparse::check_expected(typmod, dim));
    if unused != 0 {
        error(
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            format!("expected unused to be 0, not {unused}"),
        );
    }
    let nnz = nnz as usize;
    let mut indices = Vec::with_capacity(nnz);
    for i in 0..nnz {
        indices.push(msg.i32());
        check(sparse::check_index(&indices, i, dim));
    }
    let mut values = Vec::with_capacity(nnz);
    for _ in 0..nnz {
        let v = msg.f32();
        check(sparse::check_value(v));
        if v == 0.0 {
            error(
                PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
                "binary representation of sparsevec cannot contain zero values".into(),
            );
        }
        values.push(v);
    }
    PgSparse::new(dim, &indices, &values)
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_send(v: PgSparse) -> RawVarlena {
    let nnz = v.nnz();
    let (out, body) = RawVarlena::zeroed(12 + 8 * nnz);
    body[0..4].copy_from_slice(&v.dim().to_be_bytes());
    body[4..8].copy_from_slice(&(nnz as i32).to_be_bytes());
    for (chunk, i) in body[12..12 + 4 * nnz].chunks_exact_mut(4).zip(v.indices()) {
        chunk.copy_from_slice(&i.to_be_bytes());
    }
    for (chunk, x) in body[12 + 4 * nnz..].chunks_exact_mut(4).zip(v.values()) {
        chunk.copy_from_slice(&x.to_bits().to_be_bytes());
    }
    out
}

// ---------------------------------------------------------------- distances

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_l2_distance(a: PgSparse, b: PgSparse) -> f64 {
    check_same_dims(&a, &b);
    (sparse::l2_squared(a.as_ref(), b.as_ref()) as f64).sqrt()
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_l2_squared_distance(a: PgSparse, b: PgSparse) -> f64 {
    check_same_dims(&a, &b);
    sparse::l2_squared(a.as_ref(), b.as_ref()) as f64
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_inner_product(a: PgSparse, b: PgSparse) -> f64 {
    check_same_dims(&a, &b);
    sparse::inner_product(a.as_ref(), b.as_ref()) as f64
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_negative_inner_product(a: PgSparse, b: PgSparse) -> f64 {
    check_same_dims(&a, &b);
    -(sparse::inner_product(a.as_ref(), b.as_ref()) as f64)
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_cosine_distance(a: PgSparse, b: PgSparse) -> f64 {
    check_same_dims(&a, &b);
    sparse::cosine_distance(a.as_ref(), b.as_ref())
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_l1_distance(a: PgSparse, b: PgSparse) -> f64 {
    check_same_dims(&a, &b);
    sparse::l1(a.as_ref(), b.as_ref()) as f64
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_l2_norm(a: PgSparse) -> f64 {
    sparse::l2_norm(a.values())
}

/// Unit length (zeros produced by underflow are dropped; the zero vector stays as it is).
#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_l2_normalize(a: PgSparse) -> PgSparse {
    let norm = sparse::l2_norm(a.values());
    if norm <= 0.0 {
        return PgSparse::new(a.dim(), a.indices(), a.values());
    }
    let (mut indices, mut values) = (Vec::new(), Vec::new());
    for (&i, &x) in a.indices().iter().zip(a.values()) {
        let v = (x as f64 / norm) as f32;
        if v.is_infinite() {
            overflow_error();
        }
        if v != 0.0 {
            indices.push(i);
            values.push(v);
        }
    }
    PgSparse::new(a.dim(), &indices, &values)
}

// ---------------------------------------------------------------- comparisons

fn cmp(a: &PgSparse, b: &PgSparse) -> i32 {
    sparse::cmp(a.as_ref(), b.as_ref()) as i32
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_cmp(a: PgSparse, b: PgSparse) -> i32 {
    cmp(&a, &b)
}
#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_lt(a: PgSparse, b: PgSparse) -> bool {
    cmp(&a, &b) < 0
}
#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_le(a: PgSparse, b: PgSparse) -> bool {
    cmp(&a, &b) <= 0
}
#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_eq(a: PgSparse, b: PgSparse) -> bool {
    cmp(&a, &b) == 0
}
#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_ne(a: PgSparse, b: PgSparse) -> bool {
    cmp(&a, &b) != 0
}
#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_ge(a: PgSparse, b: PgSparse) -> bool {
    cmp(&a, &b) >= 0
}
#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_gt(a: PgSparse, b: PgSparse) -> bool {
    cmp(&a, &b) > 0
}

// ---------------------------------------------------------------- casts

/// The `sparsevec(n)` type-modifier cast.
#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_typmod_cast(v: PgSparse, typmod: i32, _explicit: bool) -> PgSparse {
    check(sparse::check_expected(typmod, v.dim()));
    v
}

/// A sparse vector of dense `values` (an array, a vector, a halfvec), with pgvector's checks.
fn from_dense_values(values: &[f32], typmod: i32) -> PgSparse {
    check(sparse::check_dim(values.len() as i64));
    check(sparse::check_expected(typmod, values.len() as i32));
    let (indices, vals) = sparse::from_dense(values.iter().copied());
    check(sparse::check_nnz(indices.len() as i64, values.len() as i64));
    for &v in &vals {
        check(sparse::check_value(v));
    }
    PgSparse::new(values.len() as i32, &indices, &vals)
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn vector_to_sparsevec(v: Vector, typmod: i32, _explicit: bool) -> PgSparse {
    from_dense_values(v.as_slice(), typmod)
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn halfvec_to_sparsevec(v: HalfVec, typmod: i32, _explicit: bool) -> PgSparse {
    from_dense_values(&v.to_f32_vec(), typmod)
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn array_to_sparsevec(a: ArrayArg, typmod: i32, _explicit: bool) -> PgSparse {
    let values = a.to_f32_vec_checked(|n| {
        check(sparse::check_dim(n as i64));
        check(sparse::check_expected(typmod, n as i32));
    });
    from_dense_values(&values, typmod)
}

/// The dense form (`vector` or `halfvec`): dimension and typmod checked for the target type.
fn to_dense<E: super::Element>(v: &PgSparse, typmod: i32) -> super::PgVec<E> {
    super::check_dim::<E>(v.dim() as usize);
    super::check_expected_dim(typmod, v.dim() as usize);
    let mut out = super::PgVec::<E>::zeroed(v.dim() as usize);
    let slots = out.as_mut_slice();
    for (&i, &x) in v.indices().iter().zip(v.values()) {
        slots[i as usize] = E::from_f32(x).unwrap_or_else(|| super::out_of_range::<E>(x));
    }
    out
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_to_vector(v: PgSparse, typmod: i32, _explicit: bool) -> Vector {
    to_dense::<f32>(&v, typmod)
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn sparsevec_to_halfvec(v: PgSparse, typmod: i32, _explicit: bool) -> HalfVec {
    to_dense::<f16>(&v, typmod)
}
