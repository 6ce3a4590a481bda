//! RaBitQ codes as an index stores them, and scoring them against a query: a lower bound on
//! each row's distance, for a scan that re-ranks candidates by their exact distance
//! ([`crate::order::Rerank`]).
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
        let inv = if delta > 0.0 { 1.0 / delta } else { 0.0 };
        let mut bytes = vec![0u8; words * 64];
        for (b, &v) in bytes.iter_mut().zip(y) {
            // Round to nearest (the value is ≥ 0): `as` truncates and saturates.
            *b = ((v - lo) * inv + 0.5).min(255.0) as u8;
        }
        let mut planes = Vec::new();
        if masked_kernel().1 {
            planes = vec![0u64; 8 * words];
            for (i, &b) in bytes.iter().enumerate() {
                for (plane, bit) in (0..8).map(|p| (p, (b >> p) & 1)) {
                    planes[plane * words + i / 64] |= (bit as u64) << (i % 64);
                }
            }
        }
        let sum: f32 = y.iter().sum();
        let norm = y.iter().map(|&v| v * v).sum::<f32>().sqrt();
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
        assert!(count == 0 || (count - 1) * stride + self.words * 8 + FACTOR_BYTES <= codes.len());
        #[cfg(target_arch = "x86_64")]
        if !masked_kernel().1 {
            // SAFETY: the AVX-512 kernel was chosen, so the CPU has it; the codes are in range.
            unsafe { x86::lower_bounds_avx512(self, codes, stride, count, out) };
            return;
        }
        let kernel = masked_kernel().0;
        for (k, o) in out[..count].iter_mut().enumerate() {
            let code = &codes[k * stride..k * stride + self.words * 8 + FACTOR_BYTES];
            // SAFETY: the kernel was chosen for this CPU; `code` holds `words` words and
            // `bytes` holds 64 per word.
            let (m, pop) = unsafe { kernel(code, &self.bytes, &self.planes, self.words) };
            *o = self.bound(code, m, pop);
        }
    }

    /// The lower bound for one code whose masked byte sum is `m` over `pop` set bits.
    #[inline(always)]
    fn bound(&self, code: &[u8], m: u64, pop: u32) -> f32 {
        let at = self.words * 8;
        let f = |i: usize| f32::from_ne_bytes(code[at + 4 * i..at + 4 * i + 4].try_into().unwrap());
        let (norm_sq, dot_factor, spread, o_norm) = (f(0), f(1), f(2), f(3));
        let pop = pop as f32;
        let masked = self.lo * pop + self.delta * m as f32;
        let dot = dot_factor * (2.0 * masked - self.sum); // ≈ ⟨r, y⟩
                                                          // RaBitQ's bound, and ε₀ standard deviations of the rounding error of the masked sum
                                                          // (each rounding is uniform within ±delta/2: standard deviation delta/√12 each).
        let rounding = dot_factor * self.delta * (pop * (4.0 / 12.0)).sqrt();
        let err = self.epsilon0 * (spread * self.norm + rounding);
        match self.metric {
            Metric::L2 => (norm_sq + self.base - 2.0 * (dot + err)).max(0.0),
            Metric::InnerProduct => -(self.base + dot + err),
            _ => {
                if o_norm == 0.0 || self.q_norm == 0.0 {
                    return f32::NAN; // no cosine distance (NaN), ordered last
                }
                1.0 - (self.base + dot + err) / self.q_norm
            }
        }
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
    use super::{masked_planes, word, ListQuery, FACTOR_BYTES};
    use std::arch::x86_64::*;

    /// [`ListQuery::lower_bounds`] with the AVX-512 masked sums inlined in one loop.
    #[target_feature(enable = "avx512f,avx512bw,popcnt")]
    pub unsafe fn lower_bounds_avx512(
        q: &ListQuery,
        codes: &[u8],
        stride: usize,
        count: usize,
        out: &mut [f32],
    ) {
        let words = q.words;
        let zero = _mm512_setzero_si512();
        for (k, o) in out[..count].iter_mut().enumerate() {
            let code = codes.get_unchecked(k * stride..k * stride + words * 8 + FACTOR_BYTES);
            let mut acc = _mm512_setzero_si512();
            let mut pop = 0u32;
            for w in 0..words {
                let c = (code.as_ptr().add(w * 8) as *const u64).read_unaligned();
                pop += c.count_ones();
                let v = _mm512_maskz_loadu_epi8(c, q.bytes.as_ptr().add(w * 64) as *const i8);
                acc = _mm512_add_epi64(acc, _mm512_sad_epu8(v, zero));
            }
            *o = q.bound(code, _mm512_reduce_add_epi64(acc) as u64, pop);
        }
    }

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

/// The kernel in use, and whether it reads bit planes (the portable ones) rather than bytes.
fn masked_kernel() -> (MaskedFn, bool) {
    static K: OnceLock<(MaskedFn, bool)> = OnceLock::new();
    *K.get_or_init(|| {
        let (name, k) = *masked_levels().last().unwrap();
        (k, name != "avx512")
    })
}

/// The kernel in use (for benchmarks and EXPLAIN-like reports).
pub fn implementation() -> &'static str {
    masked_levels().last().unwrap().0
}

impl ListQuery {
    /// Run kernel `k` on one code (tests compare kernels; the planes are made here when
    /// the kernel in use does not need them).
    pub fn masked_with(&self, k: MaskedFn, code: &[u8]) -> (u64, u32) {
        let mut planes = self.planes.clone();
        if planes.is_empty() {
            planes = vec![0u64; 8 * self.words];
            for (i, &b) in self.bytes.iter().enumerate() {
                for p in 0..8 {
                    planes[p * self.words + i / 64] |= (((b >> p) & 1) as u64) << (i % 64);
                }
            }
        }
        unsafe { k(code, &self.bytes, &planes, self.words) }
    }

    pub fn words(&self) -> usize {
        self.words
    }
}
