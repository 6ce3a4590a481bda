//! In-memory vector matrices, seeded synthetic clustered datasets and
//! dataset fingerprints.
//!
//! Synthetic data: `clusters` centres drawn uniformly in `[-1, 1]^dim`; every
//! point picks a cluster with Zipf-like probability `∝ 1 / (c + 1)^skew`
//! (`skew = 0` is uniform) and is `centre + spread * N(0, 1)` per coordinate.
//! Everything is derived from the seed with ChaCha8 (value-stable across
//! platforms and `rand` releases), in fixed-size chunks with their own
//! derived seed, so generation is parallel yet bit-for-bit reproducible.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Row-major `rows × dim` matrix of `f32`.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub dim: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    /// Build from a flat buffer; `data.len()` must be `rows * dim`.
    pub fn new(rows: usize, dim: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), rows * dim, "matrix buffer has wrong length");
        Matrix { rows, dim, data }
    }

    /// Row `i` as a slice.
    #[inline]
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Iterator over rows.
    pub fn iter_rows(&self) -> impl Iterator<Item = &[f32]> {
        self.data.chunks_exact(self.dim.max(1)).take(self.rows)
    }

    /// First `rows` rows (copy).
    pub fn head(&self, rows: usize) -> Matrix {
        let rows = rows.min(self.rows);
        Matrix::new(rows, self.dim, self.data[..rows * self.dim].to_vec())
    }

    /// Split off the last `tail` rows: returns `(head, tail)`.
    pub fn split_tail(mut self, tail: usize) -> (Matrix, Matrix) {
        let tail = tail.min(self.rows);
        let head_rows = self.rows - tail;
        let t = self.data.split_off(head_rows * self.dim);
        (
            Matrix::new(head_rows, self.dim, self.data),
            Matrix::new(tail, self.dim, t),
        )
    }

    /// Bytes of raw float data (`rows * dim * 4`).
    pub fn bytes(&self) -> u64 {
        (self.rows * self.dim * 4) as u64
    }

    /// Content hash (order- and value-sensitive, thread-count independent).
    pub fn content_hash(&self) -> u64 {
        const CHUNK: usize = 1 << 16;
        let parts: Vec<u64> = self
            .data
            .par_chunks(CHUNK)
            .map(|c| {
                let mut h = FNV_OFFSET;
                for v in c {
                    h = (h ^ v.to_bits() as u64).wrapping_mul(FNV_PRIME);
                }
                h
            })
            .collect();
        let mut h = fnv1a(format!("{}x{}", self.rows, self.dim).as_bytes());
        for p in parts {
            h = (h ^ p).wrapping_mul(FNV_PRIME);
            h ^= h >> 29;
        }
        h
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a of a byte string (used for fingerprints / cache keys).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(FNV_PRIME);
    }
    h
}

/// Parameters of a synthetic clustered dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthParams {
    pub n: usize,
    pub dim: usize,
    pub clusters: usize,
    pub spread: f32,
    pub skew: f64,
    pub seed: u64,
}

impl SynthParams {
    /// Canonical description; its hash is the dataset fingerprint.
    pub fn canonical(&self) -> String {
        format!(
            "synth-v1 n={} dim={} clusters={} spread={:?} skew={:?} seed={}",
            self.n, self.dim, self.clusters, self.spread, self.skew, self.seed
        )
    }
}

/// Rows generated per independently seeded chunk.
const GEN_CHUNK: usize = 1024;
/// Stream tags mixed into derived seeds.
const STREAM_CENTRES: u64 = 0xC3E7_0000_0000_0001;
const STREAM_DATA: u64 = 0xDA7A_0000_0000_0002;
const STREAM_QUERY: u64 = 0x0E11_0000_0000_0003;

/// SplitMix64 finaliser, used to derive independent seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn derive(seed: u64, stream: u64, index: u64) -> u64 {
    mix(mix(seed ^ stream) ^ index.wrapping_mul(0xD6E8_FEB8_6659_FD93))
}

/// Standard normal sample (Box–Muller; one of the pair is used).
fn gaussian(rng: &mut ChaCha8Rng) -> f32 {
    // u1 in (0, 1] to avoid ln(0).
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// Cumulative Zipf-like cluster weights `∝ 1/(c+1)^skew`, normalised to 1.
pub fn cluster_cdf(clusters: usize, skew: f64) -> Vec<f64> {
    let w: Vec<f64> = (0..clusters.max(1))
        .map(|c| 1.0 / ((c + 1) as f64).powf(skew))
        .collect();
    let total: f64 = w.iter().sum();
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = w
        .iter()
        .map(|x| {
            acc += x / total;
            acc
        })
        .collect();
    *cdf.last_mut().unwrap() = 1.0;
    cdf
}

/// Cluster centres for the parameters (uniform in `[-1, 1]^dim`).
pub fn centres(p: &SynthParams) -> Matrix {
    let k = p.clusters.max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(derive(p.seed, STREAM_CENTRES, 0));
    let data = (0..k * p.dim)
        .map(|_| rng.gen_range(-1.0f32..1.0))
        .collect();
    Matrix::new(k, p.dim, data)
}

/// Generate `rows` points from the distribution of `p`, using `stream_seed`
/// for the point draws (centres always come from `p.seed`). Also returns the
/// cluster index of each point.
fn sample(p: &SynthParams, rows: usize, stream_seed: u64, stream: u64) -> (Matrix, Vec<u32>) {
    let c = centres(p);
    let cdf = cluster_cdf(c.rows, p.skew);
    let dim = p.dim;
    let mut data = vec![0f32; rows * dim];
    let mut labels = vec![0u32; rows];
    if dim > 0 {
        data.par_chunks_mut(GEN_CHUNK * dim)
            .zip(labels.par_chunks_mut(GEN_CHUNK))
            .enumerate()
            .for_each(|(ci, (chunk, lab))| {
                let mut rng = ChaCha8Rng::seed_from_u64(derive(stream_seed, stream, ci as u64));
                for (row, l) in chunk.chunks_exact_mut(dim).zip(lab.iter_mut()) {
                    let u: f64 = rng.gen();
                    let k = cdf.partition_point(|&x| x <= u).min(cdf.len() - 1);
                    *l = k as u32;
                    let centre = c.row(k);
                    for (x, m) in row.iter_mut().zip(centre) {
                        *x = m + p.spread * gaussian(&mut rng);
                    }
                }
            });
    }
    (Matrix::new(rows, dim, data), labels)
}

/// The `p.n` base vectors of a synthetic dataset.
pub fn generate(p: &SynthParams) -> Matrix {
    sample(p, p.n, p.seed, STREAM_DATA).0
}

/// Base vectors plus the cluster each came from (for tests / diagnostics).
pub fn generate_labelled(p: &SynthParams) -> (Matrix, Vec<u32>) {
    sample(p, p.n, p.seed, STREAM_DATA)
}

/// `nq` held-out queries from the same distribution (same centres and skew)
/// drawn with `query_seed` on a separate stream: never rows of the table.
pub fn generate_queries(p: &SynthParams, nq: usize, query_seed: u64) -> Matrix {
    sample(p, nq, query_seed, STREAM_QUERY).0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> SynthParams {
        SynthParams {
            n: 3000,
            dim: 8,
            clusters: 10,
            spread: 0.05,
            skew: 1.0,
            seed: 7,
        }
    }

    #[test]
    fn deterministic_and_shaped() {
        let a = generate(&params());
        let b = generate(&params());
        assert_eq!(a.rows, 3000);
        assert_eq!(a.dim, 8);
        assert_eq!(a.data.len(), 3000 * 8);
        assert_eq!(a, b);
        assert_eq!(a.content_hash(), b.content_hash());
        assert!(a.data.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn seeds_differ() {
        let a = generate(&params());
        let b = generate(&SynthParams {
            seed: 8,
            ..params()
        });
        assert_ne!(a, b);
        assert_ne!(a.content_hash(), b.content_hash());
        // Queries differ from data rows even with the same seed.
        let q = generate_queries(&params(), 10, 7);
        for i in 0..10 {
            assert_ne!(q.row(i), a.row(i));
        }
    }

    #[test]
    fn skew_and_clusters_have_effect() {
        let count = |p: &SynthParams| {
            let (_, l) = generate_labelled(p);
            let mut c = vec![0usize; p.clusters];
            for x in l {
                c[x as usize] += 1;
            }
            c
        };
        let uniform = count(&SynthParams {
            skew: 0.0,
            ..params()
        });
        let skewed = count(&SynthParams {
            skew: 2.0,
            ..params()
        });
        // Uniform: every cluster roughly n/clusters = 300.
        assert!(uniform.iter().all(|&c| c > 200 && c < 400), "{uniform:?}");
        // Skew 2: cluster 0 gets 1/H(10,2) ≈ 64 % of points.
        assert!(skewed[0] > 1700, "{skewed:?}");
        assert!(skewed[9] < 60, "{skewed:?}");
        // Fewer clusters -> points land near fewer distinct centres.
        let one = generate(&SynthParams {
            clusters: 1,
            ..params()
        });
        let c = centres(&SynthParams {
            clusters: 1,
            ..params()
        });
        for r in one.iter_rows() {
            let d: f32 = r.iter().zip(c.row(0)).map(|(a, b)| (a - b) * (a - b)).sum();
            assert!(d.sqrt() < 0.05 * 8.0);
        }
    }

    #[test]
    fn split_tail_works() {
        let m = Matrix::new(3, 2, vec![1., 2., 3., 4., 5., 6.]);
        let (h, t) = m.split_tail(1);
        assert_eq!(h.data, vec![1., 2., 3., 4.]);
        assert_eq!(t.data, vec![5., 6.]);
    }
}
