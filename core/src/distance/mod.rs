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

pub mod scalar;
#[cfg(target_arch = "x86_64")]
pub mod x86;

#[cfg(test)]
mod tests;

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

// ---------------------------------------------------------------------------------------------
// Many points against many vectors: dot products in panels
// ---------------------------------------------------------------------------------------------

/// Vectors per panel of [`Panels`].
pub const PANEL_WIDTH: usize = 32;

type Nearest2Fn = unsafe fn(&[f32], usize, &[f32], &[f32], &[f32], &mut [(usize, f32, f32)]);
/// One level's `nearest2` results, by level name (tests).
#[cfg(test)]
type LevelResults = Vec<(&'static str, Vec<(usize, f32, f32)>)>;

/// A set of vectors (e.g. k-means centroids) transposed for many-against-many dot products:
/// panel `p` holds vectors `32p .. 32p+32` as `dim` rows of 32 floats (missing vectors are
/// zeros). Against a panel, a point costs one broadcast and `32 / LANES` FMAs per dimension
/// and needs no horizontal sum, and each panel row loaded is shared by several points: several
/// times less work per pair than one [`batch_f32`] call per point.
pub struct Panels {
    dim: usize,
    count: usize,
    data: Vec<f32>,
}

impl Panels {
    /// Panels of the `vectors.len() / dim` vectors packed back to back in `vectors`.
    pub fn new(vectors: &[f32], dim: usize) -> Panels {
        assert!(dim > 0 && vectors.len().is_multiple_of(dim));
        let count = vectors.len() / dim;
        let n_panels = count.div_ceil(PANEL_WIDTH);
        let mut data = vec![0f32; n_panels * dim * PANEL_WIDTH];
        for (j, v) in vectors.chunks_exact(dim).enumerate() {
            let (p, l) = (j / PANEL_WIDTH, j % PANEL_WIDTH);
            let panel = &mut data[p * dim * PANEL_WIDTH..(p + 1) * dim * PANEL_WIDTH];
            for (i, &x) in v.iter().enumerate() {
                panel[i * PANEL_WIDTH + l] = x;
            }
        }
        Panels { dim, count, data }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// `count` rounded up to whole panels: the entries [`Panels::nearest2`]'s `vector_add` needs.
    pub fn padded(&self) -> usize {
        self.count.div_ceil(PANEL_WIDTH) * PANEL_WIDTH
    }

    /// For each of the `m = points.len() / dim` points `x_r`: over the vectors `v_j`, the
    /// smallest and second smallest of `point_add[r] + vector_add[j] − 2·x_r·v_j` and the index
    /// of the smallest (the first one on ties within a SIMD lane, the lowest index across lanes),
    /// into `out[r]` as `(index, d1, d2)`. With `point_add = |x|²` and `vector_add = |v|²` that
    /// is the squared L2 distance in expanded form; with zeros it is `−2·x·v`. `vector_add` has
    /// [`Panels::padded`] entries: give the padding columns `+inf`. NaN distances never win.
    pub fn nearest2(
        &self,
        points: &[f32],
        point_add: &[f32],
        vector_add: &[f32],
        out: &mut [(usize, f32, f32)],
    ) {
        assert!(points.len().is_multiple_of(self.dim));
        let m = points.len() / self.dim;
        assert!(point_add.len() >= m && out.len() >= m && vector_add.len() >= self.padded());
        // SAFETY: the level was chosen for this CPU.
        unsafe { (nearest2_kernel())(points, self.dim, &self.data, point_add, vector_add, out) }
    }

    /// [`Panels::nearest2`] with every level this CPU has (for the tests).
    #[cfg(test)]
    pub(crate) fn nearest2_all_levels(
        &self,
        points: &[f32],
        point_add: &[f32],
        vector_add: &[f32],
    ) -> LevelResults {
        nearest2_levels()
            .into_iter()
            .map(|(name, f)| {
                let mut out = vec![(usize::MAX, f32::NAN, f32::NAN); points.len() / self.dim];
                unsafe {
                    f(
                        points, self.dim, &self.data, point_add, vector_add, &mut out,
                    )
                };
                (name, out)
            })
            .collect()
    }
}

/// Dot products of every point with every panel vector, `stride` floats per point (the scalar
/// level of [`Panels::nearest2`] scans them afterwards).
unsafe fn scalar_panel_dots(
    points: &[f32],
    dim: usize,
    panels: &[f32],
    out: &mut [f32],
    stride: usize,
) {
    let n_panels = panels.len() / (dim * PANEL_WIDTH);
    for (r, x) in points.chunks_exact(dim).enumerate() {
        for p in 0..n_panels {
            let panel = &panels[p * dim * PANEL_WIDTH..(p + 1) * dim * PANEL_WIDTH];
            let mut acc = [0f32; PANEL_WIDTH];
            for (i, &xi) in x.iter().enumerate() {
                for (a, &c) in acc
                    .iter_mut()
                    .zip(&panel[i * PANEL_WIDTH..(i + 1) * PANEL_WIDTH])
                {
                    *a += xi * c;
                }
            }
            out[r * stride + p * PANEL_WIDTH..r * stride + (p + 1) * PANEL_WIDTH]
                .copy_from_slice(&acc);
        }
    }
}

/// Reduces per-lane running minima (`m1`, its index `i1` as a float, second minimum `m2`) to
/// `(index, d1, d2)`: the lowest index among the lanes holding the smallest `m1`, and as `d2`
/// the smallest of every other lane's `m1` and every lane's `m2`.
pub(crate) fn reduce_lanes(m1: &[f32], m2: &[f32], i1: &[f32]) -> (usize, f32, f32) {
    let mut best: Option<usize> = None;
    for l in 0..m1.len() {
        if m1[l] < f32::INFINITY {
            best = match best {
                Some(b) if m1[b] < m1[l] || (m1[b] == m1[l] && i1[b] < i1[l]) => Some(b),
                _ => Some(l),
            };
        }
    }
    let Some(b) = best else {
        return (
            0,
            f32::INFINITY,
            m2.iter().copied().fold(f32::INFINITY, f32::min),
        );
    };
    let mut d2 = f32::INFINITY;
    for l in 0..m1.len() {
        if l != b && m1[l] < d2 {
            d2 = m1[l];
        }
        if m2[l] < d2 {
            d2 = m2[l];
        }
    }
    (i1[b] as usize, m1[b], d2)
}

/// The scalar level of [`Panels::nearest2`]: dot products, then one scan per point.
unsafe fn scalar_panel_nearest2(
    points: &[f32],
    dim: usize,
    panels: &[f32],
    point_add: &[f32],
    panel_add: &[f32],
    out: &mut [(usize, f32, f32)],
) {
    let stride = panels.len() / dim;
    let mut dots = vec![0f32; points.len() / dim * stride];
    scalar_panel_dots(points, dim, panels, &mut dots, stride);
    for (r, row) in dots.chunks_exact(stride.max(1)).enumerate() {
        let (mut j1, mut d1, mut d2) = (0usize, f32::INFINITY, f32::INFINITY);
        for (j, (&dot, &add)) in row.iter().zip(panel_add).enumerate() {
            let d = point_add[r] + add - 2.0 * dot;
            if d < d1 {
                (d2, d1, j1) = (d1, d, j);
            } else if d < d2 {
                d2 = d;
            }
        }
        out[r] = (j1, d1, d2);
    }
}

/// Every nearest-two level this CPU can run, best last.
fn nearest2_levels() -> Vec<(&'static str, Nearest2Fn)> {
    #[allow(unused_mut)]
    let mut levels: Vec<(&'static str, Nearest2Fn)> = vec![("scalar", scalar_panel_nearest2)];
    #[cfg(target_arch = "x86_64")]
    {
        if x86::has_avx2_fma() {
            levels.push(("avx2+fma", x86::avx2::panel_nearest2));
        }
        if x86::has_avx512f() {
            levels.push(("avx512f", x86::avx512::panel_nearest2));
        }
    }
    levels
}

#[inline]
fn nearest2_kernel() -> Nearest2Fn {
    static CHOSEN: OnceLock<Nearest2Fn> = OnceLock::new();
    *CHOSEN.get_or_init(|| nearest2_levels().last().unwrap().1)
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
