//! Distances on Postgres' own `bit` type (pgvector's `hamming_distance`, `jaccard_distance`,
//! operators `<~>` and `<%>`), over its packed bytes (kernels in `vector_core::bits`).
//!
//! ```text
//!  0        4          8
//!  +--------+----------+---------------------------------------------+
//!  | vl_len | bit_len  | bits, most significant first, ⌈len/8⌉ bytes |
//!  +--------+----------+---------------------------------------------+
//! ```

use std::ptr::NonNull;

use pgrx::callconv::{Arg, ArgAbi};
use pgrx::nullable::Nullable;
use pgrx::pg_sys;
use pgrx::prelude::*;

use super::error;

/// A `bit` / `bit varying` value, detoasted.
pub struct PgBit(NonNull<u8>);

impl PgBit {
    pub fn len(&self) -> u32 {
        unsafe { (self.0.as_ptr().add(4) as *const i32).read() as u32 }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bytes(&self) -> &[u8] {
        unsafe {
            std::slice::from_raw_parts(self.0.as_ptr().add(8), (self.len() as usize).div_ceil(8))
        }
    }
}

impl FromDatum for PgBit {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _typoid: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null {
            return None;
        }
        let p = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as *mut u8;
        let v = PgBit(NonNull::new(p)?);
        let size = super::varsize_4b(p);
        if size < 8 || size < 8 + (v.len() as usize).div_ceil(8) {
            error(
                PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                "invalid bit value".into(),
            );
        }
        Some(v)
    }
}

unsafe impl<'fcx> ArgAbi<'fcx> for PgBit {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        arg.unbox_arg_using_from_datum()
            .unwrap_or_else(|| panic!("argument {index} must not be null"))
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
        arg.unbox_arg_using_from_datum().into()
    }
}
pgrx::impl_sql_translatable!(PgBit, "bit");

fn check_same_len(a: &PgBit, b: &PgBit) {
    if a.len() != b.len() {
        error(
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            format!("different bit lengths {} and {}", a.len(), b.len()),
        );
    }
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn hamming_distance(a: PgBit, b: PgBit) -> f64 {
    check_same_len(&a, &b);
    vector_core::bits::hamming(a.bytes(), b.bytes())
}

#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn jaccard_distance(a: PgBit, b: PgBit) -> f64 {
    check_same_len(&a, &b);
    vector_core::bits::jaccard(a.bytes(), b.bytes())
}
