//! Scalar reference kernels.
//!
//! Plain loops that accumulate sequentially in `f32`, element 0 first — the same summation order
//! pgvector's C code uses without auto-vectorisation. They are the fallback on CPUs without the
//! SIMD levels in [`super::x86`] and the reference the tests compare the SIMD kernels against.
//!
//! Every kernel is written once, generically over the element types (`f32` or [`f16`], each
//! widened to `f32` on load), and instantiated for `f32 × f32` (the public `l2_squared` …),
//! `f16 × f16` (the public `*_f16`), and `f32 × f16` (the crate-private `*_mixed`, used by
//! [`super::batch_f16`], whose query has already been widened to `f32`).
//!
//! Length contract: the public entry points in [`super`] assert `a.len() == b.len()`; here `b` is
//! cut to `a.len()` (which panics if it is shorter), so no kernel ever reads out of bounds.

use half::f16;

/// Sequential sum over `i` of `term(a[i], b[i])`.
#[inline(always)]
fn fold<A, B>(a: &[A], b: &[B], term: impl Fn(f32, f32) -> f32) -> f32
where
    A: Copy + Into<f32>,
    B: Copy + Into<f32>,
{
    let b = &b[..a.len()];
    let mut s = 0.0f32;
    for (&x, &y) in a.iter().zip(b) {
        s += term(x.into(), y.into());
    }
    s
}

#[inline(always)]
fn l2_squared_generic<A: Copy + Into<f32>, B: Copy + Into<f32>>(a: &[A], b: &[B]) -> f32 {
    fold(a, b, |x, y| (x - y) * (x - y))
}

#[inline(always)]
fn dot_generic<A: Copy + Into<f32>, B: Copy + Into<f32>>(a: &[A], b: &[B]) -> f32 {
    fold(a, b, |x, y| x * y)
}

#[inline(always)]
fn l1_generic<A: Copy + Into<f32>, B: Copy + Into<f32>>(a: &[A], b: &[B]) -> f32 {
    fold(a, b, |x, y| (x - y).abs())
}

#[inline(always)]
fn cosine_parts_generic<A: Copy + Into<f32>, B: Copy + Into<f32>>(
    a: &[A],
    b: &[B],
) -> (f32, f32, f32) {
    let b = &b[..a.len()];
    let (mut ab, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y): (f32, f32) = (x.into(), y.into());
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    (ab, aa, bb)
}

#[inline(always)]
fn norm_squared_generic<A: Copy + Into<f32>>(a: &[A]) -> f32 {
    let mut s = 0.0f32;
    for &x in a {
        let x: f32 = x.into();
        s += x * x;
    }
    s
}

/// `Σ (a[i] - b[i])²`
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    l2_squared_generic(a, b)
}
/// `Σ a[i]·b[i]`
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_generic(a, b)
}
/// `Σ |a[i] - b[i]|`
pub fn l1(a: &[f32], b: &[f32]) -> f32 {
    l1_generic(a, b)
}
/// `(Σ a·b, Σ a², Σ b²)` in one pass.
pub fn cosine_parts(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    cosine_parts_generic(a, b)
}
/// `Σ a[i]²`
pub fn norm_squared(a: &[f32]) -> f32 {
    norm_squared_generic(a)
}

/// [`l2_squared`] on half-precision inputs (widened to `f32` element by element).
pub fn l2_squared_f16(a: &[f16], b: &[f16]) -> f32 {
    l2_squared_generic(a, b)
}
/// [`dot`] on half-precision inputs.
pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    dot_generic(a, b)
}
/// [`l1`] on half-precision inputs.
pub fn l1_f16(a: &[f16], b: &[f16]) -> f32 {
    l1_generic(a, b)
}
/// [`cosine_parts`] on half-precision inputs.
pub fn cosine_parts_f16(a: &[f16], b: &[f16]) -> (f32, f32, f32) {
    cosine_parts_generic(a, b)
}
/// [`norm_squared`] on half-precision input.
pub fn norm_squared_f16(a: &[f16]) -> f32 {
    norm_squared_generic(a)
}

// `f32` query against `f16` data, for `batch_f16`.
pub(crate) fn l2_squared_mixed(a: &[f32], b: &[f16]) -> f32 {
    l2_squared_generic(a, b)
}
pub(crate) fn dot_mixed(a: &[f32], b: &[f16]) -> f32 {
    dot_generic(a, b)
}
pub(crate) fn l1_mixed(a: &[f32], b: &[f16]) -> f32 {
    l1_generic(a, b)
}
pub(crate) fn cosine_parts_mixed(a: &[f32], b: &[f16]) -> (f32, f32, f32) {
    cosine_parts_generic(a, b)
}
