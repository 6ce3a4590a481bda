//! RaBitQ codes as an index stores them, and scoring them against a query: a lower bound on
//! each row's distance, for an index scan whose executor rechecks the exact distance.
//!
//! ```text
//!  code (code_bytes(padded) bytes, native endianness):
//!  +-------------------------------+---------+------------+--------+--------+
//!  | sign bits: ⌈padded/64⌉ × u64  | norm_sq | dot_factor | spread | norm   |
//!  | bit i%64 of word i/64: rotated| f32     | f32        | f32    | f32    |
//!  | residual coordinate i > 0     | ‖r‖²    | ‖r‖/(a·√D) |        | ‖o‖    |
//!  +-------------------------------+---------+------------+--------+--------+
//! ```
//! `r` is the row's residual to its list's centre (for cosine: the *unit* row's, so the
//! residuals live on the sphere the spherical centroids do), `spread` is the error factor for
//! `ε₀ = 1` (the bound is linear in `ε₀`, so `ε₀` is chosen per query), `norm` the row's own
//! length (cosine: 0 marks a zero vector, whose distance is NaN).
//!
//! A query is rotated once; per list it becomes a [`ListQuery`]: the rotated query residual
//! `y'` (L2: `P(q − c) = Pq − Pc`, with the rotated centroids cached; inner product and cosine:
//! `Pq` itself) quantized to 8 bits. The masked sum `Σ_{bits} y'ᵢ` is then an integer sum of
//! bytes under the code's bits, which AVX-512 does 64 dimensions per step (a byte load masked by
//! the code word, summed by `vpsadbw`), and everything else is a few multiply-adds per code.
//! The query's rounding adds a small error of its own, bounded like RaBitQ's (ε₀ standard
//! deviations of the rounding sum), so the lower bound covers both.

use std::sync::OnceLock;

use super::{encode, Rotation};
use crate::distance::Metric;

/// Bytes after the sign bits.
pub const FACTOR_BYTES: usize = 16;

/// Words of sign bits of a code over `padded` dimensions.
pub fn code_words(padded: usize) -> usize {
    padded.div_ceil(64)
}

/// Bytes of one code over `padded` (rotated) dimensions.
pub fn code_bytes(padded: usize) -> usize {
    code_words(padded) * 8 + FACTOR_BYTES
}

/// The seed of every index's rotation: fixed, so that a rebuild of the same table makes the
/// same codes (nothing depends on the rotation being secret or differing between indexes).
pub const ROTATION_SEED: u64 = 0x5241_4249_5451_0001;

/// Turns rows into codes relative to list centres.
#[derive(Clone, Debug)]
pub struct Encoder {
    pub rotation: Rotation,
    pub metric: Metric,
}

impl Encoder {
    pub fn new(dims: usize, seed: u64, metric: Metric) -> Encoder {
        Encoder {
            rotation: Rotation::new(dims, seed),
            metric,
        }
    }

    pub fn code_bytes(&self) -> usize {
        code_bytes(self.rotation.padded())
    }

    /// Append the code of row `o` in the list whose centre is `centre` to `out`.
    pub fn encode(&self, o: &[f32], centre: &[f32], out: &mut Vec<u8>) {
        let norm = o.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
        let scale = if self.metric == Metric::Cosine && norm > 0.0 {
            1.0 / norm
        } else {
            1.0
        };
        let residual: Vec<f32> = o
            .iter()
            .zip(centre)
            .map(|(&x, &c)| (x as f64 * scale - c as f64) as f32)
            .collect();
        let mut rotated = Vec::new();
        self.rotation.apply(&residual, &mut rotated);
        let mut bits = Vec::new();
        let f = encode(&rotated, 1.0, &mut bits);
        for w in &bits {
            out.extend_from_slice(&w.to_ne_bytes());
        }
        for v in [f.norm_sq, f.dot_factor, f.error_factor, norm as f32] {
            out.extend_from_slice(&v.to_ne_bytes());
        }
    }
}

/// A query prepared for the codes of every list: its rotation, computed once.
#[derive(Clone, Debug)]
pub struct CodeQuery {
    pub metric: Metric,
    pub q: Vec<f32>,
    pub rotated: Vec<f32>,
    pub norm: f32,
    /// The bound factor: how many standard deviations of error a lower bound allows for.
    pub epsilon0: f32,
}

impl CodeQuery {
    pub fn new(rotation: &Rotation, metric: Metric, q: &[f32], epsilon0: f32) -> CodeQuery {
        let mut rotated = Vec::new();
        rotation.apply(q, &mut rotated);
        let norm = q.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt() as f32;
        CodeQuery {
            metric,
            q: q.to_vec(),
            rotated,
            norm,
            epsilon0,
        }
    }

    /// The query for the codes of the list with centre `centre` (rotated: `rotated_centre`).
    pub fn for_list(&self, centre: &[f32], rotated_centre: &[f32]) -> ListQuery {
        match self.metric {
            Metric::L2 => {
                let y: Vec<f32> = self
                    .rotated
                    .iter()
                    .zip(rotated_centre)
                    .map(|(&a, &b)| a - b)
                    .collect();
                let norm_sq = y.iter().map(|&v| v as f64 * v as f64).sum::<f64>() as f32;
                ListQuery::new(self, &y, norm_sq)
            }
            _ => {
                let qc = self
                    .q
                    .iter()
                    .zip(centre)
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum::<f64>() as f32;
                ListQuery::new(self, &self.rotated, qc)
            }
        }
    }
}

/// A scan's queries for the lists it probes, by list number.
#[derive(Clone, Debug, Default)]
pub struct CodeLists {
    lists: Vec<Option<ListQuery>>,
}

impl CodeLists {
    pub fn new(lists: usize) -> CodeLists {
        CodeLists {
            lists: vec![None; lists],
        }
    }

    pub fn set(&mut self, list: usize, q: ListQuery) {
        self.lists[list] = Some(q);
    }

    pub fn list(&self, list: u32) -> Option<&ListQuery> {
        self.lists.get(list as usize).and_then(|l| l.as_ref())
    }
}

/// The query residual of one list, quantized to 8 bits for the masked sums.
#[derive(Clone, Debug)]
pub struct ListQuery {
    metric: Metric,
    /// `y'` quantized: `y'ᵢ ≈ lo + delta · bytes[i]`, zero-padded to whole code words.
    pub bytes: Vec<u8>,
    /// The same as bit planes (plane b, word w: bit b of the bytes of word w's dimensions),
    /// for the portable kernel.
    planes: Vec<u64>,
    words: usize,
    lo: f32,
    delta: f32,
    /// `Σ y'ᵢ` and `‖y‖`, exact.
    sum: f32,
    norm: f32,
    /// L2: `‖y‖²`; inner product and cosine: `⟨q, c⟩`.
    base: f32,
    /// The query's norm (cosine divides by it).
    q_norm: f32,
    epsilon0: f32,
}

impl ListQuery {
    fn new(cq: &CodeQuery, y: &[f32], base: f32) -> ListQuery {
        let words = code_words(y.len());
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for &v in y {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        let delta = if hi > lo { (hi - lo) / 255.0 } else { 0.0 };
        let mut bytes = vec![0u8; words * 64];
        for (b, &v) in bytes.iter_mut().zip(y) {
            *b = if delta > 0.0 {
                ((v - lo) / delta).round().clamp(0.0, 255.0) as u8
            } else {
                0
            };
        }
        let mut planes = vec![0u64; 8 * words];
        for (i, &b) in bytes.iter().enumerate() {
            for (plane, bit) in (0..8).map(|p| (p, (b >> p) & 1)) {
                planes[plane * words + i / 64] |= (bit as u64) << (i % 64);
            }
        }
        let sum = y.iter().map(|&v| v as f64).sum::<f64>() as f32;
        let norm = y.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt() as f32;
        ListQuery {
            metric: cq.metric,
            bytes,
            planes,
            words,
            lo,
            delta,
            sum,
            norm,
            base,
            q_norm: cq.norm,
            epsilon0: cq.epsilon0,
        }
    }

    /// Lower bounds on the ordering distance (squared L2, negative inner product, cosine
    /// distance) of `count` codes laid back to back `stride` bytes apart in `codes`.
    pub fn lower_bounds(&self, codes: &[u8], stride: usize, count: usize, out: &mut [f32]) {
        let kernel = masked_kernel();
        for (k, o) in out[..count].iter_mut().enumerate() {
            let code = &codes[k * stride..k * stride + self.words * 8 + FACTOR_BYTES];
            // SAFETY: the kernel was chosen for this CPU; `code` holds `words` words and
            // `bytes` holds 64 per word.
            let (m, pop) = unsafe { kernel(code, &self.bytes, &self.planes, self.words) };
            *o = self.bound(code, m, pop);
        }
    }

    /// The lower bound for one code whose masked byte sum is `m` over `pop` set bits.
    fn bound(&self, code: &[u8], m: u64, pop: u32) -> f32 {
        let f = |i: usize| {
            let at = self.words * 8 + 4 * i;
            f32::from_ne_bytes(code[at..at + 4].try_into().unwrap())
        };
        let (norm_sq, dot_factor, spread, o_norm) = (f(0), f(1), f(2), f(3));
        let masked = self.lo as f64 * pop as f64 + self.delta as f64 * m as f64;
        let s = 2.0 * masked - self.sum as f64;
        let dot = dot_factor as f64 * s; // ≈ ⟨r, y⟩
                                         // RaBitQ's bound, and ε₀ standard deviations of the rounding error of the masked sum
                                         // (each rounding is uniform within ±delta/2).
        let rounding = 2.0 * dot_factor as f64 * self.delta as f64 * (pop as f64 / 12.0).sqrt();
        let err = self.epsilon0 as f64 * (spread as f64 * self.norm as f64 + rounding);
        let lb = match self.metric {
            Metric::L2 => (norm_sq as f64 + self.base as f64 - 2.0 * dot - 2.0 * err).max(0.0),
            Metric::InnerProduct => -(self.base as f64 + dot + err),
            _ => {
                if o_norm == 0.0 || self.q_norm == 0.0 {
                    return f32::NAN; // no cosine distance: rechecked as NaN, sorted last
                }
                1.0 - (self.base as f64 + dot + err) / self.q_norm as f64
            }
        };
        below(lb)
    }
}

/// An f32 a little below `x`, so rounding never lifts a bound above the distance it bounds.
fn below(x: f64) -> f32 {
    let v = (x - x.abs() * 1e-5 - 1e-30) as f32;
    if (v as f64) > x {
        v.next_down()
    } else {
        v
    }
}

/// `(Σ_{bits} bytes[i], popcount)` over one code's words.
type MaskedFn = unsafe fn(&[u8], &[u8], &[u64], usize) -> (u64, u32);

fn word(code: &[u8], w: usize) -> u64 {
    u64::from_ne_bytes(code[w * 8..w * 8 + 8].try_into().unwrap())
}

/// Portable: the bytes' bit planes, one popcount per plane and word.
fn masked_planes(code: &[u8], _bytes: &[u8], planes: &[u64], words: usize) -> (u64, u32) {
    let (mut m, mut pop) = (0u64, 0u32);
    for w in 0..words {
        let c = word(code, w);
        pop += c.count_ones();
        for p in 0..8 {
            m += ((c & planes[p * words + w]).count_ones() as u64) << p;
        }
    }
    (m, pop)
}

/// The definition: every set bit's byte.
pub fn masked_reference(code: &[u8], bytes: &[u8], words: usize) -> (u64, u32) {
    let (mut m, mut pop) = (0u64, 0u32);
    for w in 0..words {
        let mut c = word(code, w);
        pop += c.count_ones();
        while c != 0 {
            m += bytes[w * 64 + c.trailing_zeros() as usize] as u64;
            c &= c - 1;
        }
    }
    (m, pop)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{masked_planes, word};
    use std::arch::x86_64::*;

    /// The portable plane loop with POPCNT.
    #[target_feature(enable = "popcnt")]
    pub unsafe fn masked_popcnt(
        code: &[u8],
        bytes: &[u8],
        planes: &[u64],
        words: usize,
    ) -> (u64, u32) {
        masked_planes(code, bytes, planes, words)
    }

    /// 64 dimensions per step: the query bytes under the code word (a masked load), summed
    /// by `vpsadbw`.
    #[target_feature(enable = "avx512f,avx512bw,popcnt")]
    pub unsafe fn masked_avx512(
        code: &[u8],
        bytes: &[u8],
        _planes: &[u64],
        words: usize,
    ) -> (u64, u32) {
        debug_assert!(bytes.len() >= words * 64);
        let zero = _mm512_setzero_si512();
        let mut acc = _mm512_setzero_si512();
        let mut pop = 0u32;
        for w in 0..words {
            let c = word(code, w);
            pop += c.count_ones();
            let v = _mm512_maskz_loadu_epi8(c, bytes.as_ptr().add(w * 64) as *const i8);
            acc = _mm512_add_epi64(acc, _mm512_sad_epu8(v, zero));
        }
        (_mm512_reduce_add_epi64(acc) as u64, pop)
    }
}

/// Every kernel this CPU can run, portable first.
pub fn masked_levels() -> Vec<(&'static str, MaskedFn)> {
    #[allow(unused_mut)]
    let mut levels: Vec<(&'static str, MaskedFn)> = vec![("portable", masked_planes as MaskedFn)];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("popcnt") {
            levels.push(("popcnt", x86::masked_popcnt));
        }
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("popcnt")
        {
            levels.push(("avx512", x86::masked_avx512));
        }
    }
    levels
}

fn masked_kernel() -> MaskedFn {
    static K: OnceLock<MaskedFn> = OnceLock::new();
    *K.get_or_init(|| masked_levels().last().unwrap().1)
}

/// The kernel in use (for benchmarks and EXPLAIN-like reports).
pub fn implementation() -> &'static str {
    masked_levels().last().unwrap().0
}

impl ListQuery {
    /// Run kernel `k` on one code (tests compare kernels).
    pub fn masked_with(&self, k: MaskedFn, code: &[u8]) -> (u64, u32) {
        unsafe { k(code, &self.bytes, &self.planes, self.words) }
    }

    pub fn words(&self) -> usize {
        self.words
    }
}
