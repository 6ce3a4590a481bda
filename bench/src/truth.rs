//! Exact ground truth (brute force, multi-threaded), tie-aware recall and the
//! on-disk ground-truth cache.
//!
//! Distances are an independent scalar reference accumulated in `f64`, with
//! pgvector's semantics: `l2` = Euclidean distance, `ip` = negative inner
//! product, `cosine` = 1 − cosine similarity, `l1` = taxicab distance.

use crate::dataset::Matrix;
use crate::loaders::{read_fvecs, read_ivecs, write_fvecs, write_ivecs, IMatrix};
use anyhow::{bail, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Distance metric, named like pgvector's operator classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Euclidean distance, operator `<->`, opclass vector_l2_ops.
    L2,
    /// Negative inner product, operator `<#>`, opclass vector_ip_ops.
    Ip,
    /// Cosine distance, operator `<=>`, opclass vector_cosine_ops.
    Cosine,
    /// Taxicab distance, operator `<+>`, opclass vector_l1_ops.
    L1,
}

impl Metric {
    /// SQL operator.
    pub fn operator(self) -> &'static str {
        match self {
            Metric::L2 => "<->",
            Metric::Ip => "<#>",
            Metric::Cosine => "<=>",
            Metric::L1 => "<+>",
        }
    }
    /// Operator class name (same in vector_ext and pgvector).
    pub fn opclass(self) -> &'static str {
        match self {
            Metric::L2 => "vector_l2_ops",
            Metric::Ip => "vector_ip_ops",
            Metric::Cosine => "vector_cosine_ops",
            Metric::L1 => "vector_l1_ops",
        }
    }
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::Ip => "ip",
            Metric::Cosine => "cosine",
            Metric::L1 => "l1",
        }
    }
}

/// Sum over `i` of `f(a[i], b[i])` in f64 with 4 independent accumulators.
#[inline]
fn fold4(a: &[f32], b: &[f32], f: impl Fn(f64, f64) -> f64) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut s = [0f64; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for j in 0..4 {
            s[j] += f(x[j] as f64, y[j] as f64);
        }
    }
    let mut t = (s[0] + s[1]) + (s[2] + s[3]);
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        t += f(*x as f64, *y as f64);
    }
    t
}

/// Squared Euclidean distance.
pub fn l2_squared(a: &[f32], b: &[f32]) -> f64 {
    fold4(a, b, |x, y| (x - y) * (x - y))
}

/// Inner product.
pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    fold4(a, b, |x, y| x * y)
}

/// Taxicab distance.
pub fn l1(a: &[f32], b: &[f32]) -> f64 {
    fold4(a, b, |x, y| (x - y).abs())
}

/// Euclidean norm.
pub fn norm(a: &[f32]) -> f64 {
    dot(a, a).sqrt()
}

/// Distance between `a` and `b` as the SQL operator returns it.
pub fn distance(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    match metric {
        Metric::L2 => l2_squared(a, b).sqrt(),
        Metric::Ip => -dot(a, b),
        Metric::Cosine => cosine_from(dot(a, b), norm(a), norm(b)),
        Metric::L1 => l1(a, b),
    }
}

fn cosine_from(d: f64, na: f64, nb: f64) -> f64 {
    let denom = na * nb;
    if denom == 0.0 {
        f64::NAN
    } else {
        1.0 - (d / denom).clamp(-1.0, 1.0)
    }
}

/// Exact k nearest neighbours of every query.
#[derive(Clone, Debug, PartialEq)]
pub struct Truth {
    pub nq: usize,
    pub k: usize,
    /// `nq × k` row ids, nearest first (ties broken by smaller id).
    pub ids: Vec<u32>,
    /// Matching distances.
    pub dists: Vec<f64>,
}

impl Truth {
    /// Ids of query `q`.
    pub fn ids(&self, q: usize) -> &[u32] {
        &self.ids[q * self.k..(q + 1) * self.k]
    }
    /// Distances of query `q`.
    pub fn dists(&self, q: usize) -> &[f64] {
        &self.dists[q * self.k..(q + 1) * self.k]
    }
    /// The k-th (largest) true distance of query `q`.
    pub fn kth(&self, q: usize) -> f64 {
        self.dists(q)[self.k - 1]
    }
}

/// NaN sorts as +∞ (pgvector puts NaN distances last).
#[inline]
fn key(d: f64) -> f64 {
    if d.is_nan() {
        f64::INFINITY
    } else {
        d
    }
}

/// Fixed-size "k best" buffer kept sorted ascending by (distance, id).
struct TopK {
    k: usize,
    items: Vec<(f64, u32)>,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }
    #[inline]
    fn push(&mut self, d: f64, id: u32) {
        if self.items.len() == self.k {
            let worst = self.items[self.k - 1];
            if d > worst.0 || (d == worst.0 && id > worst.1) {
                return;
            }
        }
        let pos = self
            .items
            .partition_point(|&(x, i)| x < d || (x == d && i < id));
        self.items.insert(pos, (d, id));
        self.items.truncate(self.k);
    }
}

/// Sum over `i` of `f(a[i], b[i])` in f32 with 16 lanes (vectorises well);
/// used only to screen candidates, which are then re-ranked in f64.
#[inline(always)]
fn fold16(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut s = [0f32; 16];
    let mut ca = a.chunks_exact(16);
    let mut cb = b.chunks_exact(16);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for j in 0..16 {
            s[j] += f(x[j], y[j]);
        }
    }
    let mut t: f32 = s.iter().sum();
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        t += f(*x, *y);
    }
    t
}

/// Screen one block of queries against all base rows with an f32 kernel
/// `dist(query index in block, query, row index, row)`, keeping the best
/// `c` candidates per query. Base rows are visited in cache-sized blocks
/// so every block is reused by all queries of the query block.
fn screen<F>(base: &Matrix, qs: &[&[f32]], c: usize, dist: F) -> Vec<TopK>
where
    F: Fn(usize, &[f32], usize, &[f32]) -> f32,
{
    let dim = base.dim.max(1);
    let rb = ((256 * 1024) / (dim * 4)).max(16);
    let mut tops: Vec<TopK> = qs.iter().map(|_| TopK::new(c)).collect();
    for r0 in (0..base.rows).step_by(rb) {
        let r1 = (r0 + rb).min(base.rows);
        for (qi, (top, q)) in tops.iter_mut().zip(qs).enumerate() {
            for r in r0..r1 {
                let d = dist(qi, q, r, base.row(r));
                top.push(key(d as f64), r as u32);
            }
        }
    }
    tops
}

/// Brute-force ground truth: the `k` nearest base rows of every query.
///
/// Two stages: a fast f32 scan keeps `2k + 32` candidates per query, which
/// are then re-ranked with the exact f64 reference [`distance`] (ties broken
/// by smaller id), so rounding in the fast scan cannot change the answer
/// unless more than `k + 32` rows tie within f32 rounding of the k-th
/// distance. Parallel over blocks of 16 queries. `progress` is called with
/// the number of queries finished.
pub fn brute_force(
    base: &Matrix,
    queries: &Matrix,
    metric: Metric,
    k: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Truth> {
    if base.dim != queries.dim {
        bail!(
            "base dimension {} != query dimension {}",
            base.dim,
            queries.dim
        );
    }
    if k == 0 || k > base.rows {
        bail!(
            "k = {k} must be between 1 and the number of base rows ({})",
            base.rows
        );
    }
    const QB: usize = 16;
    let cands = (2 * k + 32).min(base.rows);
    let base_norms: Vec<f32> = if metric == Metric::Cosine {
        (0..base.rows)
            .into_par_iter()
            .map(|r| fold16(base.row(r), base.row(r), |x, y| x * y).sqrt())
            .collect()
    } else {
        Vec::new()
    };
    let nq = queries.rows;
    let blocks: Vec<Vec<(f64, u32)>> = (0..nq.div_ceil(QB))
        .into_par_iter()
        .map(|b| {
            let q0 = b * QB;
            let q1 = (q0 + QB).min(nq);
            let qs: Vec<&[f32]> = (q0..q1).map(|q| queries.row(q)).collect();
            let tops = match metric {
                Metric::L2 => screen(base, &qs, cands, |_, q, _, r| {
                    fold16(q, r, |x, y| (x - y) * (x - y))
                }),
                Metric::Ip => screen(base, &qs, cands, |_, q, _, r| -fold16(q, r, |x, y| x * y)),
                Metric::L1 => screen(base, &qs, cands, |_, q, _, r| {
                    fold16(q, r, |x, y| (x - y).abs())
                }),
                Metric::Cosine => {
                    let qn: Vec<f32> = qs
                        .iter()
                        .map(|q| fold16(q, q, |x, y| x * y).sqrt())
                        .collect();
                    screen(base, &qs, cands, |qi, q, ri, r| {
                        let den = qn[qi] * base_norms[ri];
                        if den == 0.0 {
                            f32::NAN
                        } else {
                            1.0 - fold16(q, r, |x, y| x * y) / den
                        }
                    })
                }
            };
            progress((q1 - q0) as u64);
            let mut out = Vec::with_capacity((q1 - q0) * k);
            for (q, t) in qs.iter().zip(tops) {
                let mut exact: Vec<(f64, u32)> = t
                    .items
                    .iter()
                    .map(|&(_, id)| (key(distance(metric, q, base.row(id as usize))), id))
                    .collect();
                exact.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                // Round to f32 so a fresh and a cached truth are identical.
                out.extend(
                    exact
                        .into_iter()
                        .take(k)
                        .map(|(d, id)| (d as f32 as f64, id)),
                );
            }
            out
        })
        .collect();
    let mut ids = Vec::with_capacity(nq * k);
    let mut dists = Vec::with_capacity(nq * k);
    for (d, id) in blocks.into_iter().flatten() {
        ids.push(id);
        dists.push(d);
    }
    Ok(Truth { nq, k, ids, dists })
}

/// Build a [`Truth`] from externally supplied neighbour ids (e.g. a SIFT
/// `groundtruth.ivecs`), computing the distances for tie handling.
pub fn from_ids(
    base: &Matrix,
    queries: &Matrix,
    metric: Metric,
    ids: &IMatrix,
    k: usize,
) -> Result<Truth> {
    if ids.rows != queries.rows {
        bail!(
            "ground-truth file has {} rows but there are {} queries",
            ids.rows,
            queries.rows
        );
    }
    if k > ids.dim {
        bail!(
            "ground-truth file has {} neighbours per query, k = {k}",
            ids.dim
        );
    }
    let mut out = Truth {
        nq: queries.rows,
        k,
        ids: Vec::new(),
        dists: Vec::new(),
    };
    for q in 0..queries.rows {
        let mut row = Vec::with_capacity(k);
        for &id in &ids.row(q)[..k] {
            if id < 0 || id as usize >= base.rows {
                bail!(
                    "ground-truth id {id} out of range (base has {} rows)",
                    base.rows
                );
            }
            let d = distance(metric, queries.row(q), base.row(id as usize)) as f32 as f64;
            row.push((key(d), id as u32));
        }
        row.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (d, id) in row {
            out.ids.push(id);
            out.dists.push(d);
        }
    }
    Ok(out)
}

/// Relative tolerance when comparing a returned distance to the k-th true one.
pub const TIE_EPS: f64 = 1e-6;

/// Recall@k of one result list, tie aware: a returned id counts as a hit if
/// it is among the true ids, or if its distance (`dist_of(id)`) is no larger
/// than the k-th true distance `kth` (so an equally distant neighbour is as
/// good as the one the truth happened to list). Duplicates count once and
/// the hit count is capped at `k`.
pub fn recall_at_k(
    truth_ids: &[u32],
    kth: f64,
    result: &[u32],
    k: usize,
    dist_of: impl Fn(u32) -> f64,
) -> f64 {
    if k == 0 {
        return 1.0;
    }
    let mut seen = std::collections::HashSet::with_capacity(result.len());
    let tol = TIE_EPS * kth.abs().max(1e-12);
    let mut hits = 0usize;
    for &id in result.iter().take(k) {
        if !seen.insert(id) {
            continue;
        }
        if truth_ids.contains(&id) || key(dist_of(id)) <= kth + tol {
            hits += 1;
        }
    }
    hits.min(k) as f64 / k as f64
}

/// Cache file names of a ground truth: `(ids.ivecs, dists.fvecs)`.
pub fn cache_paths(
    dir: &Path,
    metric: Metric,
    k: usize,
) -> (std::path::PathBuf, std::path::PathBuf) {
    (
        dir.join(format!("truth-{}-k{k}.ivecs", metric.name())),
        dir.join(format!("truth-{}-k{k}.dist.fvecs", metric.name())),
    )
}

/// Save a ground truth (ids as `.ivecs`, distances as `.fvecs`).
pub fn save(dir: &Path, metric: Metric, t: &Truth) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let (ip, dp) = cache_paths(dir, metric, t.k);
    write_fvecs(
        &dp,
        &Matrix::new(t.nq, t.k, t.dists.iter().map(|&d| d as f32).collect()),
    )?;
    write_ivecs(
        &ip,
        &IMatrix {
            rows: t.nq,
            dim: t.k,
            data: t.ids.iter().map(|&i| i as i32).collect(),
        },
    )?;
    Ok(())
}

/// Load a cached ground truth if present and of the expected shape.
pub fn load_cached(dir: &Path, metric: Metric, k: usize, nq: usize) -> Option<Truth> {
    let (ip, dp) = cache_paths(dir, metric, k);
    if !ip.exists() || !dp.exists() {
        return None;
    }
    let ids = read_ivecs(&ip, None).ok()?;
    let d = read_fvecs(&dp, None).ok()?;
    if ids.rows != nq || ids.dim != k || d.rows != nq || d.dim != k {
        return None;
    }
    Some(Truth {
        nq,
        k,
        ids: ids.data.iter().map(|&i| i as u32).collect(),
        dists: d.data.iter().map(|&x| x as f64).collect(),
    })
}
