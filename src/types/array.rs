//! Postgres arrays as function arguments: `integer[]`, `real[]`, `double precision[]`,
//! `numeric[]` (casts to vectors), `cstring[]` (type modifiers) and the `double precision[]`
//! state of the `avg` aggregates.

use std::ptr::NonNull;

use pgrx::callconv::{Arg, ArgAbi};
use pgrx::nullable::Nullable;
use pgrx::pg_sys;
use pgrx::prelude::*;

use super::error;

/// A detoasted array argument of any element type.
pub struct ArrayArg(NonNull<pg_sys::ArrayType>);

impl FromDatum for ArrayArg {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _typoid: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null {
            return None;
        }
        let p = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as *mut pg_sys::ArrayType;
        NonNull::new(p).map(ArrayArg)
    }
}

unsafe impl<'fcx> ArgAbi<'fcx> for ArrayArg {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        arg.unbox_arg_using_from_datum()
            .unwrap_or_else(|| panic!("argument {index} must not be null"))
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
        arg.unbox_arg_using_from_datum().into()
    }
}
pgrx::impl_sql_translatable!(ArrayArg, "anyarray");

impl ArrayArg {
    pub fn as_ptr(&self) -> *mut pg_sys::ArrayType {
        self.0.as_ptr()
    }

    fn elem_type(&self) -> pg_sys::Oid {
        unsafe { (*self.as_ptr()).elemtype }
    }

    fn ndim(&self) -> i32 {
        unsafe { (*self.as_ptr()).ndim }
    }

    /// The elements as raw datums, after pgvector's shape checks
    /// (`array must be 1-D`, `array must not contain nulls`).
    fn datums(&self) -> Vec<pg_sys::Datum> {
        if self.ndim() > 1 {
            error(
                PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
                "array must be 1-D".into(),
            );
        }
        unsafe {
            let elem = self.elem_type();
            let mut len: i16 = 0;
            let mut byval = false;
            let mut align: std::ffi::c_char = 0;
            pg_sys::get_typlenbyvalalign(elem, &mut len, &mut byval, &mut align);
            let mut values: *mut pg_sys::Datum = std::ptr::null_mut();
            let mut nulls: *mut bool = std::ptr::null_mut();
            let mut n: i32 = 0;
            pg_sys::deconstruct_array(
                self.as_ptr(),
                elem,
                len as i32,
                byval,
                align,
                &mut values,
                &mut nulls,
                &mut n,
            );
            if n == 0 {
                return Vec::new();
            }
            let nulls = std::slice::from_raw_parts(nulls, n as usize);
            if nulls.iter().any(|&b| b) {
                error(
                    PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                    "array must not contain nulls".into(),
                );
            }
            std::slice::from_raw_parts(values, n as usize).to_vec()
        }
    }

    /// Elements of an integer, real, double precision or numeric array as f32
    /// (rounded like a cast to real; range is checked by the caller).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        self.to_f32_vec_checked(|_| {})
    }

    /// [`ArrayArg::to_f32_vec`], calling `check(element count)` after the shape checks and
    /// before any element is converted (pgvector checks dimensions before values).
    pub fn to_f32_vec_checked(&self, check: impl FnOnce(usize)) -> Vec<f32> {
        let datums = self.datums();
        check(datums.len());
        let elem = self.elem_type();
        let convert: fn(pg_sys::Datum) -> f32 = match elem {
            pg_sys::INT4OID => |d| d.value() as i32 as f32,
            pg_sys::FLOAT4OID => |d| f32::from_bits(d.value() as u32),
            pg_sys::FLOAT8OID => |d| f64::from_bits(d.value() as u64) as f32,
            pg_sys::NUMERICOID => numeric_to_f32,
            _ => error(
                PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
                "unsupported array type".into(),
            ),
        };
        datums.into_iter().map(convert).collect()
    }

    /// The elements of an aggregate state: a one-dimensional `double precision[]` of at least
    /// one element and no NULLs, else pgvector's `<caller>: expected state array`.
    pub fn state_values(&self, caller: &str) -> Vec<f64> {
        let bad = || -> ! {
            error(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                format!("{caller}: expected state array"),
            )
        };
        if self.ndim() != 1 || self.elem_type() != pg_sys::FLOAT8OID {
            bad();
        }
        unsafe {
            if pg_sys::array_contains_nulls(self.as_ptr()) {
                bad();
            }
        }
        let values: Vec<f64> = self
            .datums()
            .into_iter()
            .map(|d| f64::from_bits(d.value() as u64))
            .collect();
        if values.is_empty() {
            bad();
        }
        values
    }

    /// A type modifier list (`cstring[]`) as integers, via Postgres' own parser.
    pub fn integer_typmods(&self) -> Vec<i32> {
        unsafe {
            let mut n: i32 = 0;
            let p = pg_sys::ArrayGetIntegerTypmods(self.as_ptr(), &mut n);
            std::slice::from_raw_parts(p, n as usize).to_vec()
        }
    }
}

/// numeric → real as `numeric_float4` does: the exact decimal text, correctly rounded, with
/// the same error beyond real's range (raised here, not inside Postgres).
fn numeric_to_f32(d: pg_sys::Datum) -> f32 {
    let text = unsafe {
        // Elements may carry a short varlena header; numeric code expects the 4-byte form.
        let num = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as pg_sys::Numeric;
        let p = pg_sys::numeric_normalize(num);
        let s = std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned();
        pg_sys::pfree(p.cast());
        s
    };
    // "NaN" parses to NaN and "Infinity" to infinity; the element checks reject both.
    let value: f32 = text.parse().unwrap_or(f32::NAN);
    let underflow = value == 0.0 && text.bytes().any(|b| (b'1'..=b'9').contains(&b));
    if (value.is_infinite() && !text.contains("Infinity")) || underflow {
        error(
            PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            format!("\"{text}\" is out of range for type real"),
        );
    }
    value
}
