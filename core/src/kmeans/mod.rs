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
//!    decided again by the exact kernel (a small fraction of points); the label, `u` (exact)
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

mod assign;
mod hamerly;
mod rng;
mod seeding;
#[cfg(test)]
mod tests;

use assign::*;
use hamerly::*;
pub use rng::SplitMix64;
use seeding::*;

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

/// Calls `progress` on the calling thread: [`Check::report`] at iteration boundaries,
/// [`Check::tick`] inside long phases.
pub(super) struct Check<'p, E> {
    pub(super) progress: &'p mut dyn FnMut(usize, usize) -> Result<(), E>,
    pub(super) done: usize,
    pub(super) max: usize,
    pub(super) work: u64,
}

impl<E> Check<'_, E> {
    pub(super) fn report(&mut self, done: usize) -> Result<(), E> {
        self.done = done;
        self.work = 0;
        (self.progress)(done, self.max)
    }

    pub(super) fn tick(&mut self, work: u64) -> Result<(), E> {
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
pub(super) fn perturbed_copy(src: &[f32], out: &mut [f32], spherical: bool, rng: &mut SplitMix64) {
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
