//! x86-64 SIMD kernels, chosen at run time.
//!
//! Layout:
//! - [`Simd`] is one instruction-set level: its vector type (`__m256` for [`avx2`], `__m512` for
//!   [`avx512`]) and the handful of lane-wise operations the kernels need. [`Load`] says how an
//!   element type (`f32`, or `f16` via F16C's `vcvtph2ps`) becomes one vector of `f32` lanes,
//!   including a *partial* load for the tail that zero-fills and never touches memory past the
//!   slice.
//! - [`Op`] is one kernel (L2, dot, L1, cosine parts, …) written once against [`Simd`]: an
//!   accumulator, a step for one vector of lanes, a merge and a final horizontal reduction.
//! - [`run`] is the single loop every kernel uses: four independent accumulators over
//!   `4 × LANES` elements per iteration (hiding the FMA latency), then one vector at a time, then
//!   one partial (zero-filled) vector. Zero lanes add nothing to any of the kernels.
//! - [`entry_points!`] stamps out, per level, the `#[target_feature]` functions that the
//!   dispatcher in [`super`] points at. Everything below them is `#[inline(always)]`, so each entry
//!   point compiles to one self-contained loop using the level's instructions.
//!
//! The functions in [`avx2`] and [`avx512`] are `unsafe`: call them only when the matching
//! `has_*` function below returned `true`. The public API in [`super`] does that for you.

use half::f16;

pub mod avx2;
pub mod avx512;

/// AVX2 and FMA are available (the `avx2` f32 level).
pub fn has_avx2_fma() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}
/// AVX2, FMA and F16C are available (the `avx2` f16 level).
pub fn has_avx2_fma_f16c() -> bool {
    has_avx2_fma() && is_x86_feature_detected!("f16c")
}
/// AVX-512F is available (the `avx512` f32 level).
pub fn has_avx512f() -> bool {
    is_x86_feature_detected!("avx512f")
}
/// AVX-512F and F16C are available (the `avx512` f16 level; it also uses 256-bit AVX loads).
pub fn has_avx512f_f16c() -> bool {
    has_avx512f() && has_avx2_fma_f16c()
}

/// One SIMD level: a vector of `LANES` × `f32` and the operations the kernels use.
pub(crate) trait Simd {
    const LANES: usize;
    type V: Copy;
    unsafe fn zero() -> Self::V;
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    /// `a * b + c`, fused.
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    unsafe fn abs(a: Self::V) -> Self::V;
    /// Sum of all lanes.
    unsafe fn hsum(a: Self::V) -> f32;
    /// Every lane `x`.
    unsafe fn splat(x: f32) -> Self::V;
    /// Stores all lanes at `p` (unaligned).
    unsafe fn store(p: *mut f32, v: Self::V);
    unsafe fn min(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V;
    /// Lane-wise `if a < b { x } else { y }` (false for NaN).
    unsafe fn select_lt(a: Self::V, b: Self::V, x: Self::V, y: Self::V) -> Self::V;
}

/// Dot products of the `R` points at `rows` (each `dim` floats) with the `PANEL_WIDTH` vectors of
/// the panel at `panel` (`dim` rows of `PANEL_WIDTH` floats): `acc[r][v]` holds lanes
/// `v·LANES ..` of point `r`'s row. Every panel row loaded serves all `R` points.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // register blocks indexed in lockstep
unsafe fn panel_block<S: Simd, const R: usize, const V: usize>(
    rows: &[*const f32; R],
    dim: usize,
    panel: *const f32,
) -> [[S::V; V]; R]
where
    f32: Load<S>,
{
    use crate::distance::PANEL_WIDTH;
    let mut acc = [[S::zero(); V]; R];
    for i in 0..dim {
        let row = panel.add(i * PANEL_WIDTH);
        let c: [S::V; V] = core::array::from_fn(|v| <f32 as Load<S>>::load(row.add(v * S::LANES)));
        for r in 0..R {
            let x = S::splat(*rows[r].add(i));
            for v in 0..V {
                acc[r][v] = S::fmadd(x, c[v], acc[r][v]);
            }
        }
    }
    acc
}

/// `0.0, 1.0, …`: lane numbers as floats, for index vectors.
static IOTA: [f32; crate::distance::PANEL_WIDTH] = {
    let mut a = [0f32; crate::distance::PANEL_WIDTH];
    let mut i = 0;
    while i < a.len() {
        a[i] = i as f32;
        i += 1;
    }
    a
};

/// For each point `r`: the smallest and second smallest of `d_j = point_add[r] + panel_add[j]
/// − 2·x_r·v_j` over the panels' vectors, and the index of the smallest, written to `out[r]`
/// as `(index, d1, d2)`. `R` points at a time against one panel ([`panel_block`]); every
/// lane keeps its own running smallest two and index (strict `<`: the first of equal values
/// stays), reduced at the end by [`crate::distance::panels::reduce_lanes`]. `panel_add` has one entry per padded column (padding
/// columns should be `+inf`).
#[inline(always)]
#[allow(clippy::needless_range_loop)] // register blocks indexed in lockstep
pub(crate) unsafe fn panel_nearest2<S: Simd, const R: usize, const V: usize>(
    points: &[f32],
    dim: usize,
    panels: &[f32],
    point_add: &[f32],
    panel_add: &[f32],
    out: &mut [(usize, f32, f32)],
) where
    f32: Load<S>,
{
    use crate::distance::PANEL_WIDTH;
    debug_assert_eq!(V * S::LANES, PANEL_WIDTH);
    let m = points.len() / dim;
    let n_panels = panels.len() / (dim * PANEL_WIDTH);
    assert!(panel_add.len() >= n_panels * PANEL_WIDTH && point_add.len() >= m && out.len() >= m);
    let pp = points.as_ptr();
    let minus_two = S::splat(-2.0);
    let mut g = 0;
    while g < m {
        let rows: [*const f32; R] = core::array::from_fn(|r| pp.add((g + r).min(m - 1) * dim));
        let add_r: [S::V; R] = core::array::from_fn(|r| S::splat(point_add[(g + r).min(m - 1)]));
        let inf = S::splat(f32::INFINITY);
        let mut m1 = [[inf; V]; R];
        let mut m2 = [[inf; V]; R];
        let mut i1 = [[S::zero(); V]; R];
        for p in 0..n_panels {
            let acc =
                panel_block::<S, R, V>(&rows, dim, panels.as_ptr().add(p * dim * PANEL_WIDTH));
            let first = S::splat((p * PANEL_WIDTH) as f32);
            for v in 0..V {
                let idx = S::add(
                    first,
                    <f32 as Load<S>>::load(IOTA.as_ptr().add(v * S::LANES)),
                );
                let cadd =
                    <f32 as Load<S>>::load(panel_add.as_ptr().add(p * PANEL_WIDTH + v * S::LANES));
                for r in 0..R {
                    let d = S::fmadd(minus_two, acc[r][v], S::add(add_r[r], cadd));
                    let d = S::select_lt(d, inf, d, inf); // NaN counts as +inf, as in scalar
                    m2[r][v] = S::min(m2[r][v], S::max(m1[r][v], d));
                    i1[r][v] = S::select_lt(d, m1[r][v], idx, i1[r][v]);
                    m1[r][v] = S::select_lt(d, m1[r][v], d, m1[r][v]);
                }
            }
        }
        for r in 0..R.min(m - g) {
            let (mut a1, mut a2, mut ai) = (
                [0f32; PANEL_WIDTH],
                [0f32; PANEL_WIDTH],
                [0f32; PANEL_WIDTH],
            );
            for v in 0..V {
                S::store(a1.as_mut_ptr().add(v * S::LANES), m1[r][v]);
                S::store(a2.as_mut_ptr().add(v * S::LANES), m2[r][v]);
                S::store(ai.as_mut_ptr().add(v * S::LANES), i1[r][v]);
            }
            out[g + r] = crate::distance::panels::reduce_lanes(&a1, &a2, &ai);
        }
        g += R;
    }
}

/// An element type that loads as one vector of `f32` lanes of level `S`.
pub(crate) trait Load<S: Simd>: Copy {
    /// Loads `S::LANES` elements starting at `p`.
    unsafe fn load(p: *const Self) -> S::V;
    /// Loads `n < S::LANES` elements starting at `p`; the other lanes are 0. Reads nothing
    /// at or past `p + n`.
    unsafe fn load_partial(p: *const Self, n: usize) -> S::V;
}

/// One kernel: what is accumulated per vector of lanes and how it is reduced at the end.
pub(crate) trait Op<S: Simd> {
    type Acc: Copy;
    type Out;
    unsafe fn zero() -> Self::Acc;
    unsafe fn step(acc: Self::Acc, x: S::V, y: S::V) -> Self::Acc;
    unsafe fn merge(a: Self::Acc, b: Self::Acc) -> Self::Acc;
    unsafe fn finish(acc: Self::Acc) -> Self::Out;
}

/// The one loop behind every kernel: folds `O` over `a` and `b` (cut to `a.len()`).
#[inline(always)]
pub(crate) unsafe fn run<S: Simd, O: Op<S>, A: Load<S>, B: Load<S>>(a: &[A], b: &[B]) -> O::Out {
    let n = a.len();
    let b = &b[..n]; // panics rather than reading past a short `b`
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let w = S::LANES;
    let (mut s0, mut s1, mut s2, mut s3) = (O::zero(), O::zero(), O::zero(), O::zero());
    let mut i = 0;
    while i + 4 * w <= n {
        s0 = O::step(s0, A::load(pa.add(i)), B::load(pb.add(i)));
        s1 = O::step(s1, A::load(pa.add(i + w)), B::load(pb.add(i + w)));
        s2 = O::step(s2, A::load(pa.add(i + 2 * w)), B::load(pb.add(i + 2 * w)));
        s3 = O::step(s3, A::load(pa.add(i + 3 * w)), B::load(pb.add(i + 3 * w)));
        i += 4 * w;
    }
    while i + w <= n {
        s0 = O::step(s0, A::load(pa.add(i)), B::load(pb.add(i)));
        i += w;
    }
    if i < n {
        let m = n - i;
        s1 = O::step(
            s1,
            A::load_partial(pa.add(i), m),
            B::load_partial(pb.add(i), m),
        );
    }
    O::finish(O::merge(O::merge(s0, s1), O::merge(s2, s3)))
}

/// `Σ (x-y)²`
pub(crate) struct L2;
/// `Σ x·y`
pub(crate) struct Dot;
/// `Σ |x-y|`
pub(crate) struct L1;
/// `Σ x²` (ignores `y`; call with `b = a`, the unused loads are dropped by the compiler)
pub(crate) struct Norm;
/// `(Σ x·y, Σ x², Σ y²)`
pub(crate) struct CosineParts;
/// `(Σ x·y, Σ y²)`: cosine against a query whose norm is already known
pub(crate) struct DotNorm;

/// Ops with one vector accumulator, summed lane-wise and reduced at the end; they differ
/// only in how one step folds `x` and `y` into the accumulator.
macro_rules! single_accumulator_op {
    ($($op:ident: |$acc:ident, $x:ident, $y:ident| $step:expr;)*) => {$(
        impl<S: Simd> Op<S> for $op {
            type Acc = S::V;
            type Out = f32;
            #[inline(always)]
            unsafe fn zero() -> S::V {
                S::zero()
            }
            #[inline(always)]
            #[allow(unused_variables)]
            unsafe fn step($acc: S::V, $x: S::V, $y: S::V) -> S::V {
                $step
            }
            #[inline(always)]
            unsafe fn merge(a: S::V, b: S::V) -> S::V {
                S::add(a, b)
            }
            #[inline(always)]
            unsafe fn finish(acc: S::V) -> f32 {
                S::hsum(acc)
            }
        }
    )*};
}

single_accumulator_op! {
    L2: |acc, x, y| {
        let d = S::sub(x, y);
        S::fmadd(d, d, acc)
    };
    Dot: |acc, x, y| S::fmadd(x, y, acc);
    L1: |acc, x, y| S::add(acc, S::abs(S::sub(x, y)));
    Norm: |acc, x, y| S::fmadd(x, x, acc);
}

impl<S: Simd> Op<S> for CosineParts {
    type Acc = [S::V; 3];
    type Out = (f32, f32, f32);
    #[inline(always)]
    unsafe fn zero() -> [S::V; 3] {
        [S::zero(); 3]
    }
    #[inline(always)]
    unsafe fn step([ab, aa, bb]: [S::V; 3], x: S::V, y: S::V) -> [S::V; 3] {
        [S::fmadd(x, y, ab), S::fmadd(x, x, aa), S::fmadd(y, y, bb)]
    }
    #[inline(always)]
    unsafe fn merge(a: [S::V; 3], b: [S::V; 3]) -> [S::V; 3] {
        [S::add(a[0], b[0]), S::add(a[1], b[1]), S::add(a[2], b[2])]
    }
    #[inline(always)]
    unsafe fn finish([ab, aa, bb]: [S::V; 3]) -> (f32, f32, f32) {
        (S::hsum(ab), S::hsum(aa), S::hsum(bb))
    }
}

impl<S: Simd> Op<S> for DotNorm {
    type Acc = [S::V; 2];
    type Out = (f32, f32);
    #[inline(always)]
    unsafe fn zero() -> [S::V; 2] {
        [S::zero(); 2]
    }
    #[inline(always)]
    unsafe fn step([ab, bb]: [S::V; 2], x: S::V, y: S::V) -> [S::V; 2] {
        [S::fmadd(x, y, ab), S::fmadd(y, y, bb)]
    }
    #[inline(always)]
    unsafe fn merge(a: [S::V; 2], b: [S::V; 2]) -> [S::V; 2] {
        [S::add(a[0], b[0]), S::add(a[1], b[1])]
    }
    #[inline(always)]
    unsafe fn finish([ab, bb]: [S::V; 2]) -> (f32, f32) {
        (S::hsum(ab), S::hsum(bb))
    }
}

/// Adapts a level to [`super::BatchKernels`], so the shared batch loop inlines this level's
/// kernels (f32 query against `T` data).
pub(crate) struct Level<S>(core::marker::PhantomData<S>);

impl<S: Simd, T: Load<S>> super::BatchKernels<T> for Level<S>
where
    f32: Load<S>,
{
    #[inline(always)]
    unsafe fn l2_squared(a: &[f32], b: &[T]) -> f32 {
        run::<S, L2, f32, T>(a, b)
    }
    #[inline(always)]
    unsafe fn dot(a: &[f32], b: &[T]) -> f32 {
        run::<S, Dot, f32, T>(a, b)
    }
    #[inline(always)]
    unsafe fn l1(a: &[f32], b: &[T]) -> f32 {
        run::<S, L1, f32, T>(a, b)
    }
    #[inline(always)]
    unsafe fn dot_norm(a: &[f32], b: &[T]) -> (f32, f32) {
        run::<S, DotNorm, f32, T>(a, b)
    }
}

/// Copies `n < N` half floats from `p` into a zeroed buffer (the f16 partial load: there is no
/// 16-bit masked load in AVX2 or plain AVX-512F). Copies in 8/4/2/1-element pieces rather than
/// with a variable-length `memcpy`, which would be an out-of-line call.
#[inline(always)]
pub(crate) unsafe fn f16_tail<const N: usize>(p: *const f16, n: usize) -> [f16; N] {
    use core::ptr::{read_unaligned as rd, write_unaligned as wr};
    debug_assert!(n < N && N <= 16);
    let mut buf = [f16::ZERO; N];
    let (src, dst) = (p as *const u8, buf.as_mut_ptr() as *mut u8);
    let mut at = 0; // bytes copied so far
    if N > 8 && n & 8 != 0 {
        wr(dst as *mut u128, rd(src as *const u128));
        at += 16;
    }
    if n & 4 != 0 {
        wr(dst.add(at) as *mut u64, rd(src.add(at) as *const u64));
        at += 8;
    }
    if n & 2 != 0 {
        wr(dst.add(at) as *mut u32, rd(src.add(at) as *const u32));
        at += 4;
    }
    if n & 1 != 0 {
        wr(dst.add(at) as *mut u16, rd(src.add(at) as *const u16));
    }
    buf
}

/// Defines one level's public `#[target_feature]` entry points and its dispatch tables
/// `F32_KERNELS` / `F16_KERNELS`. `$f32_features` is enabled on the f32 kernels, `$f16_features`
/// on the f16 and mixed ones.
macro_rules! entry_points {
    ($S:ty, $panel_rows:literal, $name32:literal, $f32_features:literal, $name16:literal, $f16_features:literal) => {
        use crate::distance::x86::{run, CosineParts, Dot, Level, Norm, L1, L2};
        use crate::distance::{batch_loop, F16Kernels, F32Kernels, Metric};
        use half::f16;

        /// `Σ (a-b)²`.
        ///
        /// # Safety
        #[doc = concat!("The CPU must support `", $f32_features, "` (see the `has_*` functions in [`super`]).")]
        #[target_feature(enable = $f32_features)]
        pub unsafe fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
            run::<$S, L2, _, _>(a, b)
        }
        /// `Σ a·b`.
        ///
        /// # Safety
        #[doc = concat!("The CPU must support `", $f32_features, "` (see the `has_*` functions in [`super`]).")]
        #[target_feature(enable = $f32_features)]
        pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
            run::<$S, Dot, _, _>(a, b)
        }
        /// `Σ |a-b|`.
        ///
        /// # Safety
        #[doc = concat!("The CPU must support `", $f32_features, "` (see the `has_*` functions in [`super`]).")]
        #[target_feature(enable = $f32_features)]
        pub unsafe fn l1(a: &[f32], b: &[f32]) -> f32 {
            run::<$S, L1, _, _>(a, b)
        }
        /// `(Σ a·b, Σ a², Σ b²)`.
        ///
        /// # Safety
        #[doc = concat!("The CPU must support `", $f32_features, "` (see the `has_*` functions in [`super`]).")]
        #[target_feature(enable = $f32_features)]
        pub unsafe fn cosine_parts(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
            run::<$S, CosineParts, _, _>(a, b)
        }
        /// `Σ a²`.
        ///
        /// # Safety
        #[doc = concat!("The CPU must support `", $f32_features, "` (see the `has_*` functions in [`super`]).")]
        #[target_feature(enable = $f32_features)]
        pub unsafe fn norm_squared(a: &[f32]) -> f32 {
            run::<$S, Norm, _, _>(a, a)
        }
        /// See [`crate::distance::Panels::nearest2`].
        ///
        /// # Safety
        #[doc = concat!("The CPU must support `", $f32_features, "` (see the `has_*` functions in [`super`]).")]
        #[target_feature(enable = $f32_features)]
        pub unsafe fn panel_nearest2(
            points: &[f32],
            dim: usize,
            panels: &[f32],
            point_add: &[f32],
            panel_add: &[f32],
            out: &mut [(usize, f32, f32)],
        ) {
            crate::distance::x86::panel_nearest2::<$S, $panel_rows, { crate::distance::PANEL_WIDTH / <$S as crate::distance::x86::Simd>::LANES }>(
                points, dim, panels, point_add, panel_add, out,
            )
        }
        /// See [`crate::distance::batch_f32`].
        ///
        /// # Safety
        #[doc = concat!("The CPU must support `", $f32_features, "` (see the `has_*` functions in [`super`]).")]
        #[target_feature(enable = $f32_features)]
        pub unsafe fn batch_f32(
            metric: Metric,
            query: &[f32],
            query_norm_sq: f32,
            data: &[f32],
            out: &mut [f32],
        ) {
            batch_loop::<f32, Level<$S>>(metric, query, query_norm_sq, data, out)
        }

        /// `Σ (a-b)²` on half floats.
        ///
        /// # Safety
        #[doc = concat!("The CPU must support `", $f16_features, "` (see the `has_*` functions in [`super`]).")]
        #[target_feature(enable = $f16_features)]
        pub unsafe fn l2_squared_f16(a: &[f16], b: &[f16]) -> f32 {
            run::<$S, L2, _, _>(a, b)
        }
        /// `Σ a·b` on half floats.
        ///
        /// # Safety
        #[doc = concat!("The CPU must support `", $f16_features, "` (see the `has_*` functions in [`super`]).")]
        #[target_feature(enable = $f16_features)]
        pub unsafe fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
            run::<$S, Dot, _, _>(a, b)
        }
        /// `Σ |a-b|` on half floats.
        ///
        /// # Safety
        #[doc = concat!("The CPU must support `", $f16_features, "` (see the `has_*` functions in [`super`]).")]
        #[target_feature(enable = $f16_features)]
        pub unsafe fn l1_f16(a: &[f16], b: &[f16]) -> f32 {
            run::<$S, L1, _, _>(a, b)
        }
        /// `(Σ a·b, Σ a², Σ b²)` on half floats.
        ///
        /// # Safety
        #[doc = concat!("The CPU must support `", $f16_features, "` (see the `has_*` functions in [`super`]).")]
        #[target_feature(enable = $f16_features)]
        pub unsafe fn cosine_parts_f16(a: &[f16], b: &[f16]) -> (f32, f32, f32) {
            run::<$S, CosineParts, _, _>(a, b)
        }
        /// `Σ a²` on half floats.
        ///
        /// # Safety
        #[doc = concat!("The CPU must support `", $f16_features, "` (see the `has_*` functions in [`super`]).")]
        #[target_feature(enable = $f16_features)]
        pub unsafe fn norm_squared_f16(a: &[f16]) -> f32 {
            run::<$S, Norm, _, _>(a, a)
        }
        /// See [`crate::distance::batch_f16`].
        ///
        /// # Safety
        #[doc = concat!("The CPU must support `", $f16_features, "` (see the `has_*` functions in [`super`]).")]
        #[target_feature(enable = $f16_features)]
        pub unsafe fn batch_f16(
            metric: Metric,
            query: &[f32],
            query_norm_sq: f32,
            data: &[f16],
            out: &mut [f32],
        ) {
            batch_loop::<f16, Level<$S>>(metric, query, query_norm_sq, data, out)
        }

        // f32 query against f16 data (what `batch_f16` does per vector), for the tests.
        #[cfg(test)]
        #[target_feature(enable = $f16_features)]
        pub(crate) unsafe fn l2_squared_mixed(a: &[f32], b: &[f16]) -> f32 {
            run::<$S, L2, _, _>(a, b)
        }
        #[cfg(test)]
        #[target_feature(enable = $f16_features)]
        pub(crate) unsafe fn dot_mixed(a: &[f32], b: &[f16]) -> f32 {
            run::<$S, Dot, _, _>(a, b)
        }
        #[cfg(test)]
        #[target_feature(enable = $f16_features)]
        pub(crate) unsafe fn l1_mixed(a: &[f32], b: &[f16]) -> f32 {
            run::<$S, L1, _, _>(a, b)
        }
        #[cfg(test)]
        #[target_feature(enable = $f16_features)]
        pub(crate) unsafe fn cosine_parts_mixed(a: &[f32], b: &[f16]) -> (f32, f32, f32) {
            run::<$S, CosineParts, _, _>(a, b)
        }

        pub(crate) static F32_KERNELS: F32Kernels = F32Kernels {
            name: $name32,
            l2_squared,
            dot,
            l1,
            cosine_parts,
            norm_squared,
            batch: batch_f32,
        };
        pub(crate) static F16_KERNELS: F16Kernels = F16Kernels {
            name: $name16,
            l2_squared: l2_squared_f16,
            dot: dot_f16,
            l1: l1_f16,
            cosine_parts: cosine_parts_f16,
            norm_squared: norm_squared_f16,
            batch: batch_f16,
        };
    };
}
pub(crate) use entry_points;
