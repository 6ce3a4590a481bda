//! Hamerly's accelerated Lloyd iterations: per-point distance bounds skip most distance
//! computations once centroids settle.

#![allow(unused_imports)]
use super::*;

/// Per point: label, upper bound on the distance to its centroid, lower bound on the distance to
/// every other centroid (true distances, not squared).
#[derive(Clone, Copy, Debug)]
pub(super) struct Bounds {
    pub(super) label: u32,
    pub(super) upper: f32,
    pub(super) lower: f32,
}

pub(super) struct Hamerly<'a> {
    pub(super) data: &'a [f32],
    pub(super) n: usize,
    pub(super) dim: usize,
    pub(super) k: usize,
    pub(super) spherical: bool,
    pub(super) centroids: Vec<f32>,
    pub(super) pts: Vec<Bounds>,
    /// `½·min_{j'≠j} |c_j − c_j'|` (or 0 when not maintained).
    pub(super) half_sep: Vec<f32>,
    /// Whether `half_sep` is worth its `k²·dim` cost.
    pub(super) use_half_sep: bool,
}

impl<'a> Hamerly<'a> {
    pub(super) fn new(
        data: &'a [f32],
        dim: usize,
        k: usize,
        spherical: bool,
        centroids: Vec<f32>,
    ) -> Self {
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
    pub(super) fn rounds(&self) -> (usize, usize) {
        let chunk = pass_chunk(self.k, self.dim);
        let per_point = (self.k * self.dim).max(1) as u64;
        let by_work = (CHECK_WORK / per_point) as usize;
        let by_threads = rayon::current_num_threads() * 16 * chunk;
        (by_work.max(by_threads).max(chunk), chunk)
    }

    /// First pass: exact nearest and second nearest for every point (brute force).
    pub(super) fn initial_assign<E>(&mut self, check: &mut Check<'_, E>) -> Result<(), E> {
        self.pass(check, true).map(|_| ())
    }

    /// Hamerly assignment pass; returns the number of points whose label changed.
    pub(super) fn assign_pass<E>(&mut self, check: &mut Check<'_, E>) -> Result<usize, E> {
        self.pass(check, false)
    }

    pub(super) fn pass<E>(&mut self, check: &mut Check<'_, E>, full: bool) -> Result<usize, E> {
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
    pub(super) fn update(&mut self) {
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
    pub(super) fn reseed_empty(&mut self, counts: &mut [u32]) {
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
    pub(super) fn inertia(&self) -> f64 {
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
    pub(super) fn labels(&self) -> Vec<u32> {
        self.pts.iter().map(|b| b.label).collect()
    }
}
