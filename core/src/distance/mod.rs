//! Distance kernels: L2², inner product, L1 and cosine, for `f32` and `f16` vectors.
//!
//! Layout:
//! - [`scalar`]: plain sequential reference kernels; the fallback on every CPU.
//! - [`x86`] (x86-64 only): AVX2+FMA and AVX-512F kernels, F16C for half floats, all
//!   `#[target_feature]` functions picked at run time — nothing needs a compile-time CPU flag.
//! - this file: the public API. The first call detects the CPU once and caches a table of
//!   function pointers (`F32Kernels` / `F16Kernels`) in a `OnceLock`; every later call is one
//!   atomic load plus one indirect call. [`batch_f32`] / [`batch_f16`] look the table up once per
//!   call and run a loop (`batch_loop`) compiled inside the chosen level, so the per-vector kernel
//!   is inlined rather than called.
//!
//! All kernels accumulate in `f32`. The SIMD kernels sum in a different order than the scalar
//! ones, so results agree to rounding (about `1e-6 × Σ|terms|`), not bit for bit.

use std::sync::OnceLock;

use half::f16;

mod panels;
pub mod scalar;
#[cfg(target_arch = "x86_64")]
pub mod x86;

#[cfg(test)]
mod tests;

pub use panels::{Panels, PANEL_WIDTH};

/// The distance a batch scan orders by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Squared Euclidean distance.
    L2,
    /// Negative inner product.
    InnerProduct,
    /// `1 - cos(angle)`.
    Cosine,
    /// Taxicab distance.
    L1,
    /// Differing bits (bit strings only: `crate::bits`).
    Hamming,
    /// 1 − |a ∧ b| / |a ∨ b| (bit strings only).
    Jaccard,
}

impl Metric {
    /// Hamming and Jaccard: distances between bit strings, not float vectors.
    pub fn is_bitwise(self) -> bool {
        matches!(self, Metric::Hamming | Metric::Jaccard)
    }
}

/// `1 - dot / sqrt(norm_sq_a · norm_sq_b)`, computed in `f64` and with the cosine clamped to
/// `[-1, 1]` as pgvector does; `NaN` if either squared norm is 0 (or the inputs are NaN).
#[inline]
pub fn cosine_distance_from_parts(dot: f32, norm_sq_a: f32, norm_sq_b: f32) -> f32 {
    if norm_sq_a == 0.0 || norm_sq_b == 0.0 {
        return f32::NAN;
    }
    let similarity = dot as f64 / (norm_sq_a as f64 * norm_sq_b as f64).sqrt();
    // `clamp` keeps NaN as NaN.
    (1.0 - similarity.clamp(-1.0, 1.0)) as f32
}

// ---------------------------------------------------------------------------------------------
// Dispatch tables
// ---------------------------------------------------------------------------------------------

type PairFn<T> = unsafe fn(&[T], &[T]) -> f32;
type PartsFn<T> = unsafe fn(&[T], &[T]) -> (f32, f32, f32);
type NormFn<T> = unsafe fn(&[T]) -> f32;
/// A batch entry point of one level, over `T` data (the query is always `f32`).
type BatchFn<T> = unsafe fn(Metric, &[f32], f32, &[T], &mut [f32]);

/// One implementation level of the kernels for element type `T`. The function pointers are
/// `unsafe` because the SIMD ones may only be called on a CPU with their features; a table is
/// only ever selected after that was checked.
pub(crate) struct Kernels<T: 'static> {
    pub(crate) name: &'static str,
    pub(crate) l2_squared: PairFn<T>,
    pub(crate) dot: PairFn<T>,
    pub(crate) l1: PairFn<T>,
    pub(crate) cosine_parts: PartsFn<T>,
    pub(crate) norm_squared: NormFn<T>,
    pub(crate) batch: BatchFn<T>,
}

pub(crate) type F32Kernels = Kernels<f32>;
pub(crate) type F16Kernels = Kernels<f16>;

pub(crate) static SCALAR_F32: F32Kernels = F32Kernels {
    name: "scalar",
    l2_squared: scalar::l2_squared,
    dot: scalar::dot,
    l1: scalar::l1,
    cosine_parts: scalar::cosine_parts,
    norm_squared: scalar::norm_squared,
    batch: scalar_batch_f32,
};

pub(crate) static SCALAR_F16: F16Kernels = F16Kernels {
    name: "scalar",
    l2_squared: scalar::l2_squared_f16,
    dot: scalar::dot_f16,
    l1: scalar::l1_f16,
    cosine_parts: scalar::cosine_parts_f16,
    norm_squared: scalar::norm_squared_f16,
    batch: scalar_batch_f16,
};

/// Every f32 level this CPU can run, best last (the tests run all of them).
pub(crate) fn f32_levels() -> Vec<&'static F32Kernels> {
    #[allow(unused_mut)]
    let mut levels = vec![&SCALAR_F32];
    #[cfg(target_arch = "x86_64")]
    {
        if x86::has_avx2_fma() {
            levels.push(&x86::avx2::F32_KERNELS);
        }
        if x86::has_avx512f() {
            levels.push(&x86::avx512::F32_KERNELS);
        }
    }
    levels
}

/// Every f16 level this CPU can run, best last.
pub(crate) fn f16_levels() -> Vec<&'static F16Kernels> {
    #[allow(unused_mut)]
    let mut levels = vec![&SCALAR_F16];
    #[cfg(target_arch = "x86_64")]
    {
        if x86::has_avx2_fma_f16c() {
            levels.push(&x86::avx2::F16_KERNELS);
        }
        if x86::has_avx512f_f16c() {
            levels.push(&x86::avx512::F16_KERNELS);
        }
    }
    levels
}

#[inline]
fn f32_kernels() -> &'static F32Kernels {
    static CHOSEN: OnceLock<&'static F32Kernels> = OnceLock::new();
    CHOSEN.get_or_init(|| *f32_levels().last().unwrap())
}

#[inline]
fn f16_kernels() -> &'static F16Kernels {
    static CHOSEN: OnceLock<&'static F16Kernels> = OnceLock::new();
    CHOSEN.get_or_init(|| *f16_levels().last().unwrap())
}

/// Which f32 implementation runtime detection chose: `"avx512f"`, `"avx2+fma"` or `"scalar"`.
pub fn implementation() -> &'static str {
    f32_kernels().name
}

/// Which f16 implementation runtime detection chose: `"avx512f+f16c"`, `"avx2+fma+f16c"` or
/// `"scalar"`.
pub fn implementation_f16() -> &'static str {
    f16_kernels().name
}

// ---------------------------------------------------------------------------------------------
// Public kernels
// ---------------------------------------------------------------------------------------------

macro_rules! pair_kernel {
    ($(#[$doc:meta])* $name:ident, $T:ty, $table:ident, $field:ident, $Out:ty) => {
        $(#[$doc])*
        #[inline]
        pub fn $name(a: &[$T], b: &[$T]) -> $Out {
            assert_eq!(a.len(), b.len(), "vector lengths differ");
            // SAFETY: the table was chosen for this CPU.
            unsafe { ($table().$field)(a, b) }
        }
    };
}

pair_kernel!(
    /// `Σ (a[i] - b[i])²`. Panics if the lengths differ.
    l2_squared, f32, f32_kernels, l2_squared, f32
);
pair_kernel!(
    /// `Σ a[i]·b[i]`. Panics if the lengths differ.
    dot, f32, f32_kernels, dot, f32
);
pair_kernel!(
    /// `Σ |a[i] - b[i]|`. Panics if the lengths differ.
    l1, f32, f32_kernels, l1, f32
);
pair_kernel!(
    /// `(Σ a·b, Σ a², Σ b²)` in one pass. Panics if the lengths differ.
    cosine_parts, f32, f32_kernels, cosine_parts, (f32, f32, f32)
);
pair_kernel!(
    /// [`l2_squared`] on half floats (accumulated in `f32`).
    l2_squared_f16, f16, f16_kernels, l2_squared, f32
);
pair_kernel!(
    /// [`dot`] on half floats (accumulated in `f32`).
    dot_f16, f16, f16_kernels, dot, f32
);
pair_kernel!(
    /// [`l1`] on half floats (accumulated in `f32`).
    l1_f16, f16, f16_kernels, l1, f32
);
pair_kernel!(
    /// [`cosine_parts`] on half floats (accumulated in `f32`).
    cosine_parts_f16, f16, f16_kernels, cosine_parts, (f32, f32, f32)
);

/// `Σ a[i]²`.
#[inline]
pub fn norm_squared(a: &[f32]) -> f32 {
    // SAFETY: the table was chosen for this CPU.
    unsafe { (f32_kernels().norm_squared)(a) }
}

/// [`norm_squared`] on half floats (accumulated in `f32`).
#[inline]
pub fn norm_squared_f16(a: &[f16]) -> f32 {
    // SAFETY: the table was chosen for this CPU.
    unsafe { (f16_kernels().norm_squared)(a) }
}

// ---------------------------------------------------------------------------------------------
// Batch
// ---------------------------------------------------------------------------------------------

/// For each of the `out.len()` vectors packed back to back in `data` (each `query.len()` long),
/// writes the *ordering distance* to `out[i]`: [`Metric::L2`] → squared L2;
/// [`Metric::InnerProduct`] → `-dot`; [`Metric::Cosine`] → `1 - dot/(|q||v|)` (see
/// [`cosine_distance_from_parts`]: NaN if either norm is 0); [`Metric::L1`] → L1.
/// `query_norm_sq` is `|query|²`, used only for Cosine.
///
/// Panics if `data.len() != query.len() * out.len()`.
pub fn batch_f32(metric: Metric, query: &[f32], query_norm_sq: f32, data: &[f32], out: &mut [f32]) {
    // SAFETY: the table was chosen for this CPU.
    unsafe { (f32_kernels().batch)(metric, query, query_norm_sq, data, out) }
}

/// [`batch_f32`] over half-float `data`; the query is already `f32` (it is not rounded to `f16`).
pub fn batch_f16(metric: Metric, query: &[f32], query_norm_sq: f32, data: &[f16], out: &mut [f32]) {
    // SAFETY: the table was chosen for this CPU.
    unsafe { (f16_kernels().batch)(metric, query, query_norm_sq, data, out) }
}

/// What [`batch_loop`] needs from one level: kernels of an `f32` query against `T` data.
/// `unsafe` for the same reason as the tables' function pointers.
pub(crate) trait BatchKernels<T> {
    unsafe fn l2_squared(a: &[f32], b: &[T]) -> f32;
    unsafe fn dot(a: &[f32], b: &[T]) -> f32;
    unsafe fn l1(a: &[f32], b: &[T]) -> f32;
    /// `(Σ a·b, Σ b²)`
    unsafe fn dot_norm(a: &[f32], b: &[T]) -> (f32, f32);
}

/// The batch loop shared by every level. `#[inline(always)]` so that each level's
/// `#[target_feature]` `batch_*` function gets its own copy with the kernels inlined.
#[inline(always)]
pub(crate) unsafe fn batch_loop<T, K: BatchKernels<T>>(
    metric: Metric,
    query: &[f32],
    query_norm_sq: f32,
    data: &[T],
    out: &mut [f32],
) {
    let d = query.len();
    assert_eq!(
        Some(data.len()),
        d.checked_mul(out.len()),
        "batch data length is not query length × output length"
    );
    // Indexing (rather than `chunks_exact`) also handles `d == 0`.
    let vector = |i: usize| &data[i * d..(i + 1) * d];
    match metric {
        Metric::L2 => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = K::l2_squared(query, vector(i));
            }
        }
        Metric::InnerProduct => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = -K::dot(query, vector(i));
            }
        }
        Metric::Cosine => {
            for (i, o) in out.iter_mut().enumerate() {
                let (dot, norm_sq) = K::dot_norm(query, vector(i));
                *o = cosine_distance_from_parts(dot, query_norm_sq, norm_sq);
            }
        }
        Metric::L1 => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = K::l1(query, vector(i));
            }
        }
        Metric::Hamming | Metric::Jaccard => {
            unreachable!("bit strings are scored by crate::bits, not float kernels")
        }
    }
}

/// [`BatchKernels`] for the scalar level.
struct Scalar;

impl BatchKernels<f32> for Scalar {
    unsafe fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
        scalar::l2_squared(a, b)
    }
    unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        scalar::dot(a, b)
    }
    unsafe fn l1(a: &[f32], b: &[f32]) -> f32 {
        scalar::l1(a, b)
    }
    unsafe fn dot_norm(a: &[f32], b: &[f32]) -> (f32, f32) {
        let (ab, _, bb) = scalar::cosine_parts(a, b);
        (ab, bb)
    }
}

impl BatchKernels<f16> for Scalar {
    unsafe fn l2_squared(a: &[f32], b: &[f16]) -> f32 {
        scalar::l2_squared_mixed(a, b)
    }
    unsafe fn dot(a: &[f32], b: &[f16]) -> f32 {
        scalar::dot_mixed(a, b)
    }
    unsafe fn l1(a: &[f32], b: &[f16]) -> f32 {
        scalar::l1_mixed(a, b)
    }
    unsafe fn dot_norm(a: &[f32], b: &[f16]) -> (f32, f32) {
        let (ab, _, bb) = scalar::cosine_parts_mixed(a, b);
        (ab, bb)
    }
}

fn scalar_batch_f32(metric: Metric, query: &[f32], qn: f32, data: &[f32], out: &mut [f32]) {
    // SAFETY: the scalar kernels have no CPU requirement.
    unsafe { batch_loop::<f32, Scalar>(metric, query, qn, data, out) }
}

fn scalar_batch_f16(metric: Metric, query: &[f32], qn: f32, data: &[f16], out: &mut [f32]) {
    // SAFETY: the scalar kernels have no CPU requirement.
    unsafe { batch_loop::<f16, Scalar>(metric, query, qn, data, out) }
}
