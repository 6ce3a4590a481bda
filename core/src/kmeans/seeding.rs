//! k-means++ seeding (D² sampling on a subsample).

#![allow(unused_imports)]
use super::*;

/// k-means++ (D² sampling) on a subsample; returns `k * dim` centroids (unit length when
/// spherical).
pub(super) fn kmeanspp_init<E>(
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
pub(super) fn sample_d2(mut r: f64, chunk_sums: &[f64], dist2: &[f32]) -> usize {
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
