//! Distances between bit strings (Postgres' `bit` type; `binary_quantize` output): Hamming
//! (differing bits) and Jaccard (1 − |a ∧ b| / |a ∨ b|), over the packed bytes.
//!
//! Popcount kernels are chosen at run time: AVX-512 VPOPCNTDQ (64 bytes at a time), the POPCNT
//! instruction on 8-byte words, or portable code; each is tested against a bit-by-bit reference
//! on every length up to a few hundred bytes.

use std::sync::OnceLock;

/// Population counts over two byte strings of equal length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// |a ⊕ b|
    pub xor: u64,
    /// |a ∧ b|
    pub and: u64,
    /// |a| and |b|
    pub a: u64,
    pub b: u64,
}

type CountsFn = unsafe fn(&[u8], &[u8]) -> Counts;

/// Portable: 8-byte words, then the tail bytes.
fn counts_scalar(a: &[u8], b: &[u8]) -> Counts {
    let mut c = Counts::default();
    let (wa, wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ta, tb) = (wa.remainder(), wb.remainder());
    for (x, y) in wa.zip(wb) {
        let x = u64::from_ne_bytes(x.try_into().unwrap());
        let y = u64::from_ne_bytes(y.try_into().unwrap());
        c.xor += (x ^ y).count_ones() as u64;
        c.and += (x & y).count_ones() as u64;
        c.a += x.count_ones() as u64;
        c.b += y.count_ones() as u64;
    }
    for (&x, &y) in ta.iter().zip(tb) {
        c.xor += (x ^ y).count_ones() as u64;
        c.and += (x & y).count_ones() as u64;
        c.a += x.count_ones() as u64;
        c.b += y.count_ones() as u64;
    }
    c
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{counts_scalar, Counts};
    use std::arch::x86_64::*;

    /// The portable loop compiled with POPCNT (one instruction per word).
    #[target_feature(enable = "popcnt")]
    pub unsafe fn counts_popcnt(a: &[u8], b: &[u8]) -> Counts {
        counts_scalar(a, b)
    }

    /// 64 bytes per step with VPOPCNTDQ, the tail with POPCNT.
    #[target_feature(enable = "avx512f,avx512vpopcntdq,popcnt")]
    pub unsafe fn counts_avx512(a: &[u8], b: &[u8]) -> Counts {
        let n = a.len() / 64 * 64;
        let (mut xor, mut and, mut ca, mut cb) = (
            _mm512_setzero_si512(),
            _mm512_setzero_si512(),
            _mm512_setzero_si512(),
            _mm512_setzero_si512(),
        );
        let mut i = 0;
        while i < n {
            let x = _mm512_loadu_si512(a.as_ptr().add(i) as *const _);
            let y = _mm512_loadu_si512(b.as_ptr().add(i) as *const _);
            xor = _mm512_add_epi64(xor, _mm512_popcnt_epi64(_mm512_xor_si512(x, y)));
            and = _mm512_add_epi64(and, _mm512_popcnt_epi64(_mm512_and_si512(x, y)));
            ca = _mm512_add_epi64(ca, _mm512_popcnt_epi64(x));
            cb = _mm512_add_epi64(cb, _mm512_popcnt_epi64(y));
            i += 64;
        }
        let tail = counts_scalar(&a[n..], &b[n..]);
        Counts {
            xor: _mm512_reduce_add_epi64(xor) as u64 + tail.xor,
            and: _mm512_reduce_add_epi64(and) as u64 + tail.and,
            a: _mm512_reduce_add_epi64(ca) as u64 + tail.a,
            b: _mm512_reduce_add_epi64(cb) as u64 + tail.b,
        }
    }
}

/// Every level this CPU can run, best last (tests run them all).
fn levels() -> Vec<(&'static str, CountsFn)> {
    #[allow(unused_mut)]
    let mut v: Vec<(&'static str, CountsFn)> = vec![("scalar", counts_scalar as CountsFn)];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("popcnt") {
            v.push(("popcnt", x86::counts_popcnt));
        }
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
            && std::arch::is_x86_feature_detected!("popcnt")
        {
            v.push(("avx512vpopcntdq", x86::counts_avx512));
        }
    }
    v
}

fn kernel() -> CountsFn {
    static CHOSEN: OnceLock<CountsFn> = OnceLock::new();
    *CHOSEN.get_or_init(|| levels().last().unwrap().1)
}

/// The level in use.
pub fn implementation() -> &'static str {
    levels().last().unwrap().0
}

/// Popcounts of `a ⊕ b`, `a ∧ b`, `a`, `b` (equal lengths).
pub fn counts(a: &[u8], b: &[u8]) -> Counts {
    assert_eq!(a.len(), b.len(), "bit strings of equal byte length");
    // SAFETY: the level was chosen by runtime feature detection.
    unsafe { kernel()(a, b) }
}

/// Number of differing bits.
pub fn hamming(a: &[u8], b: &[u8]) -> f64 {
    counts(a, b).xor as f64
}

/// Jaccard distance as pgvector computes it: 1 when no bit is set in both.
pub fn jaccard(a: &[u8], b: &[u8]) -> f64 {
    let c = counts(a, b);
    if c.and == 0 {
        1.0
    } else {
        1.0 - c.and as f64 / (c.a + c.b - c.and) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    fn reference(a: &[u8], b: &[u8]) -> Counts {
        let mut c = Counts::default();
        for (&x, &y) in a.iter().zip(b) {
            for bit in 0..8 {
                let (p, q) = ((x >> bit) & 1 == 1, (y >> bit) & 1 == 1);
                c.xor += (p != q) as u64;
                c.and += (p && q) as u64;
                c.a += p as u64;
                c.b += q as u64;
            }
        }
        c
    }

    #[test]
    fn every_level_matches_the_bitwise_reference_on_every_length() {
        let mut rng = SmallRng::seed_from_u64(5);
        for len in (0..300).chain([511, 512, 513, 1999, 2000]) {
            let a: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let b: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let want = reference(&a, &b);
            for (name, f) in levels() {
                // Unaligned starts too.
                assert_eq!(unsafe { f(&a, &b) }, want, "{name} len {len}");
                if len > 1 {
                    let want = reference(&a[1..], &b[1..]);
                    assert_eq!(
                        unsafe { f(&a[1..], &b[1..]) },
                        want,
                        "{name} len {len} offset 1"
                    );
                }
            }
        }
    }

    #[test]
    fn distances() {
        assert_eq!(hamming(&[0b1010_0000], &[0b0110_0000]), 2.0);
        assert_eq!(jaccard(&[0b1110_0000], &[0b0110_0000]), 1.0 - 2.0 / 3.0);
        assert_eq!(jaccard(&[0], &[0]), 1.0);
        assert_eq!(jaccard(&[0xff], &[0xff]), 0.0);
    }
}
