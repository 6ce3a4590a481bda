//! The `vector` and `halfvec` varlena types as Rust values.
//!
//! Both share pgvector's on-disk layout, so a value is read in place with no decoding:
//!
//! ```text
//!  0        4        6        8                                   8 + dim·size_of::<E>()
//!  +--------+--------+--------+-----------------------------------+
//!  | vl_len | dim    | unused |  x[0] x[1] … x[dim-1]             |
//!  | u32    | i16    | i16 =0 |  f32 (vector) or f16 (halfvec)    |
//!  +--------+--------+--------+-----------------------------------+
//! ```
//!
//! [`PgVec<E>`] points at such a value (detoasted, in the current memory context) and gives
//! it out as `&[E]`. Functions receive it through pgrx's argument ABI and return it as a Datum.

pub mod array;
pub mod bit;
pub mod functions;
pub mod sparsevec;

use std::marker::PhantomData;
use std::ptr::NonNull;

use half::f16;
use pgrx::callconv::{Arg, ArgAbi, BoxRet, FcInfo};
use pgrx::datum::Datum;
use pgrx::nullable::Nullable;
use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::text::MAX_DIM;

/// Bytes before the first element.
pub const HEADER_SIZE: usize = 8;

/// An element type of a vector varlena: `f32` for `vector`, `f16` for `halfvec`.
pub trait Element: Copy + Default + PartialOrd + Into<f32> + 'static {
    /// The SQL type name, used in error messages.
    const TYPE_NAME: &'static str;
    /// Converts an f32 result back to the element type; `None` when it overflows the type.
    fn from_f32(v: f32) -> Option<Self>;
    /// Squared Euclidean distance.
    fn l2_squared(a: &[Self], b: &[Self]) -> f32;
    fn dot(a: &[Self], b: &[Self]) -> f32;
    fn l1(a: &[Self], b: &[Self]) -> f32;
    /// (a·b, |a|², |b|²)
    fn cosine_parts(a: &[Self], b: &[Self]) -> (f32, f32, f32);
    /// Text form `[…]` to elements, with pgvector's checks.
    fn parse(input: &str) -> Result<Vec<Self>, vector_core::text::ParseError>;
}

impl Element for f32 {
    const TYPE_NAME: &'static str = "vector";
    fn from_f32(v: f32) -> Option<Self> {
        Some(v)
    }
    fn l2_squared(a: &[Self], b: &[Self]) -> f32 {
        vector_core::distance::l2_squared(a, b)
    }
    fn dot(a: &[Self], b: &[Self]) -> f32 {
        vector_core::distance::dot(a, b)
    }
    fn l1(a: &[Self], b: &[Self]) -> f32 {
        vector_core::distance::l1(a, b)
    }
    fn cosine_parts(a: &[Self], b: &[Self]) -> (f32, f32, f32) {
        vector_core::distance::cosine_parts(a, b)
    }
    fn parse(input: &str) -> Result<Vec<Self>, vector_core::text::ParseError> {
        vector_core::text::parse_vector(input)
    }
}

impl Element for f16 {
    const TYPE_NAME: &'static str = "halfvec";
    fn from_f32(v: f32) -> Option<Self> {
        let h = f16::from_f32(v);
        (h.is_finite() || !v.is_finite()).then_some(h)
    }
    fn l2_squared(a: &[Self], b: &[Self]) -> f32 {
        vector_core::distance::l2_squared_f16(a, b)
    }
    fn dot(a: &[Self], b: &[Self]) -> f32 {
        vector_core::distance::dot_f16(a, b)
    }
    fn l1(a: &[Self], b: &[Self]) -> f32 {
        vector_core::distance::l1_f16(a, b)
    }
    fn cosine_parts(a: &[Self], b: &[Self]) -> (f32, f32, f32) {
        vector_core::distance::cosine_parts_f16(a, b)
    }
    fn parse(input: &str) -> Result<Vec<Self>, vector_core::text::ParseError> {
        vector_core::text::parse_halfvec(input)
    }
}

/// A `vector` or `halfvec` value in Postgres memory (palloc'd or detoasted for this call).
pub struct PgVec<E: Element> {
    ptr: NonNull<u8>,
    _elem: PhantomData<E>,
}

/// The SQL `vector` type.
pub type Vector = PgVec<f32>;
/// The SQL `halfvec` type.
pub type HalfVec = PgVec<f16>;

impl<E: Element> PgVec<E> {
    /// A new zero-filled value of `dim` elements in the current memory context. Every value
    /// is built here, so no vector outside 1..=16000 dimensions can exist (an ERROR, not a
    /// debug assertion: the dimension is an i16 on disk).
    pub fn zeroed(dim: usize) -> Self {
        check_dim::<E>(dim);
        let size = HEADER_SIZE + dim * std::mem::size_of::<E>();
        unsafe {
            let p = pg_sys::palloc0(size) as *mut u8;
            set_varsize_4b(p, size);
            (p.add(4) as *mut i16).write(dim as i16);
            Self::from_raw(p)
        }
    }

    /// A new value holding `values` (checked for the dimension limits).
    pub fn from_slice(values: &[E]) -> Self {
        check_dim::<E>(values.len());
        let mut v = Self::zeroed(values.len());
        v.as_mut_slice().copy_from_slice(values);
        v
    }

    /// A new value from f32 results, erroring on overflow of the element type or infinity
    /// (pgvector's `float_overflow_error`).
    pub fn from_f32_checked(values: impl ExactSizeIterator<Item = f32>) -> Self {
        let mut v = Self::zeroed(values.len());
        for (slot, x) in v.as_mut_slice().iter_mut().zip(values) {
            match E::from_f32(x) {
                Some(e) if x.is_finite() => *slot = e,
                _ => overflow_error(),
            }
        }
        v
    }

    /// # Safety
    /// `p` points at a 4-byte-header varlena in this layout that outlives the value.
    unsafe fn from_raw(p: *mut u8) -> Self {
        Self {
            ptr: NonNull::new(p).expect("non-null vector datum"),
            _elem: PhantomData,
        }
    }

    pub fn dim(&self) -> usize {
        unsafe { (self.ptr.as_ptr().add(4) as *const i16).read() as usize }
    }

    pub fn as_slice(&self) -> &[E] {
        unsafe {
            std::slice::from_raw_parts(self.ptr.as_ptr().add(HEADER_SIZE) as *const E, self.dim())
        }
    }

    pub fn as_mut_slice(&mut self) -> &mut [E] {
        unsafe {
            std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(HEADER_SIZE) as *mut E, self.dim())
        }
    }

    pub fn to_f32_vec(&self) -> Vec<f32> {
        self.as_slice().iter().map(|&x| x.into()).collect()
    }

    pub fn into_datum(self) -> pg_sys::Datum {
        pg_sys::Datum::from(self.ptr.as_ptr())
    }
}

/// VARSIZE of a 4-byte header on a little- or big-endian machine.
pub(crate) unsafe fn varsize_4b(p: *const u8) -> usize {
    let word = (p as *const u32).read_unaligned();
    #[cfg(target_endian = "little")]
    let size = word >> 2;
    #[cfg(target_endian = "big")]
    let size = word & 0x3FFF_FFFF;
    size as usize
}

/// SET_VARSIZE for a 4-byte header on a little- or big-endian machine.
pub(crate) unsafe fn set_varsize_4b(p: *mut u8, size: usize) {
    #[cfg(target_endian = "little")]
    let word = (size as u32) << 2;
    #[cfg(target_endian = "big")]
    let word = (size as u32) & 0x3FFF_FFFF;
    (p as *mut u32).write(word);
}

impl<E: Element> FromDatum for PgVec<E> {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _typoid: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null {
            return None;
        }
        // Untoasts, decompresses and converts short headers to the 4-byte form.
        let p = pg_sys::pg_detoast_datum(datum.cast_mut_ptr());
        let v = Self::from_raw(p as *mut u8);
        // Never read past the value, whatever its header says.
        let size = varsize_4b(p as *const u8);
        let dim = if size >= HEADER_SIZE {
            (p as *const u8).add(4).cast::<i16>().read()
        } else {
            0 // too short to hold a header: rejected below
        };
        if dim < 1
            || dim as usize > MAX_DIM
            || size < HEADER_SIZE + dim as usize * std::mem::size_of::<E>()
        {
            error(
                PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                format!(
                    "invalid {} value: {dim} dimensions in {size} bytes",
                    E::TYPE_NAME
                ),
            );
        }
        Some(v)
    }
}

unsafe impl<'fcx, E: Element> ArgAbi<'fcx> for PgVec<E> {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        arg.unbox_arg_using_from_datum()
            .unwrap_or_else(|| panic!("argument {index} must not be null"))
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
        arg.unbox_arg_using_from_datum().into()
    }
}

unsafe impl<E: Element> BoxRet for PgVec<E> {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        fcinfo.return_raw_datum(self.into_datum())
    }
}

// The SQL is hand-written under sql/; these only satisfy pgrx's function metadata.
pgrx::impl_sql_translatable!(Vector, "vector");
pgrx::impl_sql_translatable!(HalfVec, "halfvec");

/// Any varlena built by hand (used for `bit` and `bytea` results).
pub struct RawVarlena(pub NonNull<pg_sys::varlena>);

unsafe impl BoxRet for RawVarlena {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        fcinfo.return_raw_datum(pg_sys::Datum::from(self.0.as_ptr()))
    }
}
pgrx::impl_sql_translatable!(RawVarlena, "bytea");

impl RawVarlena {
    /// A zeroed varlena with `payload` bytes after the 4-byte header.
    pub fn zeroed(payload: usize) -> (Self, &'static mut [u8]) {
        let size = 4 + payload;
        unsafe {
            let p = pg_sys::palloc0(size) as *mut u8;
            set_varsize_4b(p, size);
            let body = std::slice::from_raw_parts_mut(p.add(4), payload);
            (
                Self(NonNull::new_unchecked(p as *mut pg_sys::varlena)),
                body,
            )
        }
    }
}

// ---- errors with pgvector's wording ----

pub fn error(code: PgSqlErrorCode, message: String) -> ! {
    ereport!(ERROR, code, message);
}

pub fn error_with_detail(code: PgSqlErrorCode, message: String, detail: String) -> ! {
    ereport!(ERROR, code, message, detail);
}

pub fn error_with_hint(code: PgSqlErrorCode, message: String, hint: String) -> ! {
    pgrx::pg_sys::panic::ErrorReport::new(code, message, pgrx::function_name!())
        .set_hint(hint)
        .report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// `float_overflow_error()`
pub fn overflow_error() -> ! {
    error(
        PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
        "value out of range: overflow".into(),
    )
}

/// A value that does not fit the element type in a conversion (pgvector's `Float4ToHalf`:
/// `"65520" is out of range for type halfvec`).
pub fn out_of_range<E: Element>(x: f32) -> ! {
    let mut text = String::new();
    vector_core::text::write_f32(&mut text, x);
    error(
        PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
        format!("\"{text}\" is out of range for type {}", E::TYPE_NAME),
    )
}

/// `float_underflow_error()`
pub fn underflow_error() -> ! {
    error(
        PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
        "value out of range: underflow".into(),
    )
}

/// 1 ≤ dim ≤ 16000.
pub fn check_dim<E: Element>(dim: usize) {
    if dim < 1 {
        error(
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            format!("{} must have at least 1 dimension", E::TYPE_NAME),
        );
    }
    if dim > MAX_DIM {
        error(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!(
                "{} cannot have more than {MAX_DIM} dimensions",
                E::TYPE_NAME
            ),
        );
    }
}

/// A value assigned to `vector(n)` must have n dimensions (typmod −1 means unconstrained).
pub fn check_expected_dim(typmod: i32, dim: usize) {
    if typmod != -1 && typmod as usize != dim {
        error(
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            format!("expected {typmod} dimensions, not {dim}"),
        );
    }
}

/// Binary operators need equal dimensions.
pub fn check_same_dims<E: Element>(a: &PgVec<E>, b: &PgVec<E>) {
    if a.dim() != b.dim() {
        error(
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            format!(
                "different {} dimensions {} and {}",
                E::TYPE_NAME,
                a.dim(),
                b.dim()
            ),
        );
    }
}

/// Every element finite (no NaN, no ±infinity).
pub fn check_element<E: Element>(x: f32) {
    if x.is_nan() {
        error(
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            format!("NaN not allowed in {}", E::TYPE_NAME),
        );
    }
    if x.is_infinite() {
        error(
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            format!("infinite value not allowed in {}", E::TYPE_NAME),
        );
    }
}
