//! Many points against many vectors: dot products in panels (k-means assignment).

#[allow(unused_imports)]
use super::*;
use std::sync::OnceLock;

/// Vectors per panel of [`Panels`].
pub const PANEL_WIDTH: usize = 32;

pub(super) type Nearest2Fn =
    unsafe fn(&[f32], usize, &[f32], &[f32], &[f32], &mut [(usize, f32, f32)]);
/// One level's `nearest2` results, by level name (tests).
#[cfg(test)]
pub(crate) type LevelResults = Vec<(&'static str, Vec<(usize, f32, f32)>)>;

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
