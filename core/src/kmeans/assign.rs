//! Nearest-centroid search for a batch of points: panel kernels over groups of points, exact
//! re-decision of close calls, and the full rescan used between Hamerly steps.

#![allow(unused_imports)]
use super::*;

/// Scratch buffers of [`rescan`].
#[derive(Default)]
pub(super) struct Workspace {
    pub(super) exact: Vec<f32>,
    pub(super) search: SearchScratch,
    pub(super) found: Vec<Approx>,
}

/// New label and bounds for the points `pts[o]`, `o` in `pending` (point `base + o` of `data`),
/// from all `k` centroids: the panel search, with the exact kernel deciding close calls. The
/// label is the exact kernel's nearest; `upper` is exact, `lower` the approximate second
/// distance minus its error margin (so still a lower bound). Returns how many labels changed.
pub(super) fn rescan(
    search: &NearestSearch,
    data: &[f32],
    base: usize,
    pts: &mut [Bounds],
    pending: &[usize],
    full: bool,
    ws: &mut Workspace,
) -> usize {
    if pending.is_empty() {
        return 0;
    }
    let dim = search.dim;
    let point = |o: usize| &data[(base + o) * dim..(base + o + 1) * dim];
    let points: Vec<&[f32]> = pending.iter().map(|&o| point(o)).collect();
    search.search(&points, &mut ws.search, &mut ws.found);
    let mut changed = 0;
    for (&o, a) in pending.iter().zip(&ws.found) {
        let x = point(o);
        let (label, upper, lower) = if a.certain() {
            let c = &search.centroids[a.nearest * dim..(a.nearest + 1) * dim];
            (
                a.nearest,
                l2_squared(x, c).sqrt(),
                (a.d2 - a.margin).max(0.0).sqrt(),
            )
        } else {
            ws.exact.resize(search.k, 0.0);
            batch_f32(Metric::L2, x, 0.0, search.centroids, &mut ws.exact);
            let (mut j1, mut d1, mut d2) = (0usize, f32::INFINITY, f32::INFINITY);
            for (j, &d) in ws.exact.iter().enumerate() {
                if d < d1 {
                    (d2, d1, j1) = (d1, d, j);
                } else if d < d2 {
                    d2 = d;
                }
            }
            (j1, d1.sqrt(), d2.sqrt())
        };
        let b = &mut pts[o];
        if full || label != b.label as usize {
            changed += 1;
        }
        *b = Bounds {
            label: label as u32,
            upper,
            lower,
        };
    }
    changed
}

/// Points per [`NearestSearch::search`] call.
pub(super) const GROUP: usize = 16;

/// Nearest and second-nearest centroid of many points through [`Panels`]: distances in the
/// expanded form `|x'|² + |c'|² − 2·x'·c'` (with `x' = x − μ`, `c' = c − μ`, `μ` the centroid
/// mean, so the norms stay of the order of the distances), several times cheaper than one
/// [`batch_f32`] per point. Each approximate distance is within `margin` of what the exact
/// per-pair kernel computes (a generous floating point bound: `8·(dim+8)·2⁻²⁴·(|x'|² + max|c'|²)`),
/// so when the second nearest is more than `2·margin` behind, the nearest is certain; otherwise
/// the caller falls back to the exact kernel. In inner-product mode the ordering value is
/// `−x·c` (no shift) and the margin `8·(dim+8)·2⁻²⁴·|x|·max|c|`.
pub(super) struct NearestSearch<'a> {
    pub(super) centroids: &'a [f32],
    pub(super) dim: usize,
    pub(super) k: usize,
    pub(super) inner_product: bool,
    pub(super) panels: Panels,
    pub(super) shift: Vec<f32>,
    /// Per centroid: `|c'|²` (L2) or 0 (inner product); `+inf` for the panels' padding.
    pub(super) add: Vec<f32>,
    pub(super) max_norm: f32,
}

/// Scratch buffers of [`NearestSearch::search`].
#[derive(Default)]
pub(super) struct SearchScratch {
    pub(super) shifted: Vec<f32>,
    pub(super) norms: Vec<f32>,
    pub(super) point_add: Vec<f32>,
    pub(super) found: Vec<(usize, f32, f32)>,
}

/// What [`NearestSearch::search`] finds for one point (approximate ordering values).
#[derive(Clone, Copy, Debug)]
pub(super) struct Approx {
    pub(super) nearest: usize,
    pub(super) d1: f32,
    pub(super) d2: f32,
    pub(super) margin: f32,
}

impl Approx {
    /// The nearest is certain (NaN or overflow is never certain).
    pub(super) fn certain(&self) -> bool {
        self.d2 - self.d1 > 2.0 * self.margin
    }
}

impl<'a> NearestSearch<'a> {
    pub(super) fn new(centroids: &'a [f32], dim: usize, inner_product: bool) -> NearestSearch<'a> {
        let k = centroids.len() / dim;
        let mut shift = vec![0f32; dim];
        if !inner_product && k > 0 {
            let mut sum = vec![0f64; dim];
            for c in centroids.chunks_exact(dim) {
                for (s, &x) in sum.iter_mut().zip(c) {
                    *s += x as f64;
                }
            }
            for (m, s) in shift.iter_mut().zip(sum) {
                *m = (s / k as f64) as f32;
            }
        }
        let shifted: Vec<f32> = centroids
            .chunks_exact(dim)
            .flat_map(|c| c.iter().zip(&shift).map(|(&x, &m)| x - m))
            .collect();
        let norms: Vec<f32> = shifted.chunks_exact(dim).map(norm_squared).collect();
        let max_norm = norms.iter().copied().fold(0.0, f32::max);
        let panels = Panels::new(&shifted, dim);
        let mut add: Vec<f32> = if inner_product { vec![0.0; k] } else { norms };
        add.resize(panels.padded(), f32::INFINITY);
        NearestSearch {
            centroids,
            dim,
            k,
            inner_product,
            panels,
            shift,
            add,
            max_norm,
        }
    }

    /// Approximate nearest two for each point of `points` (at most [`GROUP`]) into `out`.
    pub(super) fn search(&self, points: &[&[f32]], ws: &mut SearchScratch, out: &mut Vec<Approx>) {
        let dim = self.dim;
        debug_assert!(points.len() <= GROUP);
        ws.shifted.clear();
        for x in points {
            ws.shifted
                .extend(x.iter().zip(&self.shift).map(|(&v, &s)| v - s));
        }
        ws.norms.clear();
        ws.norms
            .extend(ws.shifted.chunks_exact(dim).map(norm_squared));
        ws.point_add.clear();
        ws.point_add.extend(
            ws.norms
                .iter()
                .map(|&n| if self.inner_product { 0.0 } else { n }),
        );
        ws.found.resize(points.len(), (0, 0.0, 0.0));
        self.panels
            .nearest2(&ws.shifted, &ws.point_add, &self.add, &mut ws.found);
        let unit = 8.0 * (dim + 8) as f32 * f32::EPSILON / 2.0;
        out.clear();
        for (&(nearest, d1, d2), &xn) in ws.found.iter().zip(&ws.norms) {
            // Relative rounding error, plus an absolute term for values near the subnormal
            // range (where rounding errors stop shrinking with the values).
            let tiny = (dim + 8) as f32 * 16.0 * f32::MIN_POSITIVE;
            let margin = if self.inner_product {
                // The values are −2·x·c.
                2.0 * unit * (xn * self.max_norm).sqrt() + tiny
            } else {
                unit * (xn + self.max_norm) + tiny
            };
            out.push(Approx {
                nearest,
                d1,
                d2,
                margin,
            });
        }
    }
}

/// Index of the first minimum (NaN never wins; 0 if all are NaN).
#[inline]
pub(super) fn argmin(v: &[f32]) -> usize {
    let mut best = 0;
    let mut best_d = f32::INFINITY;
    for (j, &d) in v.iter().enumerate() {
        if d < best_d {
            best_d = d;
            best = j;
        }
    }
    best
}

/// Points per parallel task in brute-force-like passes: ~2M multiply-adds each, 16..=1024.
pub(super) fn pass_chunk(k: usize, dim: usize) -> usize {
    ((1usize << 21) / (k * dim).max(1)).clamp(16, 1024)
}
