//! Tests for the distance kernels.
//!
//! Every implementation level this CPU has (scalar, and on x86-64 AVX2+FMA / AVX-512F when
//! present) is called directly through its table, not only through the dispatcher, and checked:
//! - exactly, on small-integer data where every order of summation gives the exact result,
//!   against sums computed in `i64` — this catches any skipped or doubled element;
//! - within tolerance, on random data of several kinds (uniform, mixed magnitudes, large, tiny,
//!   zeros and negative zeros, all-zero), against sums computed in `f64`;
//! - bit for bit, f16 kernels against the same level's f32 kernels on the widened values.
//!
//! This is done for every length 0..=2000, each vector placed at a varying offset inside a buffer
//! padded with NaN on both sides, so any read outside the slice would turn the result into NaN.
//! The batch functions are checked against per-vector `f64` computations for every metric.

use super::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const MAX_LEN: usize = 2000;
const REL: f64 = 1e-4;

// ---------------------------------------------------------------------------------------------
// Levels under test
// ---------------------------------------------------------------------------------------------

/// f32 query × f16 data kernels (what `batch_f16` runs per vector) of one level.
struct MixedKernels {
    name: &'static str,
    l2_squared: unsafe fn(&[f32], &[f16]) -> f32,
    dot: unsafe fn(&[f32], &[f16]) -> f32,
    l1: unsafe fn(&[f32], &[f16]) -> f32,
    cosine_parts: MixedCosineParts,
}

type MixedCosineParts = unsafe fn(&[f32], &[f16]) -> (f32, f32, f32);

fn mixed_levels() -> Vec<MixedKernels> {
    #[allow(unused_mut)]
    let mut v = vec![MixedKernels {
        name: "scalar",
        l2_squared: scalar::l2_squared_mixed,
        dot: scalar::dot_mixed,
        l1: scalar::l1_mixed,
        cosine_parts: scalar::cosine_parts_mixed,
    }];
    #[cfg(target_arch = "x86_64")]
    {
        use super::x86::{avx2, avx512};
        if x86::has_avx2_fma_f16c() {
            v.push(MixedKernels {
                name: "avx2+fma+f16c",
                l2_squared: avx2::l2_squared_mixed,
                dot: avx2::dot_mixed,
                l1: avx2::l1_mixed,
                cosine_parts: avx2::cosine_parts_mixed,
            });
        }
        if x86::has_avx512f_f16c() {
            v.push(MixedKernels {
                name: "avx512f+f16c",
                l2_squared: avx512::l2_squared_mixed,
                dot: avx512::dot_mixed,
                l1: avx512::l1_mixed,
                cosine_parts: avx512::cosine_parts_mixed,
            });
        }
    }
    v
}

/// The levels the tests will exercise must include every SIMD level the CPU reports, so that
/// passing tests really did run the SIMD code.
#[test]
fn all_detected_levels_are_tested() {
    let f32_names: Vec<_> = f32_levels().iter().map(|k| k.name).collect();
    let f16_names: Vec<_> = f16_levels().iter().map(|k| k.name).collect();
    let mixed_names: Vec<_> = mixed_levels().iter().map(|k| k.name).collect();
    eprintln!("f32 levels: {f32_names:?}; f16 levels: {f16_names:?}; mixed: {mixed_names:?}");
    assert_eq!(f32_names[0], "scalar");
    assert_eq!(f16_names, mixed_names);
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(
            f32_names.contains(&"avx2+fma"),
            is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
        );
        assert_eq!(
            f32_names.contains(&"avx512f"),
            is_x86_feature_detected!("avx512f")
        );
        assert_eq!(
            f16_names.contains(&"avx512f+f16c"),
            is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("f16c")
        );
    }
}

#[test]
fn implementation_is_best_level() {
    #[allow(unused_mut)]
    let mut want = ("scalar", "scalar");
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            want = ("avx512f", "avx512f+f16c");
        } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            want = ("avx2+fma", "avx2+fma+f16c");
        }
    }
    assert_eq!(implementation(), want.0);
    // Every AVX2 or AVX-512 CPU has F16C.
    assert_eq!(implementation_f16(), want.1);
}

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/// `v` placed at offset `off` in a buffer whose other elements are `fill` (NaN), so that reading
/// outside `v` shows in the result.
struct Padded<T> {
    buf: Vec<T>,
    off: usize,
    len: usize,
}

impl<T: Copy> Padded<T> {
    fn new(v: &[T], off: usize, fill: T) -> Self {
        let mut buf = vec![fill; off + v.len() + 37];
        buf[off..off + v.len()].copy_from_slice(v);
        Padded {
            buf,
            off,
            len: v.len(),
        }
    }
    fn get(&self) -> &[T] {
        &self.buf[self.off..self.off + self.len]
    }
}

fn pad32(v: &[f32], off: usize) -> Padded<f32> {
    Padded::new(v, off, f32::NAN)
}
fn pad16(v: &[f16], off: usize) -> Padded<f16> {
    Padded::new(v, off, f16::NAN)
}

/// Random f32 values of one of several kinds, picked by `kind`.
fn random_f32(rng: &mut SmallRng, n: usize, kind: usize) -> Vec<f32> {
    (0..n)
        .map(|_| match kind % 7 {
            0 => rng.gen_range(-1.0f32..1.0),
            // mixed magnitudes 1e-6 .. 1e6, both signs
            1 => {
                let m = 10f32.powf(rng.gen_range(-6.0f32..6.0));
                if rng.gen_bool(0.5) {
                    m
                } else {
                    -m
                }
            }
            // large: squared sums stay far below f32::MAX even for 2000 elements
            2 => rng.gen_range(-1e15f32..1e15),
            // tiny: products are f32 subnormals
            3 => rng.gen_range(-1e-20f32..1e-20),
            // many exact zeros and negative zeros
            4 => match rng.gen_range(0..4) {
                0 => 0.0,
                1 => -0.0,
                _ => rng.gen_range(-100.0f32..100.0),
            },
            // only negative
            5 => -rng.gen_range(0.0f32..10.0),
            // all zero
            _ => 0.0,
        })
        .collect()
}

/// Random f16 values of one of several kinds.
fn random_f16(rng: &mut SmallRng, n: usize, kind: usize) -> Vec<f16> {
    (0..n)
        .map(|_| {
            f16::from_f32(match kind % 6 {
                0 => rng.gen_range(-1.0f32..1.0),
                // up to the f16 maximum 65504
                1 => rng.gen_range(-65000.0f32..65000.0),
                // subnormal f16 (below 6.1e-5)
                2 => rng.gen_range(-6e-5f32..6e-5),
                3 => match rng.gen_range(0..4) {
                    0 => 0.0,
                    1 => -0.0,
                    _ => rng.gen_range(-100.0f32..100.0),
                },
                4 => -rng.gen_range(0.0f32..10.0),
                _ => 0.0,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------------------------

/// A reference value and the scale its rounding error is relative to (`Σ |term|`).
#[derive(Clone, Copy, Debug)]
struct Want {
    value: f64,
    scale: f64,
}

impl Want {
    fn ok(self, got: f32) -> bool {
        ((got as f64) - self.value).abs() <= REL * self.scale + 1e-35
    }
}

/// `f64` references of all kernels on `a`, `b`.
struct Refs {
    l2: Want,
    dot: Want,
    l1: Want,
    aa: Want,
    bb: Want,
}

fn sum_terms(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> Want {
    let (mut value, mut scale) = (0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let t = f(x, y);
        value += t;
        scale += t.abs();
    }
    Want { value, scale }
}

fn refs(a: &[f64], b: &[f64]) -> Refs {
    assert_eq!(a.len(), b.len());
    Refs {
        l2: sum_terms(a, b, |x, y| (x - y) * (x - y)),
        dot: sum_terms(a, b, |x, y| x * y),
        l1: sum_terms(a, b, |x, y| (x - y).abs()),
        aa: sum_terms(a, a, |x, _| x * x),
        bb: sum_terms(b, b, |_, y| y * y),
    }
}

fn wide32(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}
fn wide16(v: &[f16]) -> Vec<f64> {
    v.iter().map(|&x| x.to_f64()).collect()
}
fn to32(v: &[f16]) -> Vec<f32> {
    v.iter().map(|&x| x.to_f32()).collect()
}

/// Checks one level's five results against the references.
#[track_caller]
fn check(
    ctx: &str,
    r: &Refs,
    l2: f32,
    dot: f32,
    l1: f32,
    cos: (f32, f32, f32),
    norm_a: Option<f32>,
) {
    assert!(r.l2.ok(l2), "{ctx}: l2_squared {l2} vs {:?}", r.l2);
    assert!(r.dot.ok(dot), "{ctx}: dot {dot} vs {:?}", r.dot);
    assert!(r.l1.ok(l1), "{ctx}: l1 {l1} vs {:?}", r.l1);
    assert!(
        r.dot.ok(cos.0),
        "{ctx}: cosine_parts.0 {} vs {:?}",
        cos.0,
        r.dot
    );
    assert!(
        r.aa.ok(cos.1),
        "{ctx}: cosine_parts.1 {} vs {:?}",
        cos.1,
        r.aa
    );
    assert!(
        r.bb.ok(cos.2),
        "{ctx}: cosine_parts.2 {} vs {:?}",
        cos.2,
        r.bb
    );
    if let Some(n) = norm_a {
        assert!(r.aa.ok(n), "{ctx}: norm_squared {n} vs {:?}", r.aa);
    }
}

// ---------------------------------------------------------------------------------------------
// Kernel tests
// ---------------------------------------------------------------------------------------------

#[test]
fn hand_computed_values() {
    let a = [1.0f32, 2.0, 3.0];
    let b = [4.0f32, -6.0, 8.0];
    let (a16, b16) = (a.map(f16::from_f32), b.map(f16::from_f32));
    for k in f32_levels() {
        unsafe {
            assert_eq!((k.l2_squared)(&a, &b), 98.0, "{}", k.name);
            assert_eq!((k.dot)(&a, &b), 16.0, "{}", k.name);
            assert_eq!((k.l1)(&a, &b), 16.0, "{}", k.name);
            assert_eq!((k.cosine_parts)(&a, &b), (16.0, 14.0, 116.0), "{}", k.name);
            assert_eq!((k.norm_squared)(&b), 116.0, "{}", k.name);
            assert_eq!((k.l2_squared)(&[], &[]), 0.0, "{}", k.name);
            assert_eq!((k.norm_squared)(&[]), 0.0, "{}", k.name);
        }
    }
    for k in f16_levels() {
        unsafe {
            assert_eq!((k.l2_squared)(&a16, &b16), 98.0, "{}", k.name);
            assert_eq!((k.dot)(&a16, &b16), 16.0, "{}", k.name);
            assert_eq!((k.l1)(&a16, &b16), 16.0, "{}", k.name);
            assert_eq!(
                (k.cosine_parts)(&a16, &b16),
                (16.0, 14.0, 116.0),
                "{}",
                k.name
            );
            assert_eq!((k.norm_squared)(&b16), 116.0, "{}", k.name);
            assert_eq!((k.l1)(&[], &[]), 0.0, "{}", k.name);
        }
    }
    for k in mixed_levels() {
        unsafe {
            assert_eq!((k.l2_squared)(&a, &b16), 98.0, "{}", k.name);
            assert_eq!((k.dot)(&a, &b16), 16.0, "{}", k.name);
            assert_eq!((k.l1)(&a, &b16), 16.0, "{}", k.name);
            assert_eq!(
                (k.cosine_parts)(&a, &b16),
                (16.0, 14.0, 116.0),
                "{}",
                k.name
            );
        }
    }
    // The public (dispatched) API.
    assert_eq!(l2_squared(&a, &b), 98.0);
    assert_eq!(dot(&a, &b), 16.0);
    assert_eq!(l1(&a, &b), 16.0);
    assert_eq!(cosine_parts(&a, &b), (16.0, 14.0, 116.0));
    assert_eq!(norm_squared(&a), 14.0);
    assert_eq!(l2_squared_f16(&a16, &b16), 98.0);
    assert_eq!(dot_f16(&a16, &b16), 16.0);
    assert_eq!(l1_f16(&a16, &b16), 16.0);
    assert_eq!(cosine_parts_f16(&a16, &b16), (16.0, 14.0, 116.0));
    assert_eq!(norm_squared_f16(&a16), 14.0);
}

/// Small integers: every partial sum is an integer below 2^24, so every summation order is
/// exact and all levels must equal the `i64` result exactly, at every length.
#[test]
fn exact_on_small_integers_every_length() {
    let mut rng = SmallRng::seed_from_u64(1);
    let (l32, l16, lmix) = (f32_levels(), f16_levels(), mixed_levels());
    for n in 0..=MAX_LEN {
        let ai: Vec<i64> = (0..n).map(|_| rng.gen_range(-8..=8)).collect();
        let bi: Vec<i64> = (0..n).map(|_| rng.gen_range(-8..=8)).collect();
        let sum = |f: &dyn Fn(i64, i64) -> i64| {
            ai.iter().zip(&bi).map(|(&x, &y)| f(x, y)).sum::<i64>() as f32
        };
        let want_l2 = sum(&|x, y| (x - y) * (x - y));
        let want_dot = sum(&|x, y| x * y);
        let want_l1 = sum(&|x, y| (x - y).abs());
        let want_aa = sum(&|x, _| x * x);
        let want_bb = sum(&|_, y| y * y);
        let want_cos = (want_dot, want_aa, want_bb);

        let a32: Vec<f32> = ai.iter().map(|&x| x as f32).collect();
        let b32: Vec<f32> = bi.iter().map(|&x| x as f32).collect();
        let a16: Vec<f16> = a32.iter().map(|&x| f16::from_f32(x)).collect();
        let b16: Vec<f16> = b32.iter().map(|&x| f16::from_f32(x)).collect();
        let (pa32, pb32) = (pad32(&a32, n % 3), pad32(&b32, n % 5));
        let (pa16, pb16) = (pad16(&a16, n % 7), pad16(&b16, n % 2));
        let (a32, b32, a16, b16) = (pa32.get(), pb32.get(), pa16.get(), pb16.get());

        for k in &l32 {
            let name = k.name;
            unsafe {
                assert_eq!((k.l2_squared)(a32, b32), want_l2, "{name} l2 n={n}");
                assert_eq!((k.dot)(a32, b32), want_dot, "{name} dot n={n}");
                assert_eq!((k.l1)(a32, b32), want_l1, "{name} l1 n={n}");
                assert_eq!((k.cosine_parts)(a32, b32), want_cos, "{name} cos n={n}");
                assert_eq!((k.norm_squared)(a32), want_aa, "{name} norm n={n}");
            }
        }
        for k in &l16 {
            let name = k.name;
            unsafe {
                assert_eq!((k.l2_squared)(a16, b16), want_l2, "{name} f16 l2 n={n}");
                assert_eq!((k.dot)(a16, b16), want_dot, "{name} f16 dot n={n}");
                assert_eq!((k.l1)(a16, b16), want_l1, "{name} f16 l1 n={n}");
                assert_eq!((k.cosine_parts)(a16, b16), want_cos, "{name} f16 cos n={n}");
                assert_eq!((k.norm_squared)(b16), want_bb, "{name} f16 norm n={n}");
            }
        }
        for k in &lmix {
            let name = k.name;
            unsafe {
                assert_eq!((k.l2_squared)(a32, b16), want_l2, "{name} mixed l2 n={n}");
                assert_eq!((k.dot)(a32, b16), want_dot, "{name} mixed dot n={n}");
                assert_eq!((k.l1)(a32, b16), want_l1, "{name} mixed l1 n={n}");
                assert_eq!(
                    (k.cosine_parts)(a32, b16),
                    want_cos,
                    "{name} mixed cos n={n}"
                );
            }
        }
    }
}

/// Random f32 data of every kind, every length 0..=2000, all levels against `f64` references.
#[test]
fn f32_levels_match_f64_reference_every_length() {
    let mut rng = SmallRng::seed_from_u64(2);
    let levels = f32_levels();
    for n in 0..=MAX_LEN {
        let (ka, kb) = (n, n / 7 + rng.gen_range(0..3));
        let a = random_f32(&mut rng, n, ka);
        let b = random_f32(&mut rng, n, kb);
        let r = refs(&wide32(&a), &wide32(&b));
        let (pa, pb) = (pad32(&a, 1 + n % 4), pad32(&b, n % 3));
        let (a, b) = (pa.get(), pb.get());
        for k in &levels {
            let ctx = format!("{} n={n} kinds=({ka},{kb})", k.name);
            unsafe {
                check(
                    &ctx,
                    &r,
                    (k.l2_squared)(a, b),
                    (k.dot)(a, b),
                    (k.l1)(a, b),
                    (k.cosine_parts)(a, b),
                    Some((k.norm_squared)(a)),
                );
            }
        }
    }
}

/// Random f16 data: every f16 level and every mixed (f32 × f16) level against `f64` references,
/// and each f16 kernel bit for bit against the same level's f32 kernel on the widened values
/// (same lanes, same order of operations).
#[test]
fn f16_levels_match_reference_and_f32_kernels_every_length() {
    let mut rng = SmallRng::seed_from_u64(3);
    let (l32, l16, lmix) = (f32_levels(), f16_levels(), mixed_levels());
    assert_eq!(l32.len(), l16.len());
    for n in 0..=MAX_LEN {
        let (ka, kb) = (n, n / 5 + rng.gen_range(0..3));
        let a16 = random_f16(&mut rng, n, ka);
        let b16 = random_f16(&mut rng, n, kb);
        let (a32, b32) = (to32(&a16), to32(&b16));
        let r = refs(&wide16(&a16), &wide16(&b16));
        let (pa16, pb16) = (pad16(&a16, n % 3), pad16(&b16, 1 + n % 5));
        let (pa32, pb32) = (pad32(&a32, 0), pad32(&b32, 0));
        let (a16, b16, a32, b32) = (pa16.get(), pb16.get(), pa32.get(), pb32.get());
        for (k16, k32) in l16.iter().zip(&l32) {
            let ctx = format!("{} n={n} kinds=({ka},{kb})", k16.name);
            unsafe {
                let got = (
                    (k16.l2_squared)(a16, b16),
                    (k16.dot)(a16, b16),
                    (k16.l1)(a16, b16),
                    (k16.cosine_parts)(a16, b16),
                    (k16.norm_squared)(a16),
                );
                check(&ctx, &r, got.0, got.1, got.2, got.3, Some(got.4));
                let same = (
                    (k32.l2_squared)(a32, b32),
                    (k32.dot)(a32, b32),
                    (k32.l1)(a32, b32),
                    (k32.cosine_parts)(a32, b32),
                    (k32.norm_squared)(a32),
                );
                assert_eq!(
                    format!("{got:?}"),
                    format!("{same:?}"),
                    "{ctx}: f16 kernels differ from {} on widened values",
                    k32.name
                );
            }
        }
        // Mixed: an f32 query that is not f16-representable against f16 data.
        let q = random_f32(&mut rng, n, ka % 2);
        let rq = refs(&wide32(&q), &wide16(b16));
        let pq = pad32(&q, 2);
        let q = pq.get();
        for k in &lmix {
            let ctx = format!("{} mixed n={n}", k.name);
            unsafe {
                let dot = (k.dot)(q, b16);
                check(
                    &ctx,
                    &rq,
                    (k.l2_squared)(q, b16),
                    dot,
                    (k.l1)(q, b16),
                    (k.cosine_parts)(q, b16),
                    None,
                );
            }
        }
    }
}

/// The public functions give the chosen level's results.
#[test]
fn public_api_matches_best_level() {
    let mut rng = SmallRng::seed_from_u64(4);
    let (k32, k16) = (*f32_levels().last().unwrap(), *f16_levels().last().unwrap());
    for n in [0, 1, 7, 16, 33, 128, 385, 768, 1536, 1999] {
        let (a, b) = (random_f32(&mut rng, n, 0), random_f32(&mut rng, n, 1));
        let (a16, b16) = (random_f16(&mut rng, n, 0), random_f16(&mut rng, n, 1));
        unsafe {
            assert_eq!(
                l2_squared(&a, &b).to_bits(),
                (k32.l2_squared)(&a, &b).to_bits()
            );
            assert_eq!(dot(&a, &b).to_bits(), (k32.dot)(&a, &b).to_bits());
            assert_eq!(l1(&a, &b).to_bits(), (k32.l1)(&a, &b).to_bits());
            assert_eq!(cosine_parts(&a, &b), (k32.cosine_parts)(&a, &b));
            assert_eq!(norm_squared(&b).to_bits(), (k32.norm_squared)(&b).to_bits());
            assert_eq!(
                l2_squared_f16(&a16, &b16).to_bits(),
                (k16.l2_squared)(&a16, &b16).to_bits()
            );
            assert_eq!(
                dot_f16(&a16, &b16).to_bits(),
                (k16.dot)(&a16, &b16).to_bits()
            );
            assert_eq!(l1_f16(&a16, &b16).to_bits(), (k16.l1)(&a16, &b16).to_bits());
            assert_eq!(cosine_parts_f16(&a16, &b16), (k16.cosine_parts)(&a16, &b16));
            assert_eq!(
                norm_squared_f16(&b16).to_bits(),
                (k16.norm_squared)(&b16).to_bits()
            );
        }
        // And the scalar module agrees within tolerance.
        let r = refs(&wide32(&a), &wide32(&b));
        check(
            "scalar module",
            &r,
            scalar::l2_squared(&a, &b),
            scalar::dot(&a, &b),
            scalar::l1(&a, &b),
            scalar::cosine_parts(&a, &b),
            Some(scalar::norm_squared(&a)),
        );
    }
}

/// The sequential scalar f16 kernels are exactly the scalar f32 kernels on widened values.
#[test]
fn scalar_f16_is_scalar_f32_on_widened_values() {
    let mut rng = SmallRng::seed_from_u64(5);
    for n in [1, 2, 9, 100, 777] {
        let (a, b) = (random_f16(&mut rng, n, 0), random_f16(&mut rng, n, 3));
        let (x, y) = (to32(&a), to32(&b));
        assert_eq!(scalar::l2_squared_f16(&a, &b), scalar::l2_squared(&x, &y));
        assert_eq!(scalar::dot_f16(&a, &b), scalar::dot(&x, &y));
        assert_eq!(scalar::l1_f16(&a, &b), scalar::l1(&x, &y));
        assert_eq!(
            scalar::cosine_parts_f16(&a, &b),
            scalar::cosine_parts(&x, &y)
        );
        assert_eq!(scalar::norm_squared_f16(&a), scalar::norm_squared(&x));
    }
}

#[test]
#[should_panic(expected = "vector lengths differ")]
fn public_kernel_panics_on_length_mismatch() {
    l2_squared(&[1.0, 2.0], &[1.0]);
}

/// Even called directly with a too-short `b`, no level reads past it: it panics instead.
#[test]
fn levels_panic_rather_than_read_past_short_b() {
    let a = vec![1.0f32; 40];
    let b = vec![1.0f32; 39];
    let (a16, b16) = (vec![f16::ONE; 40], vec![f16::ONE; 39]);
    for k in f32_levels() {
        let r = std::panic::catch_unwind(|| unsafe { (k.dot)(&a, &b) });
        assert!(r.is_err(), "{}", k.name);
    }
    for k in f16_levels() {
        let r = std::panic::catch_unwind(|| unsafe { (k.l1)(&a16, &b16) });
        assert!(r.is_err(), "{}", k.name);
    }
}

#[test]
fn cosine_distance_from_parts_values() {
    assert_eq!(cosine_distance_from_parts(0.0, 1.0, 1.0), 1.0);
    assert_eq!(cosine_distance_from_parts(2.0, 4.0, 1.0), 0.0);
    assert_eq!(cosine_distance_from_parts(-3.0, 9.0, 1.0), 2.0);
    // Rounding can push |cos| past 1: clamped.
    assert_eq!(cosine_distance_from_parts(1.0000001, 1.0, 1.0), 0.0);
    assert!(cosine_distance_from_parts(0.0, 0.0, 1.0).is_nan());
    assert!(cosine_distance_from_parts(0.0, 1.0, 0.0).is_nan());
    assert!(cosine_distance_from_parts(f32::NAN, 1.0, 1.0).is_nan());
    // Norms whose product overflows f32 still work (computed in f64).
    assert!((cosine_distance_from_parts(1e30, 1e30, 1e30) - 0.0).abs() < 1e-6);
}

// ---------------------------------------------------------------------------------------------
// Batch tests
// ---------------------------------------------------------------------------------------------

/// Expected ordering distance of `q` against `v`, computed in `f64` independently of the kernels,
/// and the tolerance for it.
fn batch_expected(metric: Metric, q: &[f64], v: &[f64]) -> (f64, f64) {
    let r = refs(q, v);
    match metric {
        Metric::L2 => (r.l2.value, REL * r.l2.scale),
        Metric::InnerProduct => (-r.dot.value, REL * r.dot.scale),
        Metric::L1 => (r.l1.value, REL * r.l1.scale),
        Metric::Hamming | Metric::Jaccard => unreachable!("float kernels only"),
        Metric::Cosine => {
            if r.aa.value == 0.0 || r.bb.value == 0.0 {
                (f64::NAN, 0.0)
            } else {
                let c = r.dot.value / (r.aa.value * r.bb.value).sqrt();
                (1.0 - c.clamp(-1.0, 1.0), 1e-4)
            }
        }
    }
}

const METRICS: [Metric; 4] = [Metric::L2, Metric::InnerProduct, Metric::Cosine, Metric::L1];
const BATCH_DIMS: [usize; 14] = [0, 1, 3, 8, 15, 16, 17, 31, 64, 100, 128, 130, 385, 773];

#[track_caller]
fn check_batch(ctx: &str, metric: Metric, q: &[f64], vectors: &[Vec<f64>], out: &[f32]) {
    assert_eq!(vectors.len(), out.len());
    for (i, (v, &got)) in vectors.iter().zip(out).enumerate() {
        let (want, tol) = batch_expected(metric, q, v);
        if want.is_nan() {
            assert!(got.is_nan(), "{ctx} {metric:?} vector {i}: {got}, want NaN");
        } else {
            assert!(
                ((got as f64) - want).abs() <= tol + 1e-30,
                "{ctx} {metric:?} vector {i}: {got}, want {want} ± {tol}"
            );
        }
    }
}

/// Random vectors, every 5th one all zero (Cosine must give NaN there).
fn batch_vectors(rng: &mut SmallRng, count: usize, d: usize) -> Vec<Vec<f32>> {
    (0..count)
        .map(|i| {
            let kind = if i % 5 == 3 { 6 } else { i % 6 };
            random_f32(rng, d, kind)
        })
        .collect()
}

#[test]
fn batch_f32_matches_per_vector_reference() {
    let mut rng = SmallRng::seed_from_u64(6);
    let count = 23;
    for d in BATCH_DIMS {
        let vectors = batch_vectors(&mut rng, count, d);
        let data: Vec<f32> = vectors.concat();
        let wide: Vec<Vec<f64>> = vectors.iter().map(|v| wide32(v)).collect();
        for query in [
            random_f32(&mut rng, d, 0),
            random_f32(&mut rng, d, 1),
            vec![0.0; d],
        ] {
            let qn = scalar::norm_squared(&query);
            let q64 = wide32(&query);
            let (pq, pd) = (pad32(&query, 1), pad32(&data, 3));
            for metric in METRICS {
                let mut out = vec![f32::INFINITY; count];
                batch_f32(metric, pq.get(), qn, pd.get(), &mut out);
                check_batch(&format!("public d={d}"), metric, &q64, &wide, &out);
                for k in f32_levels() {
                    let mut out = vec![f32::INFINITY; count];
                    unsafe { (k.batch)(metric, pq.get(), qn, pd.get(), &mut out) };
                    check_batch(&format!("{} d={d}", k.name), metric, &q64, &wide, &out);
                }
            }
        }
    }
}

#[test]
fn batch_f16_matches_per_vector_reference() {
    let mut rng = SmallRng::seed_from_u64(7);
    let count = 23;
    for d in BATCH_DIMS {
        let vectors: Vec<Vec<f16>> = (0..count)
            .map(|i| random_f16(&mut rng, d, if i % 5 == 3 { 5 } else { i % 5 }))
            .collect();
        let data: Vec<f16> = vectors.concat();
        let wide: Vec<Vec<f64>> = vectors.iter().map(|v| wide16(v)).collect();
        for query in [
            random_f32(&mut rng, d, 0),
            random_f32(&mut rng, d, 4),
            vec![0.0; d],
        ] {
            let qn = scalar::norm_squared(&query);
            let q64 = wide32(&query);
            let (pq, pd) = (pad32(&query, 0), pad16(&data, 5));
            for metric in METRICS {
                let mut out = vec![f32::INFINITY; count];
                batch_f16(metric, pq.get(), qn, pd.get(), &mut out);
                check_batch(&format!("public f16 d={d}"), metric, &q64, &wide, &out);
                for k in f16_levels() {
                    let mut out = vec![f32::INFINITY; count];
                    unsafe { (k.batch)(metric, pq.get(), qn, pd.get(), &mut out) };
                    check_batch(&format!("{} f16 d={d}", k.name), metric, &q64, &wide, &out);
                }
            }
        }
    }
}

#[test]
fn batch_zero_vectors_and_empty() {
    // Cosine against a zero vector, and from a zero query, is NaN; the others are ordinary.
    let q = [3.0f32, 4.0];
    let data = [0.0f32, 0.0, 6.0, 8.0, -3.0, -4.0];
    let mut out = [0.0f32; 3];
    batch_f32(Metric::Cosine, &q, 25.0, &data, &mut out);
    assert!(out[0].is_nan());
    assert_eq!(out[1], 0.0);
    assert_eq!(out[2], 2.0);
    batch_f32(Metric::Cosine, &[0.0, 0.0], 0.0, &data, &mut out);
    assert!(out.iter().all(|x| x.is_nan()));
    batch_f32(Metric::InnerProduct, &q, 25.0, &data, &mut out);
    assert_eq!(out, [0.0, -50.0, 25.0]);
    batch_f32(Metric::L2, &q, 25.0, &data, &mut out);
    assert_eq!(out, [25.0, 25.0, 100.0]);
    batch_f32(Metric::L1, &q, 25.0, &data, &mut out);
    assert_eq!(out, [7.0, 7.0, 14.0]);
    let data16 = data.map(f16::from_f32);
    batch_f16(Metric::L1, &q, 25.0, &data16, &mut out);
    assert_eq!(out, [7.0, 7.0, 14.0]);
    // No vectors at all.
    batch_f32(Metric::L2, &q, 25.0, &[], &mut []);
    batch_f16(Metric::Cosine, &q, 25.0, &[], &mut []);
}

#[test]
#[should_panic(expected = "batch data length")]
fn batch_panics_on_length_mismatch() {
    let mut out = [0.0f32; 2];
    batch_f32(Metric::L2, &[1.0, 2.0], 5.0, &[1.0, 2.0, 3.0], &mut out);
}

// ---------------------------------------------------------------------------------------------
// Panels
// ---------------------------------------------------------------------------------------------

/// `nearest2` of every level against an `f64` brute force on random floats, in both forms
/// (expanded L2 and `−2·dot`), for point counts around every level's group size, vector counts
/// around the panel width and odd dimensions; the points are read from the middle of a
/// NaN-padded buffer (a read outside them poisons a distance). The reported index must be a
/// nearest within rounding, and `d1`, `d2` the smallest two values within rounding.
#[test]
fn panel_nearest2_matches_f64_reference() {
    let mut rng = SmallRng::seed_from_u64(91);
    for dim in [1, 2, 3, 7, 15, 16, 17, 31, 128, 129, 300] {
        for count in [1, 5, 31, 32, 33, 64, 100] {
            let vectors: Vec<f32> = (0..count * dim).map(|_| rng.gen_range(-2.0..2.0)).collect();
            let panels = Panels::new(&vectors, dim);
            for m in [1, 2, 3, 7, 8, 9, 17] {
                let mut buf = vec![f32::NAN; (m + 2) * dim];
                for x in &mut buf[dim..(m + 1) * dim] {
                    *x = rng.gen_range(-3.0..3.0);
                }
                let points = &buf[dim..(m + 1) * dim];
                let sq = |v: &[f32]| v.iter().map(|&a| a as f64 * a as f64).sum::<f64>();
                for l2 in [true, false] {
                    let point_add: Vec<f32> = points
                        .chunks_exact(dim)
                        .map(|x| if l2 { sq(x) as f32 } else { 0.0 })
                        .collect();
                    let mut vector_add: Vec<f32> = vectors
                        .chunks_exact(dim)
                        .map(|v| if l2 { sq(v) as f32 } else { 0.0 })
                        .collect();
                    vector_add.resize(panels.padded(), f32::INFINITY);
                    for (name, out) in panels.nearest2_all_levels(points, &point_add, &vector_add) {
                        for (r, x) in points.chunks_exact(dim).enumerate() {
                            let mut ds: Vec<f64> = vectors
                                .chunks_exact(dim)
                                .map(|v| {
                                    let dot: f64 =
                                        x.iter().zip(v).map(|(&a, &b)| a as f64 * b as f64).sum();
                                    if l2 {
                                        sq(x) + sq(v) - 2.0 * dot
                                    } else {
                                        -2.0 * dot
                                    }
                                })
                                .collect();
                            let tol = 1e-5 * (sq(x) + 16.0 * dim as f64) + 1e-6;
                            let (j, d1, d2) = out[r];
                            let what =
                                format!("{name} dim {dim} count {count} m {m} l2 {l2} point {r}");
                            assert!(j < count, "{what}: index {j}");
                            let at_j = ds[j];
                            ds.sort_by(f64::total_cmp);
                            assert!(
                                at_j <= ds[0] + tol,
                                "{what}: index {j} at {at_j}, nearest {}",
                                ds[0]
                            );
                            assert!(
                                (d1 as f64 - ds[0]).abs() <= tol,
                                "{what}: d1 {d1} vs {}",
                                ds[0]
                            );
                            let second = ds.get(1).copied().unwrap_or(f64::INFINITY);
                            assert!(
                                (d2 as f64 - second).abs() <= tol
                                    || (d2.is_infinite() && second.is_infinite()),
                                "{what}: d2 {d2} vs {second}"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// `nearest2` of every level against a brute force in `i64` on small integers (every sum is
/// exact in `f32`, so results must match exactly, ties included: duplicated vectors make the
/// lowest index win and `d2 == d1`), for L2 in expanded form and for `−2·dot`.
#[test]
fn panel_nearest2_exact_on_integers() {
    let mut rng = SmallRng::seed_from_u64(92);
    for dim in [1, 3, 16, 17, 64] {
        for count in [1, 2, 31, 32, 33, 70] {
            let mut vectors: Vec<f32> = (0..count * dim)
                .map(|_| rng.gen_range(-4..=4) as f32)
                .collect();
            if count > 40 {
                // Duplicates in other lanes and panels of earlier vectors.
                for (dst, src) in [(40, 3), (69, 3), (35, 34)] {
                    let v = vectors[src * dim..(src + 1) * dim].to_vec();
                    vectors[dst * dim..(dst + 1) * dim].copy_from_slice(&v);
                }
            }
            let panels = Panels::new(&vectors, dim);
            for m in [1, 2, 7, 8, 9, 16, 17] {
                let mut points: Vec<f32> =
                    (0..m * dim).map(|_| rng.gen_range(-4..=4) as f32).collect();
                if count > 40 {
                    points[..dim].copy_from_slice(&vectors[3 * dim..4 * dim]);
                    // exact tie at 0
                }
                for l2 in [true, false] {
                    let norm = |v: &[f32]| v.iter().map(|&x| (x as i64) * (x as i64)).sum::<i64>();
                    let point_add: Vec<f32> = points
                        .chunks_exact(dim)
                        .map(|x| if l2 { norm(x) as f32 } else { 0.0 })
                        .collect();
                    let mut vector_add: Vec<f32> = vectors
                        .chunks_exact(dim)
                        .map(|v| if l2 { norm(v) as f32 } else { 0.0 })
                        .collect();
                    vector_add.resize(panels.padded(), f32::INFINITY);
                    for (name, out) in panels.nearest2_all_levels(&points, &point_add, &vector_add)
                    {
                        for (r, x) in points.chunks_exact(dim).enumerate() {
                            let ds: Vec<i64> = vectors
                                .chunks_exact(dim)
                                .map(|v| {
                                    let dot: i64 =
                                        x.iter().zip(v).map(|(&a, &b)| a as i64 * b as i64).sum();
                                    if l2 {
                                        norm(x) + norm(v) - 2 * dot
                                    } else {
                                        -2 * dot
                                    }
                                })
                                .collect();
                            let d1 = *ds.iter().min().unwrap();
                            let j1 = ds.iter().position(|&d| d == d1).unwrap();
                            let mut rest = ds.clone();
                            rest.remove(j1);
                            let d2 = rest.iter().min().map_or(f32::INFINITY, |&d| d as f32);
                            assert_eq!(
                                out[r],
                                (j1, d1 as f32, d2),
                                "{name} dim {dim} count {count} m {m} l2 {l2} point {r}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn panel_nearest2_all_nan_or_empty_rows() {
    // One vector whose distance is NaN: never the nearest, reported as inf.
    let panels = Panels::new(&[1.0, 2.0], 2);
    let mut add = vec![f32::NAN];
    add.resize(panels.padded(), f32::INFINITY);
    for (name, out) in panels.nearest2_all_levels(&[1.0, 1.0], &[0.0], &add) {
        assert_eq!(out[0].1, f32::INFINITY, "{name}");
    }
    // A NaN between finite values in the same SIMD lane (columns 5, 37, 69, 101) must not
    // lose that lane's second smallest.
    let panels = Panels::new(&vec![1.0; 110], 1);
    let mut add: Vec<f32> = (0..110).map(|j| 1000.0 + j as f32).collect();
    (add[5], add[37], add[69], add[101]) = (75.0, 70.0, f32::NAN, 80.0);
    add.resize(panels.padded(), f32::INFINITY);
    for (name, out) in panels.nearest2_all_levels(&[0.0], &[0.0], &add) {
        assert_eq!(out[0], (37, 70.0, 75.0), "{name}");
    }
}
