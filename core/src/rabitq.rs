//! RaBitQ (Gao & Long, "RaBitQ: Quantizing High-Dimensional Vectors with a Theoretical Error
//! Bound for Approximate Nearest Neighbor Search", SIGMOD 2024): one bit per dimension, an
//! unbiased estimate of inner products (hence distances) from the bits, and a bound on the
//! estimate's error that holds with high probability.
//!
//! A vector is quantized relative to a centre `c` (an IVF list's centroid): its residual
//! `r = o − c` is rotated by a random orthogonal map `P` (so that no coordinate is special), and
//! the code is the sign of each rotated coordinate. Read as the unit vector
//! `x̄ = (2·bits − 1) / √D`, the code approximates the direction `ô = Pr/‖r‖`; with
//! `a = ⟨x̄, ô⟩` (stored per vector, typically ≈ 0.8) the estimate of `⟨ô, y⟩` for any unit `y`
//! is `⟨x̄, y⟩ / a`. It is unbiased, and its error exceeds
//! `ε₀ · √((1 − a²) / a²) / √(D − 1)` with probability that falls like `exp(−c·ε₀²)` (the
//! paper's Theorem 3.2). That expression is about one standard deviation of the error times
//! `ε₀`, so the error is inside the bound for about as many pairs as a normal variable is
//! within `ε₀` sigmas: 94% at the paper's `ε₀ = 1.9`, 99.95% at 3.5 (the tests measure both).
//!
//! The rotation is a randomised Hadamard transform, three rounds of random sign flips each
//! followed by a fast Walsh–Hadamard transform, O(D log D) instead of a dense D×D matrix. It
//! works on `D` rounded up to a power of two (vectors are zero-padded; padding changes neither
//! norms nor inner products), so a 384-dimensional vector has a 512-bit code. The signs come
//! from a seed: a rotation is stored as its seed.
//!
//! Everything here is what the index code needs to build codes and score them; the SIMD scan
//! over many codes at once is separate.

use crate::kmeans::SplitMix64;

pub mod code;

/// The paper's error-bound factor `ε₀` for search (the bound holds for ~94% of pairs).
pub const EPSILON0: f32 = 1.9;
/// A factor for which the bound holds for ~99.95% of pairs.
pub const EPSILON0_STRICT: f32 = 3.5;

/// Rounds of (sign flip, Hadamard transform) in a [`Rotation`].
const ROUNDS: usize = 3;

/// A random orthogonal map of `dims`-dimensional vectors into `padded = 2^⌈log₂ dims⌉`
/// dimensions.
#[derive(Clone, Debug)]
pub struct Rotation {
    dims: usize,
    padded: usize,
    /// `ROUNDS × padded` signs (±1).
    signs: Vec<f32>,
}

impl Rotation {
    pub fn new(dims: usize, seed: u64) -> Rotation {
        assert!(dims > 0, "a rotation needs at least one dimension");
        let padded = dims.next_power_of_two();
        let mut rng = SplitMix64::from_state(seed);
        let mut signs = Vec::with_capacity(ROUNDS * padded);
        while signs.len() < ROUNDS * padded {
            let bits = rng.next_u64();
            for k in 0..64 {
                if signs.len() == ROUNDS * padded {
                    break;
                }
                signs.push(if bits >> k & 1 == 1 { 1.0 } else { -1.0 });
            }
        }
        Rotation {
            dims,
            padded,
            signs,
        }
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Dimensions of rotated vectors (and bits of a code).
    pub fn padded(&self) -> usize {
        self.padded
    }

    /// `out = P·x` (`x` has `dims` entries, `out` gets `padded`).
    pub fn apply(&self, x: &[f32], out: &mut Vec<f32>) {
        assert_eq!(x.len(), self.dims, "vector has the wrong dimensions");
        out.clear();
        out.extend_from_slice(x);
        out.resize(self.padded, 0.0);
        let scale = 1.0 / (self.padded as f32).sqrt();
        for round in 0..ROUNDS {
            let signs = &self.signs[round * self.padded..(round + 1) * self.padded];
            for (v, s) in out.iter_mut().zip(signs) {
                *v *= s;
            }
            hadamard(out);
            for v in out.iter_mut() {
                *v *= scale;
            }
        }
    }
}

/// In-place (unnormalised) fast Walsh–Hadamard transform; `v.len()` is a power of two.
fn hadamard(v: &mut [f32]) {
    let n = v.len();
    debug_assert!(n.is_power_of_two());
    let mut h = 1;
    while h < n {
        for block in v.chunks_exact_mut(2 * h) {
            let (lo, hi) = block.split_at_mut(h);
            for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
                let (x, y) = (*a, *b);
                *a = x + y;
                *b = x - y;
            }
        }
        h *= 2;
    }
}

/// What a code stores besides its bits, precomputed for scoring: with `s = ⟨x̄, y'⟩·√D` for a
/// rotated `y'`, the estimate of `⟨r, y⟩` is `dot_factor · s` and its error bound is
/// `error_factor · ‖y‖`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Factors {
    /// `‖r‖²`.
    pub norm_sq: f32,
    /// `‖r‖ / (a·√D)`.
    pub dot_factor: f32,
    /// `‖r‖ · ε₀ · √((1 − a²)/a²) / √(D − 1)`.
    pub error_factor: f32,
}

/// The code of residual `r`, already rotated (`rotated = P·r`, `padded` entries): its sign
/// bits (bit `i % 64` of word `i / 64`, set for positive coordinates) into `bits`, and its
/// factors for bound factor `epsilon0`.
pub fn encode(rotated: &[f32], epsilon0: f32, bits: &mut Vec<u64>) -> Factors {
    let d = rotated.len();
    bits.clear();
    bits.resize(d.div_ceil(64), 0);
    let mut norm_sq = 0.0f64;
    let mut abs_sum = 0.0f64;
    for (i, &v) in rotated.iter().enumerate() {
        if v > 0.0 {
            bits[i / 64] |= 1 << (i % 64);
        }
        norm_sq += v as f64 * v as f64;
        abs_sum += v.abs() as f64;
    }
    let norm = norm_sq.sqrt();
    if norm == 0.0 {
        // The vector is the centre: every estimate is exactly 0.
        return Factors {
            norm_sq: 0.0,
            dot_factor: 0.0,
            error_factor: 0.0,
        };
    }
    let sqrt_d = (d as f64).sqrt();
    // a = ⟨x̄, ô⟩ = Σ|r'ᵢ| / (√D·‖r‖), in (0, 1].
    let a = (abs_sum / (sqrt_d * norm)).clamp(f64::MIN_POSITIVE, 1.0);
    let spread = if d > 1 {
        ((1.0 - a * a) / (a * a)).max(0.0).sqrt() / ((d - 1) as f64).sqrt()
    } else {
        0.0
    };
    Factors {
        norm_sq: norm_sq as f32,
        dot_factor: (norm / (a * sqrt_d)) as f32,
        error_factor: (norm * epsilon0 as f64 * spread) as f32,
    }
}

/// A rotated vector `y' = P·y` prepared for scoring against codes: `⟨x̄, y'⟩·√D = 2·Σ_{bits}
/// y'ᵢ − Σ y'ᵢ`.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub rotated: Vec<f32>,
    pub sum: f32,
    pub norm: f32,
}

impl Prepared {
    pub fn new(rotated: Vec<f32>) -> Prepared {
        let sum = rotated.iter().map(|&v| v as f64).sum::<f64>() as f32;
        let norm = rotated
            .iter()
            .map(|&v| v as f64 * v as f64)
            .sum::<f64>()
            .sqrt() as f32;
        Prepared { rotated, sum, norm }
    }

    /// `Σ_{bits} y'ᵢ`, over the set bits of a code (scalar reference).
    pub fn masked_sum(&self, bits: &[u64]) -> f32 {
        let mut s = 0.0f32;
        for (w, &word) in bits.iter().enumerate() {
            let mut x = word;
            while x != 0 {
                let i = w * 64 + x.trailing_zeros() as usize;
                s += self.rotated[i];
                x &= x - 1;
            }
        }
        s
    }

    /// The estimate of `⟨r, y⟩` for the code (`bits`, `f`), and the bound on its error.
    pub fn estimate_dot(&self, bits: &[u64], f: &Factors) -> (f32, f32) {
        let s = 2.0 * self.masked_sum(bits) - self.sum;
        (f.dot_factor * s, f.error_factor * self.norm)
    }

    /// The estimate of `‖r − y‖²` (squared Euclidean distance between the residuals, which
    /// is the distance between the vectors when `y` is the query minus the same centre), and
    /// its error bound.
    pub fn estimate_l2(&self, bits: &[u64], f: &Factors) -> (f32, f32) {
        let (dot, err) = self.estimate_dot(bits, f);
        (f.norm_sq + self.norm * self.norm - 2.0 * dot, 2.0 * err)
    }
}

#[cfg(test)]
mod tests;
