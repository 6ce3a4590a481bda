//! k-means for training IVF (ivfflat) lists.
//!
//! [`train`] runs, on `n` vectors of `dim` floats stored back to back:
//!
//! 1. **k-means++ seeding** (D² sampling) on a deterministic random subsample of at most
//!    `max(INIT_SAMPLE_PER_CENTROID · k, INIT_SAMPLE_MIN)` points. Each new centre updates every
//!    sample point's distance to its nearest centre in parallel; a point is skipped without a
//!    distance computation when `|c_new − c_near| ≥ 2·|x − c_near|` (triangle inequality), which
//!    makes the later seeding steps cheap. In spherical mode the seeding geometry is angular:
//!    points are compared by direction (`|x/|x| − c|²`), zero vectors get weight 0.
//!    Centres that would coincide with an earlier one, and the centres still missing when every
//!    remaining weight is 0 (fewer distinct points than `k`, including `n < k`), are copies of
//!    random sample points with a tiny deterministic perturbation, so exactly `k` centroids exist.
//! 2. **Lloyd iterations accelerated with Hamerly's bounds.** Every point keeps its label `a`, an
//!    upper bound `u ≥ |x − c_a|` and one lower bound `l ≤ min_{j≠a} |x − c_j|`; per centroid
//!    `s_j = ½·min_{j'≠j} |c_j − c_j'|`. A point keeps its label without any work when
//!    `u ≤ max(s_a, l)`; otherwise `u` is tightened to the exact distance and, if the test still
//!    fails, all `k` distances are computed (nearest and second nearest give the new `a, u, l`).
//!    After the centroid update, with `δ_j` the movement of centroid `j`: `u += δ_a`,
//!    `l −= max_{j≠a} δ_j`. The assignment found is exactly the brute-force nearest centroid (up
//!    to floating point rounding in near ties). `s` costs `k²·dim` per iteration, so it is only
//!    computed when `4k ≤ n` (otherwise `s = 0` and the lower bound alone prunes). The first
//!    assignment is a full brute-force pass. The bounds pay off once the centroids settle; while
//!    they still move a lot (first iterations, high dimensions) most points need a full scan.
//!    Full scans (and [`assign`]) run 16 points at a time through `distance::Panels` (centroids
//!    transposed in panels of 32, distances in the expanded form `|x|² + |c|² − 2·x·c` after
//!    shifting everything by the centroid mean, nearest two tracked in SIMD lanes): about 3× less
//!    work per pair than one `batch_f32` call per point. The expanded form is approximate, so a
//!    point whose second nearest is within twice a rigorous error margin of the nearest is
//!    decided again by the exact kernel (0.3% of points on 128-D blobs); the label, `u` (exact)
//!    and `l` (approximate minus the margin) keep every guarantee above.
//!    (Tracking individual bounds for each point's few nearest centroids as well, Elkan-style,
//!    was tried and did not help on 16–128-D data, so plain Hamerly it is.)
//! 3. **Update**: each centroid is the mean of its points, summed in `f64` in point order per
//!    cluster (clusters are processed in parallel, each one sequentially), so results do not
//!    depend on the thread count. **Empty clusters** are re-seeded with the points farthest from
//!    their centroids (never taking the last point of a cluster; points already at distance 0
//!    are never taken, so duplicates cannot loop); an empty cluster with no candidate keeps its
//!    centroid.
//! 4. Stop after `max_iters` iterations or when fewer than 0.1% of the points (or none) change
//!    cluster.
//!
//! **Spherical mode** (inner product and cosine): centroids are normalised to unit length after
//! every update (inputs are used as given). With all centroids of norm 1,
//! `|x − c|² = |x|² + 1 − 2·x·c`, so the nearest centroid in L2 is exactly the one of largest
//! dot product: the same Hamerly machinery runs unchanged in both modes. A centroid whose sum is
//! the zero vector keeps its previous (unit) value; a seed that is a zero vector is replaced by a
//! deterministic random unit vector, so every spherical centroid always has norm 1.
//!
//! `inertia` is `Σ |x − c_nearest|²` in both modes (for spherical, `Σ |x|² + 1 − 2·x·c`),
//! computed at the end against the final centroids.
//!
//! **Determinism**: for a given seed the result is bit-for-bit identical whatever the number of
//! rayon threads: randomness comes from a private SplitMix64 stream drawn on the calling thread,
//! per-point work is independent, and every floating point reduction is either per point, per
//! cluster in point order, or over fixed-size chunks combined in chunk order.
//!
//! Memory: `O(n)` (label and two bounds per point, plus `u32` index arrays) and `O(k·dim)`;
//! nothing of size `n·k`.
//!
//! Work runs on the current rayon pool; `progress` is only ever called on the calling thread.

use rayon::prelude::*;

use crate::distance::{batch_f32, dot, l2_squared, norm_squared, Metric, Panels};

/// Parameters of [`train`]. The vectors are stored back to back: `data.len() == n * dim`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KMeansParams {
    /// Number of lists/centroids (1..=32768).
    pub k: usize,
    /// Dimension of the vectors (> 0).
    pub dim: usize,
    /// `true` for inner product and cosine: centroids are normalised to unit length after every
    /// update (inputs are used as given) and "nearest" means largest dot product.
    pub spherical: bool,
    /// Maximum number of Lloyd iterations (e.g. 10..=50); training stops earlier once fewer than
    /// 0.1% of the points change cluster.
    pub max_iters: usize,
    /// Seed of the deterministic random stream (sampling, k-means++, perturbations).
    pub seed: u64,
}

/// Output of [`train`].
#[derive(Clone, Debug, PartialEq)]
pub struct KMeansResult {
    /// `k * dim` floats: exactly `k` centroids (unit length in spherical mode).
    pub centroids: Vec<f32>,
    /// Number of Lloyd iterations (centroid updates) performed.
    pub iterations: usize,
    /// `Σ |x − c_nearest|²` over all points against the final centroids.
    pub inertia: f64,
}

/// At most this many sample points per centroid are used by k-means++ seeding…
const INIT_SAMPLE_PER_CENTROID: usize = 16;
/// …but at least this many (or all points).
const INIT_SAMPLE_MIN: usize = 16_384;
/// Fixed chunk of sample points whose D² weights are summed together (determinism relies on it
/// not depending on the thread count).
const INIT_CHUNK: usize = 1024;
/// Fixed chunk for the final inertia sum.
const INERTIA_CHUNK: usize = 1024;
/// Roughly this many multiply-adds between two calls of `progress` inside long phases.
const CHECK_WORK: u64 = 1 << 28;
/// Relative size of the perturbation applied to duplicated seeds.
const PERTURBATION: f32 = 1e-4;

/// Trains `k` centroids on `data` (`n * dim` floats); see the module documentation.
///
/// `progress(iterations_done, max_iters)` is called on the calling thread after the
/// initialisation (with 0) and after every iteration; during long phases (seeding, brute-force
/// passes) it is additionally called with the current count every ~2^28 multiply-adds so that a
/// cancel request is noticed quickly (the same value may therefore be reported several times).
/// If it returns `Err(e)`, training stops and returns `Err(e)`.
///
/// Panics if `dim == 0`, `k == 0` or `data.len()` is not a multiple of `dim`.
pub fn train<E>(
    data: &[f32],
    params: &KMeansParams,
    progress: &mut dyn FnMut(usize, usize) -> Result<(), E>,
) -> Result<KMeansResult, E> {
    let KMeansParams {
        k,
        dim,
        spherical,
        max_iters,
        seed,
    } = *params;
    assert!(dim > 0, "k-means: dim must be > 0");
    assert!(k > 0, "k-means: k must be > 0");
    assert!(k <= u32::MAX as usize, "k-means: k too large");
    assert_eq!(
        data.len() % dim,
        0,
        "k-means: data length is not a multiple of dim"
    );
    let n = data.len() / dim;
    assert!(n <= u32::MAX as usize, "k-means: too many points");

    let mut check = Check {
        progress,
        done: 0,
        max: max_iters,
        work: 0,
    };
    let mut rng = SplitMix64::new(seed);

    if n == 0 {
        let mut centroids = vec![0.0f32; k * dim];
        for c in centroids.chunks_exact_mut(dim) {
            rng.unit_vector(c);
        }
        check.report(0)?;
        return Ok(KMeansResult {
            centroids,
            iterations: 0,
            inertia: 0.0,
        });
    }

    let centroids = kmeanspp_init(data, dim, k, spherical, &mut rng, &mut check)?;
    let mut h = Hamerly::new(data, dim, k, spherical, centroids);
    h.initial_assign(&mut check)?;
    check.report(0)?;

    let mut iterations = 0;
    for it in 1..=max_iters {
        h.update();
        let changed = h.assign_pass(&mut check)?;
        iterations = it;
        check.report(it)?;
        if changed == 0 || (changed as u64) * 1000 < n as u64 {
            break;
        }
    }
    let inertia = h.inertia();
    Ok(KMeansResult {
        centroids: h.centroids,
        iterations,
        inertia,
    })
}

/// Nearest centroid of every vector of `data` (L2 for non-spherical, largest dot product for
/// spherical; ties go to the lowest index), computed in parallel with rayon.
///
/// Panics if `dim == 0`, the lengths are not multiples of `dim`, or `data` is not empty while
/// `centroids` is.
pub fn assign(data: &[f32], dim: usize, centroids: &[f32], spherical: bool) -> Vec<u32> {
    assert!(dim > 0, "assign: dim must be > 0");
    assert_eq!(
        data.len() % dim,
        0,
        "assign: data length is not a multiple of dim"
    );
    assert_eq!(
        centroids.len() % dim,
        0,
        "assign: centroids length is not a multiple of dim"
    );
    let n = data.len() / dim;
    let k = centroids.len() / dim;
    let mut out = vec![0u32; n];
    if n == 0 {
        return out;
    }
    assert!(k > 0, "assign: no centroids");
    let metric = if spherical {
        Metric::InnerProduct
    } else {
        Metric::L2
    };
    let chunk = pass_chunk(k, dim).next_multiple_of(GROUP);
    let search = NearestSearch::new(centroids, dim, spherical);
    out.par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(ci, labels)| {
            let (mut scratch, mut ws, mut found) =
                (Vec::new(), SearchScratch::default(), Vec::new());
            for (gi, group) in labels.chunks_mut(GROUP).enumerate() {
                let first = ci * chunk + gi * GROUP;
                let points: Vec<&[f32]> = (first..first + group.len())
                    .map(|i| &data[i * dim..(i + 1) * dim])
                    .collect();
                search.search(&points, &mut ws, &mut found);
                for ((label, x), a) in group.iter_mut().zip(&points).zip(&found) {
                    *label = if a.certain() {
                        a.nearest as u32
                    } else {
                        // Too close to call in the expanded form: the exact kernel decides.
                        scratch.resize(k, 0.0);
                        batch_f32(metric, x, 0.0, centroids, &mut scratch);
                        argmin(&scratch) as u32
                    };
                }
            }
        });
    out
}

/// Nearest centroid of one vector (same rule as [`assign`]).
///
/// Panics if `v.len() != dim`, `dim == 0`, or `centroids` is empty or not a multiple of `dim`.
pub fn nearest(v: &[f32], centroids: &[f32], dim: usize, spherical: bool) -> usize {
    assert!(dim > 0, "nearest: dim must be > 0");
    assert_eq!(v.len(), dim, "nearest: vector length differs from dim");
    assert_eq!(
        centroids.len() % dim,
        0,
        "nearest: centroids length is not a multiple of dim"
    );
    assert!(!centroids.is_empty(), "nearest: no centroids");
    let mut best = 0;
    if spherical {
        let mut best_dot = f32::NEG_INFINITY;
        for (j, c) in centroids.chunks_exact(dim).enumerate() {
            let d = dot(v, c);
            if d > best_dot {
                best_dot = d;
                best = j;
            }
        }
    } else {
        let mut best_d = f32::INFINITY;
        for (j, c) in centroids.chunks_exact(dim).enumerate() {
            let d = l2_squared(v, c);
            if d < best_d {
                best_d = d;
                best = j;
            }
        }
    }
    best
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Scratch buffers of [`rescan`].
#[derive(Default)]
struct Workspace {
    exact: Vec<f32>,
    search: SearchScratch,
    found: Vec<Approx>,
}

/// New label and bounds for the points `pts[o]`, `o` in `pending` (point `base + o` of `data`),
/// from all `k` centroids: the panel search, with the exact kernel deciding close calls. The
/// label is the exact kernel's nearest; `upper` is exact, `lower` the approximate second
/// distance minus its error margin (so still a lower bound). Returns how many labels changed.
fn rescan(
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
const GROUP: usize = 16;

/// Nearest and second-nearest centroid of many points through [`Panels`]: distances in the
/// expanded form `|x'|² + |c'|² − 2·x'·c'` (with `x' = x − μ`, `c' = c − μ`, `μ` the centroid
/// mean, so the norms stay of the order of the distances), several times cheaper than one
/// [`batch_f32`] per point. Each approximate distance is within `margin` of what the exact
/// per-pair kernel computes (a generous floating point bound: `8·(dim+8)·2⁻²⁴·(|x'|² + max|c'|²)`),
/// so when the second nearest is more than `2·margin` behind, the nearest is certain; otherwise
/// the caller falls back to the exact kernel. In inner-product mode the ordering value is
/// `−x·c` (no shift) and the margin `8·(dim+8)·2⁻²⁴·|x|·max|c|`.
struct NearestSearch<'a> {
    centroids: &'a [f32],
    dim: usize,
    k: usize,
    inner_product: bool,
    panels: Panels,
    shift: Vec<f32>,
    /// Per centroid: `|c'|²` (L2) or 0 (inner product); `+inf` for the panels' padding.
    add: Vec<f32>,
    max_norm: f32,
}

/// Scratch buffers of [`NearestSearch::search`].
#[derive(Default)]
struct SearchScratch {
    shifted: Vec<f32>,
    norms: Vec<f32>,
    point_add: Vec<f32>,
    found: Vec<(usize, f32, f32)>,
}

/// What [`NearestSearch::search`] finds for one point (approximate ordering values).
#[derive(Clone, Copy, Debug)]
struct Approx {
    nearest: usize,
    d1: f32,
    d2: f32,
    margin: f32,
}

impl Approx {
    /// The nearest is certain (NaN or overflow is never certain).
    fn certain(&self) -> bool {
        self.d2 - self.d1 > 2.0 * self.margin
    }
}

impl<'a> NearestSearch<'a> {
    fn new(centroids: &'a [f32], dim: usize, inner_product: bool) -> NearestSearch<'a> {
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
    fn search(&self, points: &[&[f32]], ws: &mut SearchScratch, out: &mut Vec<Approx>) {
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
fn argmin(v: &[f32]) -> usize {
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
fn pass_chunk(k: usize, dim: usize) -> usize {
    ((1usize << 21) / (k * dim).max(1)).clamp(16, 1024)
}

/// Scales `v` to unit length (norm computed in f64). Returns false, leaving `v` untouched, if
/// its norm is 0 or not finite.
fn normalize(v: &mut [f32]) -> bool {
    let norm = v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    if norm.is_nan() || norm <= 0.0 || !norm.is_finite() {
        return false;
    }
    for x in v.iter_mut() {
        *x = (*x as f64 / norm) as f32;
    }
    true
}

/// SplitMix64: tiny, fast, deterministic; good enough for sampling.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        SplitMix64(seed ^ 0x6A09_E667_F3BC_C909)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Standard normal (Box–Muller).
    fn gaussian(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Fills `out` with a uniformly random unit vector.
    fn unit_vector(&mut self, out: &mut [f32]) {
        loop {
            for x in out.iter_mut() {
                *x = self.gaussian() as f32;
            }
            if normalize(out) {
                return;
            }
        }
    }
}

/// Calls `progress` on the calling thread: [`Check::report`] at iteration boundaries,
/// [`Check::tick`] inside long phases.
struct Check<'p, E> {
    progress: &'p mut dyn FnMut(usize, usize) -> Result<(), E>,
    done: usize,
    max: usize,
    work: u64,
}

impl<E> Check<'_, E> {
    fn report(&mut self, done: usize) -> Result<(), E> {
        self.done = done;
        self.work = 0;
        (self.progress)(done, self.max)
    }

    fn tick(&mut self, work: u64) -> Result<(), E> {
        self.work += work;
        if self.work >= CHECK_WORK {
            self.work = 0;
            (self.progress)(self.done, self.max)
        } else {
            Ok(())
        }
    }
}

/// Writes into `out` a copy of `src` moved by a tiny deterministic random perturbation
/// (relative to `src`'s largest component); normalised in spherical mode, where a zero `src`
/// gives a random unit vector.
fn perturbed_copy(src: &[f32], out: &mut [f32], spherical: bool, rng: &mut SplitMix64) {
    let scale = src.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
    if spherical && scale == 0.0 {
        rng.unit_vector(out);
        return;
    }
    let eps = PERTURBATION
        * if scale > 0.0 && scale.is_finite() {
            scale
        } else {
            1.0
        };
    for (o, &s) in out.iter_mut().zip(src) {
        *o = s + eps * (2.0 * rng.next_f64() as f32 - 1.0);
    }
    if spherical && !normalize(out) {
        rng.unit_vector(out);
    }
}

// ---------------------------------------------------------------------------------------------
// k-means++ seeding
// ---------------------------------------------------------------------------------------------

/// k-means++ (D² sampling) on a subsample; returns `k * dim` centroids (unit length when
/// spherical).
fn kmeanspp_init<E>(
    data: &[f32],
    dim: usize,
    k: usize,
    spherical: bool,
    rng: &mut SplitMix64,
    check: &mut Check<'_, E>,
) -> Result<Vec<f32>, E> {
    let n = data.len() / dim;
    let m = n.min((INIT_SAMPLE_PER_CENTROID.saturating_mul(k)).max(INIT_SAMPLE_MIN));
    // Sample indices: partial Fisher–Yates, then sorted for memory locality.
    let sample: Vec<u32> = if m < n {
        let mut idx: Vec<u32> = (0..n as u32).collect();
        for i in 0..m {
            let j = i + rng.below(n - i);
            idx.swap(i, j);
        }
        idx.truncate(m);
        idx.sort_unstable();
        idx
    } else {
        (0..n as u32).collect()
    };
    let point = |s: usize| -> &[f32] {
        let i = sample[s] as usize;
        &data[i * dim..(i + 1) * dim]
    };
    // Spherical: 1/|x| per sample point (0 for zero vectors, which get weight 0).
    let inv_norm: Vec<f32> = if spherical {
        (0..m)
            .into_par_iter()
            .with_min_len(256)
            .map(|s| {
                let nn = norm_squared(point(s));
                if nn > 0.0 && nn.is_finite() {
                    1.0 / nn.sqrt()
                } else {
                    0.0
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    // Squared distance of sample point `s` to centre `c`, in the seeding geometry.
    let dist = |s: usize, c: &[f32]| -> f32 {
        if spherical {
            let inv = inv_norm[s];
            if inv == 0.0 {
                0.0
            } else {
                (2.0 - 2.0 * dot(point(s), c) * inv).max(0.0)
            }
        } else {
            l2_squared(point(s), c)
        }
    };

    let mut centroids = vec![0.0f32; k * dim];
    let seed_from = |s: usize, out: &mut [f32], rng: &mut SplitMix64| {
        out.copy_from_slice(point(s));
        if spherical && !normalize(out) {
            rng.unit_vector(out);
        }
    };
    {
        let first = rng.below(m);
        seed_from(first, &mut centroids[..dim], rng);
    }

    let mut dist2 = vec![f32::INFINITY; m];
    let mut near = vec![0u32; m];
    let n_chunks = m.div_ceil(INIT_CHUNK);
    let mut chunk_sums = vec![0.0f64; n_chunks];
    let mut cc = vec![0.0f32; k]; // |c_t − c_j|² for j < t
    let mut t = 0;
    while t < k {
        let (done, rest) = centroids.split_at_mut(t * dim);
        let c = &mut rest[..dim];
        if t > 0 {
            // Distances from the new centre to the earlier ones; a duplicate gets perturbed.
            let mut tries = 0;
            loop {
                cc[..t]
                    .par_iter_mut()
                    .with_min_len(64)
                    .enumerate()
                    .for_each(|(j, d)| *d = l2_squared(c, &done[j * dim..(j + 1) * dim]));
                if tries < 4 && cc[..t].contains(&0.0) {
                    let src = c.to_vec();
                    perturbed_copy(&src, c, spherical, rng);
                    tries += 1;
                } else {
                    break;
                }
            }
        }
        let c = &*c;
        let cc_ref = &cc;
        let dist = &dist;
        dist2
            .par_chunks_mut(INIT_CHUNK)
            .zip(near.par_chunks_mut(INIT_CHUNK))
            .zip(chunk_sums.par_iter_mut())
            .enumerate()
            .for_each(|(ci, ((d2, nr), sum))| {
                let mut s = 0.0f64;
                for (o, (d, j)) in d2.iter_mut().zip(nr.iter_mut()).enumerate() {
                    // Triangle inequality: |c_t − c_near| ≥ 2|x − c_near| ⇒ c_t is not closer.
                    if t == 0 || cc_ref[*j as usize] < 4.0 * *d {
                        let nd = dist(ci * INIT_CHUNK + o, c);
                        if nd < *d {
                            *d = nd;
                            *j = t as u32;
                        }
                    }
                    s += *d as f64;
                }
                *sum = s;
            });
        t += 1;
        if t == k {
            break;
        }
        check.tick((m as u64) * (dim as u64) / 4 + (t as u64) * (dim as u64))?;

        let total: f64 = chunk_sums.iter().sum();
        let chosen = if total > 0.0 && total.is_finite() {
            Some(sample_d2(rng.next_f64() * total, &chunk_sums, &dist2))
        } else if total > 0.0 {
            // Overflowing weights: take the first farthest point.
            dist2.iter().position(|&d| d == f32::INFINITY)
        } else {
            None
        };
        match chosen {
            Some(s) => seed_from(s, &mut centroids[t * dim..(t + 1) * dim], rng),
            None => {
                // Every sample point sits on a centre: the remaining centres are perturbed
                // copies of random sample points.
                let mut tmp = vec![0.0f32; dim];
                while t < k {
                    let s = rng.below(m);
                    seed_from(s, &mut tmp, rng);
                    perturbed_copy(&tmp, &mut centroids[t * dim..(t + 1) * dim], spherical, rng);
                    t += 1;
                }
            }
        }
    }
    Ok(centroids)
}

/// Index `s` with `Σ_{<s} w ≤ r < Σ_{≤s} w` over the weights `dist2`, whose per-chunk sums are
/// `chunk_sums`; never a zero-weight point (rounding falls back to the last positive weight).
fn sample_d2(mut r: f64, chunk_sums: &[f64], dist2: &[f32]) -> usize {
    let m = dist2.len();
    for (ci, &s) in chunk_sums.iter().enumerate() {
        if r < s {
            let range = ci * INIT_CHUNK..((ci + 1) * INIT_CHUNK).min(m);
            let mut last_positive = None;
            for idx in range {
                let w = dist2[idx] as f64;
                if w > 0.0 {
                    if r < w {
                        return idx;
                    }
                    last_positive = Some(idx);
                }
                r -= w;
            }
            if let Some(idx) = last_positive {
                return idx;
            }
        } else {
            r -= s;
        }
    }
    // Rounding pushed `r` past the end: the last point with a positive weight.
    dist2.iter().rposition(|&w| w > 0.0).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Hamerly iterations
// ---------------------------------------------------------------------------------------------

/// Per point: label, upper bound on the distance to its centroid, lower bound on the distance to
/// every other centroid (true distances, not squared).
#[derive(Clone, Copy, Debug)]
struct Bounds {
    label: u32,
    upper: f32,
    lower: f32,
}

struct Hamerly<'a> {
    data: &'a [f32],
    n: usize,
    dim: usize,
    k: usize,
    spherical: bool,
    centroids: Vec<f32>,
    pts: Vec<Bounds>,
    /// `½·min_{j'≠j} |c_j − c_j'|` (or 0 when not maintained).
    half_sep: Vec<f32>,
    /// Whether `half_sep` is worth its `k²·dim` cost.
    use_half_sep: bool,
}

impl<'a> Hamerly<'a> {
    fn new(data: &'a [f32], dim: usize, k: usize, spherical: bool, centroids: Vec<f32>) -> Self {
        let n = data.len() / dim;
        debug_assert_eq!(centroids.len(), k * dim);
        Hamerly {
            data,
            n,
            dim,
            k,
            spherical,
            centroids,
            pts: vec![
                Bounds {
                    label: 0,
                    upper: f32::INFINITY,
                    lower: 0.0
                };
                n
            ],
            half_sep: vec![0.0; k],
            use_half_sep: k > 1 && 4 * k <= n,
        }
    }

    /// Number of points processed between two progress checks, and per parallel task.
    fn rounds(&self) -> (usize, usize) {
        let chunk = pass_chunk(self.k, self.dim);
        let per_point = (self.k * self.dim).max(1) as u64;
        let by_work = (CHECK_WORK / per_point) as usize;
        let by_threads = rayon::current_num_threads() * 16 * chunk;
        (by_work.max(by_threads).max(chunk), chunk)
    }

    /// First pass: exact nearest and second nearest for every point (brute force).
    fn initial_assign<E>(&mut self, check: &mut Check<'_, E>) -> Result<(), E> {
        self.pass(check, true).map(|_| ())
    }

    /// Hamerly assignment pass; returns the number of points whose label changed.
    fn assign_pass<E>(&mut self, check: &mut Check<'_, E>) -> Result<usize, E> {
        self.pass(check, false)
    }

    fn pass<E>(&mut self, check: &mut Check<'_, E>, full: bool) -> Result<usize, E> {
        let (round, chunk) = self.rounds();
        let (k, dim, data) = (self.k, self.dim, self.data);
        let centroids = &self.centroids[..];
        let half_sep = &self.half_sep[..];
        let search = NearestSearch::new(centroids, dim, false);
        let mut changed = 0usize;
        let mut start = 0;
        while start < self.n {
            let end = (start + round).min(self.n);
            let (ch, scans): (usize, usize) = self.pts[start..end]
                .par_chunks_mut(chunk)
                .enumerate()
                .map(|(ci, pts)| {
                    let base = start + ci * chunk;
                    let mut ws = Workspace::default();
                    let mut pending = Vec::with_capacity(GROUP);
                    let (mut changed, mut scans) = (0, 0);
                    for o in 0..pts.len() {
                        if !full {
                            let b = &mut pts[o];
                            let x = &data[(base + o) * dim..(base + o + 1) * dim];
                            let a = b.label as usize;
                            let bound = half_sep[a].max(b.lower);
                            if b.upper <= bound {
                                continue;
                            }
                            b.upper = l2_squared(x, &centroids[a * dim..(a + 1) * dim]).sqrt();
                            if b.upper <= bound {
                                continue;
                            }
                        }
                        pending.push(o);
                        if pending.len() == GROUP {
                            changed += rescan(&search, data, base, pts, &pending, full, &mut ws);
                            scans += pending.len();
                            pending.clear();
                        }
                    }
                    changed += rescan(&search, data, base, pts, &pending, full, &mut ws);
                    scans += pending.len();
                    (changed, scans)
                })
                .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
            changed += ch;
            check
                .tick((scans as u64) * (k as u64) * (dim as u64) + ((end - start) * dim) as u64)?;
            start = end;
        }
        Ok(changed)
    }

    /// Centroid update: re-seeds empty clusters, recomputes the means (normalised when
    /// spherical), and moves the bounds by the centroid movements.
    fn update(&mut self) {
        let (n, k, dim, spherical) = (self.n, self.k, self.dim, self.spherical);
        let mut counts = vec![0u32; k];
        for b in &self.pts {
            counts[b.label as usize] += 1;
        }
        if counts.contains(&0) {
            self.reseed_empty(&mut counts);
        }

        // Members of every cluster, in point order (counting sort).
        let mut offsets = vec![0usize; k + 1];
        for j in 0..k {
            offsets[j + 1] = offsets[j] + counts[j] as usize;
        }
        let mut members = vec![0u32; n];
        {
            let mut next = offsets.clone();
            for (i, b) in self.pts.iter().enumerate() {
                let j = b.label as usize;
                members[next[j]] = i as u32;
                next[j] += 1;
            }
        }

        let data = self.data;
        let old = &self.centroids[..];
        let mut new = vec![0.0f32; k * dim];
        new.par_chunks_mut(dim).enumerate().for_each_init(
            || vec![0.0f64; dim],
            |acc, (j, out)| {
                let old_c = &old[j * dim..(j + 1) * dim];
                let mem = &members[offsets[j]..offsets[j + 1]];
                if mem.is_empty() {
                    out.copy_from_slice(old_c);
                    return;
                }
                acc.fill(0.0);
                for &i in mem {
                    let x = &data[i as usize * dim..(i as usize + 1) * dim];
                    for (a, &v) in acc.iter_mut().zip(x) {
                        *a += v as f64;
                    }
                }
                if spherical {
                    let norm = acc.iter().map(|a| a * a).sum::<f64>().sqrt();
                    if norm > 0.0 && norm.is_finite() {
                        for (o, a) in out.iter_mut().zip(acc.iter()) {
                            *o = (a / norm) as f32;
                        }
                    } else {
                        out.copy_from_slice(old_c);
                    }
                } else {
                    let inv = 1.0 / mem.len() as f64;
                    for (o, a) in out.iter_mut().zip(acc.iter()) {
                        *o = (a * inv) as f32;
                    }
                }
            },
        );

        // Movements, and the two largest of them.
        let delta: Vec<f32> = (0..k)
            .into_par_iter()
            .with_min_len(64)
            .map(|j| l2_squared(&old[j * dim..(j + 1) * dim], &new[j * dim..(j + 1) * dim]).sqrt())
            .collect();
        let (mut arg1, mut max1, mut max2) = (0usize, 0.0f32, 0.0f32);
        for (j, &d) in delta.iter().enumerate() {
            if d > max1 {
                max2 = max1;
                max1 = d;
                arg1 = j;
            } else if d > max2 {
                max2 = d;
            }
        }
        let delta_ref = &delta;
        self.pts.par_iter_mut().with_min_len(1024).for_each(|b| {
            let a = b.label as usize;
            b.upper += delta_ref[a];
            let moved = if a == arg1 { max2 } else { max1 };
            b.lower = (b.lower - moved).max(0.0);
        });
        self.centroids = new;

        if self.use_half_sep {
            let centroids = &self.centroids[..];
            self.half_sep.par_iter_mut().enumerate().for_each_init(
                || vec![0.0f32; k],
                |row, (j, s)| {
                    batch_f32(
                        Metric::L2,
                        &centroids[j * dim..(j + 1) * dim],
                        0.0,
                        centroids,
                        row,
                    );
                    let mut best = f32::INFINITY;
                    for (jj, &d) in row.iter().enumerate() {
                        if jj != j && d < best {
                            best = d;
                        }
                    }
                    *s = 0.5 * best.sqrt();
                },
            );
        }
    }

    /// Moves the points farthest from their centroids into the empty clusters (never emptying
    /// a cluster, never taking a point at distance 0). Updates `counts`.
    fn reseed_empty(&mut self, counts: &mut [u32]) {
        let (dim, spherical) = (self.dim, self.spherical);
        let data = self.data;
        let centroids = &self.centroids[..];
        // Exact distances to the current centroids ("far" is angular when spherical).
        let far: Vec<f32> = self
            .pts
            .par_iter_mut()
            .enumerate()
            .with_min_len(256)
            .map(|(i, b)| {
                let x = &data[i * dim..(i + 1) * dim];
                let c = &centroids[b.label as usize * dim..(b.label as usize + 1) * dim];
                let d2 = l2_squared(x, c);
                b.upper = d2.sqrt();
                if spherical {
                    let nn = norm_squared(x);
                    if nn > 0.0 && nn.is_finite() {
                        (1.0 - dot(x, c) / nn.sqrt()).max(0.0)
                    } else {
                        0.0
                    }
                } else {
                    d2
                }
            })
            .collect();
        let mut cand: Vec<u32> = (0..self.n as u32)
            .filter(|&i| far[i as usize] > 0.0)
            .collect();
        cand.sort_unstable_by(|&a, &b| far[b as usize].total_cmp(&far[a as usize]).then(a.cmp(&b)));
        let mut next = 0;
        for j in 0..self.k {
            if counts[j] != 0 {
                continue;
            }
            while next < cand.len() && counts[self.pts[cand[next] as usize].label as usize] <= 1 {
                next += 1;
            }
            if next == cand.len() {
                break;
            }
            let p = cand[next] as usize;
            next += 1;
            counts[self.pts[p].label as usize] -= 1;
            counts[j] = 1;
            // The new centroid is x_p itself (normalised): `upper = ∞` forces a recomputation.
            self.pts[p] = Bounds {
                label: j as u32,
                upper: f32::INFINITY,
                lower: 0.0,
            };
        }
    }

    /// `Σ |x − c_label|²` in f64, summed over fixed chunks in order.
    fn inertia(&self) -> f64 {
        let (dim, data) = (self.dim, self.data);
        let centroids = &self.centroids[..];
        let partial: Vec<f64> = self
            .pts
            .par_chunks(INERTIA_CHUNK)
            .enumerate()
            .map(|(ci, pts)| {
                let mut s = 0.0f64;
                for (o, b) in pts.iter().enumerate() {
                    let i = ci * INERTIA_CHUNK + o;
                    let a = b.label as usize;
                    s += l2_squared(
                        &data[i * dim..(i + 1) * dim],
                        &centroids[a * dim..(a + 1) * dim],
                    ) as f64;
                }
                s
            })
            .collect();
        partial.iter().sum()
    }

    #[cfg(test)]
    fn labels(&self) -> Vec<u32> {
        self.pts.iter().map(|b| b.label).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use std::convert::Infallible;

    fn no_progress() -> impl FnMut(usize, usize) -> Result<(), Infallible> {
        |_, _| Ok(())
    }

    fn run(data: &[f32], params: &KMeansParams) -> KMeansResult {
        train(data, params, &mut no_progress()).unwrap()
    }

    fn params(k: usize, dim: usize, spherical: bool, max_iters: usize, seed: u64) -> KMeansParams {
        KMeansParams {
            k,
            dim,
            spherical,
            max_iters,
            seed,
        }
    }

    fn gauss(rng: &mut SmallRng) -> f32 {
        // Box–Muller, independent of the library's generator.
        let u1: f64 = 1.0 - rng.gen::<f64>();
        let u2: f64 = rng.gen::<f64>();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    /// `blobs` gaussian blobs (σ = `sigma`) around centres drawn in `[-10, 10]^dim`; points are
    /// shuffled. Returns (data, blob of every point, generating centres).
    pub(super) fn blobs(
        blobs: usize,
        per_blob: usize,
        dim: usize,
        sigma: f32,
        seed: u64,
    ) -> (Vec<f32>, Vec<usize>, Vec<f32>) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let centres: Vec<f32> = (0..blobs * dim)
            .map(|_| rng.gen_range(-10.0..10.0))
            .collect();
        let mut order: Vec<usize> = (0..blobs * per_blob).map(|i| i % blobs).collect();
        for i in (1..order.len()).rev() {
            let j = rng.gen_range(0..=i);
            order.swap(i, j);
        }
        let mut data = Vec::with_capacity(order.len() * dim);
        for &b in &order {
            for d in 0..dim {
                data.push(centres[b * dim + d] + sigma * gauss(&mut rng));
            }
        }
        (data, order, centres)
    }

    fn uniform(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = SmallRng::seed_from_u64(seed);
        (0..n * dim).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }

    fn l2(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
            .sum()
    }

    fn dotf(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
    }

    /// Brute-force nearest centroid: index and distance (squared L2, or −dot if spherical).
    fn brute(x: &[f32], centroids: &[f32], dim: usize, spherical: bool) -> (usize, f64) {
        let mut best = (0, f64::INFINITY);
        for (j, c) in centroids.chunks_exact(dim).enumerate() {
            let d = if spherical { -dotf(x, c) } else { l2(x, c) };
            if d < best.1 {
                best = (j, d);
            }
        }
        best
    }

    fn inertia_ref(data: &[f32], centroids: &[f32], dim: usize) -> f64 {
        data.chunks_exact(dim)
            .map(|x| {
                centroids
                    .chunks_exact(dim)
                    .map(|c| l2(x, c))
                    .fold(f64::INFINITY, f64::min)
            })
            .sum()
    }

    fn assert_unit(centroids: &[f32], dim: usize) {
        for c in centroids.chunks_exact(dim) {
            let norm = dotf(c, c).sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "centroid norm {norm}");
        }
    }

    fn assert_finite(v: &[f32]) {
        assert!(v.iter().all(|x| x.is_finite()), "non-finite centroid value");
    }

    /// Plain Lloyd's: brute-force assignment, f64 means (normalised when spherical), empty
    /// clusters keep their centroid. Returns the inertia after every assignment.
    fn lloyd(
        data: &[f32],
        dim: usize,
        centroids: &mut [f32],
        spherical: bool,
        iters: usize,
    ) -> Vec<f64> {
        let k = centroids.len() / dim;
        let mut inertias = Vec::new();
        for _ in 0..=iters {
            let labels: Vec<usize> = data
                .chunks_exact(dim)
                .map(|x| brute(x, centroids, dim, spherical).0)
                .collect();
            inertias.push(
                data.chunks_exact(dim)
                    .zip(&labels)
                    .map(|(x, &j)| l2(x, &centroids[j * dim..(j + 1) * dim]))
                    .sum(),
            );
            if inertias.len() == iters + 1 {
                break;
            }
            let mut sums = vec![0.0f64; k * dim];
            let mut counts = vec![0usize; k];
            for (x, &j) in data.chunks_exact(dim).zip(&labels) {
                counts[j] += 1;
                for d in 0..dim {
                    sums[j * dim + d] += x[d] as f64;
                }
            }
            for j in 0..k {
                if counts[j] == 0 {
                    continue;
                }
                let s = &sums[j * dim..(j + 1) * dim];
                let div = if spherical {
                    s.iter().map(|v| v * v).sum::<f64>().sqrt()
                } else {
                    counts[j] as f64
                };
                for d in 0..dim {
                    centroids[j * dim + d] = (s[d] / div) as f32;
                }
            }
        }
        inertias
    }

    fn init<E>(data: &[f32], p: &KMeansParams) -> Vec<f32> {
        let mut f = |_: usize, _: usize| -> Result<(), E> { Ok(()) };
        let mut check = Check {
            progress: &mut f,
            done: 0,
            max: 0,
            work: 0,
        };
        let mut rng = SplitMix64::new(p.seed);
        kmeanspp_init(data, p.dim, p.k, p.spherical, &mut rng, &mut check)
            .ok()
            .unwrap()
    }

    fn checker(f: &mut dyn FnMut(usize, usize) -> Result<(), Infallible>) -> Check<'_, Infallible> {
        Check {
            progress: f,
            done: 0,
            max: 0,
            work: 0,
        }
    }

    #[test]
    fn kmeans_finds_known_blobs() {
        let (dim, nb, per) = (16, 8, 150);
        let (data, blob, centres) = blobs(nb, per, dim, 0.5, 1);
        let res = run(&data, &params(nb, dim, false, 50, 7));
        assert_eq!(res.centroids.len(), nb * dim);
        let labels = assign(&data, dim, &res.centroids, false);
        // Every blob maps to exactly one centroid, different blobs to different centroids.
        let mut blob_to_centroid = vec![None; nb];
        for (i, &b) in blob.iter().enumerate() {
            let l = labels[i] as usize;
            assert_eq!(*blob_to_centroid[b].get_or_insert(l), l, "blob {b} split");
        }
        let mut used: Vec<usize> = blob_to_centroid.iter().map(|c| c.unwrap()).collect();
        used.sort();
        used.dedup();
        assert_eq!(used.len(), nb, "two blobs share a centroid");
        // Each centroid is the blob's empirical mean, and near the generating centre.
        for b in 0..nb {
            let c = &res.centroids[blob_to_centroid[b].unwrap() * dim..][..dim];
            let mut mean = vec![0.0f64; dim];
            for (i, _) in blob.iter().enumerate().filter(|(_, &bb)| bb == b) {
                for d in 0..dim {
                    mean[d] += data[i * dim + d] as f64 / per as f64;
                }
            }
            let mean: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
            assert!(l2(c, &mean).sqrt() < 1e-3, "centroid is not the blob mean");
            assert!(
                l2(c, &centres[b * dim..][..dim]).sqrt() < 0.5,
                "centroid far from centre"
            );
        }
        assert!(
            (res.inertia - inertia_ref(&data, &res.centroids, dim)).abs() <= 1e-4 * res.inertia
        );
        assert!(res.iterations >= 1 && res.iterations < 50);
    }

    /// Drives the Hamerly iterations and checks every assignment (and the bounds) against brute
    /// force on the current centroids.
    fn hamerly_vs_brute(data: &[f32], p: &KMeansParams, iters: usize) {
        let dim = p.dim;
        let mut h = Hamerly::new(data, dim, p.k, p.spherical, init::<Infallible>(data, p));
        let mut f = |_: usize, _: usize| Ok(());
        let mut check = checker(&mut f);
        h.initial_assign(&mut check).unwrap();
        let mut full_scans_needed = 0;
        for it in 0..=iters {
            if it > 0 {
                h.update();
                let changed = h.assign_pass(&mut check).unwrap();
                full_scans_needed += changed;
            }
            for (i, b) in h.pts.iter().enumerate() {
                let x = &data[i * dim..(i + 1) * dim];
                let (bj, bd) = brute(x, &h.centroids, dim, false);
                let a = b.label as usize;
                let da = l2(x, &h.centroids[a * dim..(a + 1) * dim]);
                assert!(
                    a == bj || da <= bd * (1.0 + 1e-5) + 1e-9,
                    "iteration {it}, point {i}: label {a} ({da}) but nearest {bj} ({bd})"
                );
                assert!(
                    b.upper as f64 >= da.sqrt() * (1.0 - 1e-5) - 1e-6,
                    "upper bound broken"
                );
                let other = h
                    .centroids
                    .chunks_exact(dim)
                    .enumerate()
                    .filter(|&(j, _)| j != a)
                    .map(|(_, c)| l2(x, c).sqrt())
                    .fold(f64::INFINITY, f64::min);
                assert!(
                    b.lower as f64 <= other * (1.0 + 1e-5) + 1e-6,
                    "lower bound broken"
                );
            }
            if p.spherical {
                assert_unit(&h.centroids, dim);
            }
        }
        // Public assign() / nearest() against the brute-force loop on the final centroids.
        let labels = assign(data, dim, &h.centroids, p.spherical);
        for (i, x) in data.chunks_exact(dim).enumerate() {
            let (bj, bd) = brute(x, &h.centroids, dim, p.spherical);
            let l = labels[i] as usize;
            let c = &h.centroids[l * dim..(l + 1) * dim];
            let dl = if p.spherical { -dotf(x, c) } else { l2(x, c) };
            assert!(
                l == bj || (dl - bd).abs() <= 1e-5 * bd.abs() + 1e-6,
                "assign() not nearest"
            );
            assert_eq!(
                nearest(x, &h.centroids, dim, p.spherical),
                l,
                "nearest() != assign()"
            );
        }
        let _ = full_scans_needed;
    }

    #[test]
    fn kmeans_hamerly_matches_brute_force() {
        // Unstructured data: many reassignments and weak pruning.
        let data = uniform(2000, 8, 2);
        hamerly_vs_brute(&data, &params(40, 8, false, 0, 3), 10);
        // Clustered data with 4k <= n, so the centroid separation test is used too.
        let (data, _, _) = blobs(10, 100, 6, 1.5, 4);
        hamerly_vs_brute(&data, &params(25, 6, false, 0, 5), 12);
        // Spherical.
        let data = uniform(1500, 10, 6);
        hamerly_vs_brute(&data, &params(30, 10, true, 0, 7), 8);
        // 4k > n: no separation test.
        let data = uniform(300, 5, 8);
        hamerly_vs_brute(&data, &params(100, 5, false, 0, 9), 8);
    }

    #[test]
    fn kmeans_matches_lloyd_from_same_init() {
        for &spherical in &[false, true] {
            let (data, _, _) = blobs(12, 150, 5, 2.5, 10);
            let p = params(20, 5, spherical, 0, 11);
            let iters = 15;
            let start = init::<Infallible>(&data, &p);
            let mut reference = start.clone();
            let ref_inertias = lloyd(&data, 5, &mut reference, spherical, iters);
            for w in ref_inertias.windows(2) {
                assert!(w[1] <= w[0] * (1.0 + 1e-9), "Lloyd's inertia increased");
            }
            let mut h = Hamerly::new(&data, 5, 20, spherical, start);
            let mut f = |_: usize, _: usize| Ok(());
            let mut check = checker(&mut f);
            h.initial_assign(&mut check).unwrap();
            let mut inertias = vec![h.inertia()];
            for _ in 0..iters {
                h.update();
                h.assign_pass(&mut check).unwrap();
                inertias.push(h.inertia());
            }
            for w in inertias.windows(2) {
                assert!(w[1] <= w[0] * (1.0 + 1e-6), "inertia increased: {w:?}");
            }
            for (a, b) in inertias.iter().zip(&ref_inertias) {
                assert!((a - b).abs() <= 1e-5 * b, "inertia {a} vs Lloyd's {b}");
            }
            for (a, b) in h.centroids.iter().zip(&reference) {
                assert!((a - b).abs() < 1e-4, "centroid {a} vs Lloyd's {b}");
            }
            // train() from the same seed ends at least as low as Lloyd's after 15 iterations
            // (it stops once < 0.1% of the points move).
            let res = run(
                &data,
                &KMeansParams {
                    max_iters: 50,
                    ..p.clone()
                },
            );
            assert!(
                res.inertia <= ref_inertias[iters] * 1.001,
                "{} vs {}",
                res.inertia,
                ref_inertias[iters]
            );
        }
    }

    #[test]
    fn kmeans_spherical_directions() {
        let (dim, ndir, per) = (12, 6, 120);
        let mut rng = SmallRng::seed_from_u64(12);
        let mut dirs = vec![0.0f32; ndir * dim];
        for d in dirs.chunks_exact_mut(dim) {
            for x in d.iter_mut() {
                *x = gauss(&mut rng);
            }
            let norm = dotf(d, d).sqrt() as f32;
            d.iter_mut().for_each(|x| *x /= norm);
        }
        let mut data = Vec::new();
        let mut truth = Vec::new();
        for i in 0..ndir * per {
            let b = (i * 7) % ndir;
            let scale = rng.gen_range(0.5..3.0f32);
            for d in 0..dim {
                data.push(scale * (dirs[b * dim + d] + 0.05 * gauss(&mut rng)));
            }
            truth.push(b);
        }
        let res = run(&data, &params(ndir, dim, true, 30, 13));
        assert_unit(&res.centroids, dim);
        let labels = assign(&data, dim, &res.centroids, true);
        let mut map = vec![None; ndir];
        for (i, &b) in truth.iter().enumerate() {
            let l = labels[i] as usize;
            assert_eq!(*map[b].get_or_insert(l), l, "direction {b} split");
        }
        for b in 0..ndir {
            let c = &res.centroids[map[b].unwrap() * dim..][..dim];
            assert!(
                dotf(c, &dirs[b * dim..][..dim]) > 0.99,
                "centroid off its direction"
            );
        }
        let mut used: Vec<usize> = map.iter().map(|m| m.unwrap()).collect();
        used.sort();
        used.dedup();
        assert_eq!(used.len(), ndir);
    }

    fn bits(r: &KMeansResult) -> (Vec<u32>, usize, u64) {
        (
            r.centroids.iter().map(|x| x.to_bits()).collect(),
            r.iterations,
            r.inertia.to_bits(),
        )
    }

    #[test]
    fn kmeans_deterministic_across_runs_and_threads() {
        let (data, _, _) = blobs(20, 150, 8, 3.0, 14);
        for &spherical in &[false, true] {
            // n = 3000 > INIT_CHUNK: several weight chunks in the seeding.
            let p = params(30, 8, spherical, 10, 15);
            let a = run(&data, &p);
            let b = run(&data, &p);
            assert_eq!(bits(&a), bits(&b));
            let in_pool = |threads: usize| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| run(&data, &p))
            };
            assert_eq!(bits(&in_pool(1)), bits(&a), "1 thread differs");
            assert_eq!(bits(&in_pool(4)), bits(&a), "4 threads differ");
            let c = run(
                &data,
                &KMeansParams {
                    seed: 16,
                    ..p.clone()
                },
            );
            assert_ne!(bits(&c).0, bits(&a).0, "seed has no effect");
        }
        // Subsampled seeding (n > INIT_SAMPLE_MIN and > 32k) with 1 vs 4 threads.
        let data = uniform(20_000, 4, 17);
        let p = params(16, 4, false, 3, 18);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| run(&data, &p));
        let four = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap()
            .install(|| run(&data, &p));
        assert_eq!(bits(&one), bits(&four));
    }

    #[test]
    fn kmeans_no_points() {
        for &spherical in &[false, true] {
            let p = params(5, 3, spherical, 10, 19);
            let mut calls = Vec::new();
            let res = train(&[], &p, &mut |i, m| -> Result<(), ()> {
                calls.push((i, m));
                Ok(())
            })
            .unwrap();
            assert_eq!(res.centroids.len(), 15);
            assert_eq!(res.iterations, 0);
            assert_eq!(res.inertia, 0.0);
            assert_unit(&res.centroids, 3);
            assert_eq!(calls, vec![(0, 10)]);
            assert_eq!(bits(&res), bits(&run(&[], &p)));
            let mut distinct = res
                .centroids
                .chunks_exact(3)
                .map(|c| format!("{c:?}"))
                .collect::<Vec<_>>();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), 5);
        }
    }

    #[test]
    fn kmeans_fewer_points_than_k() {
        let data = vec![
            1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 0.0, 2.0, 10.0, 10.0, 10.0, 10.0,
        ];
        for &spherical in &[false, true] {
            let res = run(&data, &params(10, 4, spherical, 10, 20));
            assert_eq!(res.centroids.len(), 40);
            assert_finite(&res.centroids);
            if spherical {
                assert_unit(&res.centroids, 4);
            }
            // Every point has a centroid on it (on its direction when spherical).
            for x in data.chunks_exact(4) {
                let j = nearest(x, &res.centroids, 4, spherical);
                let c = &res.centroids[j * 4..][..4];
                if spherical {
                    assert!(dotf(x, c) / dotf(x, x).sqrt() > 1.0 - 1e-6);
                } else {
                    assert!(l2(x, c) < 1e-6);
                }
            }
            if !spherical {
                assert!(res.inertia < 1e-6);
            }
            let mut distinct: Vec<Vec<u32>> = res
                .centroids
                .chunks_exact(4)
                .map(|c| c.iter().map(|x| x.to_bits()).collect())
                .collect();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), 10, "duplicate centroids");
        }
        // n == k.
        let res = run(&data, &params(3, 4, false, 10, 21));
        assert!(res.inertia < 1e-9);
    }

    #[test]
    fn kmeans_identical_and_duplicate_points() {
        let point = [0.25f32, -3.0, 7.5];
        let data: Vec<f32> = point.iter().cycle().take(100 * 3).copied().collect();
        let res = run(&data, &params(5, 3, false, 20, 22));
        assert_eq!(res.centroids.len(), 15);
        for c in res.centroids.chunks_exact(3) {
            assert!(
                l2(c, &point).sqrt() < 1e-3 * 7.5 * 2.0,
                "centroid {c:?} far from the point"
            );
        }
        assert!(res.inertia < 1e-9);
        let res = run(&data, &params(5, 3, true, 20, 22));
        assert_unit(&res.centroids, 3);
        assert!(res
            .centroids
            .chunks_exact(3)
            .any(|c| dotf(c, &point) / dotf(&point, &point).sqrt() > 1.0 - 1e-6));

        // 10 distinct points, each 50 times, k = 20: every distinct point gets a centroid.
        let distinct = uniform(10, 6, 23);
        let mut data = Vec::new();
        for r in 0..50 {
            for i in 0..10 {
                data.extend_from_slice(&distinct[((i * 7 + r) % 10) * 6..][..6]);
            }
        }
        let res = run(&data, &params(20, 6, false, 20, 24));
        assert_finite(&res.centroids);
        assert!(res.inertia < 1e-6, "inertia {}", res.inertia);
        assert!((res.inertia - inertia_ref(&data, &res.centroids, 6)).abs() < 1e-6);
    }

    #[test]
    fn kmeans_single_cluster_and_one_dimension() {
        let data = uniform(500, 7, 25);
        let res = run(&data, &params(1, 7, false, 10, 26));
        let mut mean = [0.0f64; 7];
        for x in data.chunks_exact(7) {
            for (m, &v) in mean.iter_mut().zip(x) {
                *m += v as f64 / 500.0;
            }
        }
        for (&c, &m) in res.centroids.iter().zip(&mean) {
            assert!((c as f64 - m).abs() < 1e-6);
        }
        assert!(res.iterations <= 2);
        assert!((res.inertia - inertia_ref(&data, &res.centroids, 7)).abs() < 1e-6 * res.inertia);
        let res = run(&data, &params(1, 7, true, 10, 26));
        let norm = mean.iter().map(|m| m * m).sum::<f64>().sqrt();
        for (&c, &m) in res.centroids.iter().zip(&mean) {
            assert!((c as f64 - m / norm).abs() < 1e-5);
        }

        // dim = 1: two groups around -5 and +5.
        let mut rng = SmallRng::seed_from_u64(27);
        let data: Vec<f32> = (0..1000)
            .map(|i| if i % 2 == 0 { -5.0 } else { 5.0 } + gauss(&mut rng) * 0.3)
            .collect();
        let res = run(&data, &params(2, 1, false, 20, 28));
        let mut c = res.centroids.clone();
        c.sort_by(f32::total_cmp);
        let neg: f64 = data
            .iter()
            .filter(|&&x| x < 0.0)
            .map(|&x| x as f64)
            .sum::<f64>()
            / 500.0;
        let pos: f64 = data
            .iter()
            .filter(|&&x| x > 0.0)
            .map(|&x| x as f64)
            .sum::<f64>()
            / 500.0;
        assert!(
            (c[0] as f64 - neg).abs() < 1e-4 && (c[1] as f64 - pos).abs() < 1e-4,
            "{c:?}"
        );
        // dim = 1 with more clusters than distinct-ish values, and k > n.
        let res = run(&data[..5], &params(8, 1, false, 5, 29));
        assert_eq!(res.centroids.len(), 8);
        assert_finite(&res.centroids);
    }

    #[test]
    fn kmeans_spherical_zero_vectors() {
        // All zero: centroids stay unit and finite.
        let zeros = vec![0.0f32; 50 * 4];
        let res = run(&zeros, &params(3, 4, true, 10, 30));
        assert_unit(&res.centroids, 4);
        assert!((res.inertia - 50.0).abs() < 1e-4);
        // Mixed: zero vectors plus two directions.
        let mut data = Vec::new();
        for i in 0..300 {
            match i % 3 {
                0 => data.extend_from_slice(&[0.0, 0.0, 0.0, 0.0]),
                1 => data.extend_from_slice(&[
                    1.0 + (i % 7) as f32 * 0.1,
                    0.01 * (i % 5) as f32,
                    0.0,
                    0.0,
                ]),
                _ => data.extend_from_slice(&[0.0, 0.0, 2.0, 0.02 * (i % 3) as f32]),
            }
        }
        for k in [1, 2, 3, 5] {
            let res = run(&data, &params(k, 4, true, 20, 31));
            assert_unit(&res.centroids, 4);
            if k >= 2 {
                assert!(res.centroids.chunks_exact(4).any(|c| c[0] > 0.99));
                assert!(res.centroids.chunks_exact(4).any(|c| c[2] > 0.99));
            }
        }
        // A cluster whose points cancel out keeps a unit centroid.
        let data = vec![1.0, 0.0, -1.0, 0.0, 1.0, 0.0, -1.0, 0.0];
        let res = run(&data, &params(1, 2, true, 5, 32));
        assert_unit(&res.centroids, 2);
    }

    #[test]
    fn kmeans_reseeds_empty_clusters() {
        let (data, _, _) = blobs(4, 100, 3, 1.0, 33);
        // Centroid 2 is far from everything: its cluster is empty after the first assignment.
        let mut start = data[..4 * 3].to_vec();
        start[6..9].copy_from_slice(&[1e4, 1e4, 1e4]);
        let mut h = Hamerly::new(&data, 3, 4, false, start);
        let mut f = |_: usize, _: usize| Ok(());
        let mut check = checker(&mut f);
        h.initial_assign(&mut check).unwrap();
        assert!(!h.labels().contains(&2));
        h.update();
        h.assign_pass(&mut check).unwrap();
        assert!(h.labels().contains(&2), "empty cluster not re-seeded");
        assert!(h.centroids[6..9].iter().all(|&x| x.abs() < 100.0));
        for _ in 0..10 {
            h.update();
            h.assign_pass(&mut check).unwrap();
        }
        for j in 0..4u32 {
            assert!(h.labels().contains(&j));
        }
    }

    #[test]
    fn kmeans_progress_and_cancellation() {
        let (data, _, _) = blobs(5, 200, 4, 3.0, 34);
        let p = params(30, 4, false, 40, 35);
        // Progress values: start at 0, never decrease, end at `iterations`.
        let mut calls = Vec::new();
        let res = train(&data, &p, &mut |i, m| -> Result<(), String> {
            calls.push((i, m));
            Ok(())
        })
        .unwrap();
        assert_eq!(calls[0], (0, 40));
        assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(calls.last().unwrap().0, res.iterations);
        assert!(calls.iter().all(|&(_, m)| m == 40));

        // Err after init: stops at once.
        let mut n_calls = 0;
        let r = train(&data, &p, &mut |_, _| {
            n_calls += 1;
            Err("cancel".to_string())
        });
        assert_eq!(r.unwrap_err(), "cancel");
        assert_eq!(n_calls, 1);
        // Err at iteration 2: no more calls afterwards.
        let mut seen = Vec::new();
        let r = train(&data, &p, &mut |i, _| {
            seen.push(i);
            if i == 2 {
                Err(format!("cancelled at {i}"))
            } else {
                Ok(())
            }
        });
        assert_eq!(r.unwrap_err(), "cancelled at 2");
        assert_eq!(seen.last(), Some(&2));
        assert_eq!(seen.iter().filter(|&&i| i == 2).count(), 1);
        // n == 0 propagates too.
        assert_eq!(train(&[], &p, &mut |_, _| Err(7)).unwrap_err(), 7);
        // max_iters == 0: seeding and one assignment only.
        let res = run(
            &data,
            &KMeansParams {
                max_iters: 0,
                ..p.clone()
            },
        );
        assert_eq!(res.iterations, 0);
        assert!((res.inertia - inertia_ref(&data, &res.centroids, 4)).abs() < 1e-6 * res.inertia);
    }

    /// Timing check, not a test:
    /// `cargo test --release -p vector_core kmeans_timing -- --ignored --nocapture`
    /// (env: `KMEANS_K=1000,316`, `KMEANS_THREADS=1,2`, `KMEANS_DIM=128`, `KMEANS_SPHERICAL=1`).
    #[test]
    #[ignore]
    fn kmeans_timing() {
        /// User + system CPU seconds of this process (Linux).
        fn cpu_seconds() -> f64 {
            let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
            let after = stat.rsplit(')').next().unwrap_or("");
            let f: Vec<&str> = after.split_whitespace().collect();
            let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            (ticks(11) + ticks(12)) / 100.0
        }
        let threads_list: Vec<usize> = std::env::var("KMEANS_THREADS")
            .map(|v| v.split(',').map(|t| t.parse().unwrap()).collect())
            .unwrap_or_else(|_| vec![1, 2]);
        let ks: Vec<usize> = std::env::var("KMEANS_K")
            .map(|v| v.split(',').map(|t| t.parse().unwrap()).collect())
            .unwrap_or_else(|_| vec![1000, 316]);
        let n = 100_000;
        let spherical = std::env::var("KMEANS_SPHERICAL").is_ok();
        let dim: usize = std::env::var("KMEANS_DIM")
            .map(|v| v.parse().unwrap())
            .unwrap_or(128);
        let (data, _, _) = blobs(2000, n / 2000, dim, 4.0, 36);
        for &k in &ks {
            for &threads in &threads_list {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let p = params(k, dim, spherical, 10, 37);
                let (t, cpu) = (std::time::Instant::now(), cpu_seconds());
                let res = pool.install(|| run(&data, &p));
                println!(
                    "n={n} dim={dim} k={k} spherical={spherical} threads={threads}: {:.2} s wall, {:.2} s cpu, {} iterations, inertia {:.4e}",
                    t.elapsed().as_secs_f64(),
                    cpu_seconds() - cpu,
                    res.iterations,
                    res.inertia
                );
                let t = std::time::Instant::now();
                let labels = pool.install(|| assign(&data, dim, &res.centroids, spherical));
                println!(
                    "  assign {n} points to {k} centroids: {:.2} s ({:.1} ns per point-centroid pair)",
                    t.elapsed().as_secs_f64(),
                    t.elapsed().as_secs_f64() * 1e9 / (n * k) as f64 * threads as f64
                );
                std::hint::black_box(labels);
            }
        }
    }
}
