//! AVX2 + FMA level: 8 × `f32` lanes per `__m256`; `f16` inputs are widened with F16C's
//! `_mm256_cvtph_ps`. The f32 kernels need `avx2,fma`, the f16 ones `avx2,fma,f16c`.
//!
//! The f32 tail is a `vmaskmovps` masked load (masked-off lanes are not read, so it cannot fault);
//! the f16 tail is copied into a zeroed 8-element buffer first. See [`super`] for the loop.

use core::arch::x86_64::*;

use super::{f16_tail, Load, Simd};

/// The AVX2 + FMA level.
pub(crate) struct Avx2;

impl Simd for Avx2 {
    const LANES: usize = 8;
    type V = __m256;
    #[inline(always)]
    unsafe fn zero() -> __m256 {
        _mm256_setzero_ps()
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        _mm256_add_ps(a, b)
    }
    #[inline(always)]
    unsafe fn sub(a: __m256, b: __m256) -> __m256 {
        _mm256_sub_ps(a, b)
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
        _mm256_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn abs(a: __m256) -> __m256 {
        // Clear the sign bit.
        _mm256_andnot_ps(_mm256_set1_ps(-0.0), a)
    }
    #[inline(always)]
    unsafe fn hsum(a: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s)); // lanes 0,1 hold 0+2, 1+3
        let s = _mm_add_ss(s, _mm_movehdup_ps(s)); // lane 0 holds everything
        _mm_cvtss_f32(s)
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m256 {
        _mm256_set1_ps(x)
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m256) {
        _mm256_storeu_ps(p, v)
    }
    #[inline(always)]
    unsafe fn min(a: __m256, b: __m256) -> __m256 {
        _mm256_min_ps(a, b)
    }
    #[inline(always)]
    unsafe fn max(a: __m256, b: __m256) -> __m256 {
        _mm256_max_ps(a, b)
    }
    #[inline(always)]
    unsafe fn select_lt(a: __m256, b: __m256, x: __m256, y: __m256) -> __m256 {
        _mm256_blendv_ps(y, x, _mm256_cmp_ps::<_CMP_LT_OQ>(a, b))
    }
}

/// A window into this table at `8 - n` is a mask with the first `n` lanes set.
static TAIL_MASK: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

impl Load<Avx2> for f32 {
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        _mm256_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, n: usize) -> __m256 {
        debug_assert!(n < 8);
        let mask = _mm256_loadu_si256(TAIL_MASK.as_ptr().add(8 - n) as *const __m256i);
        _mm256_maskload_ps(p, mask)
    }
}

impl Load<Avx2> for half::f16 {
    #[inline(always)]
    unsafe fn load(p: *const half::f16) -> __m256 {
        _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i))
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const half::f16, n: usize) -> __m256 {
        let buf = f16_tail::<8>(p, n);
        _mm256_cvtph_ps(_mm_loadu_si128(buf.as_ptr() as *const __m128i))
    }
}

super::entry_points!(
    Avx2,
    2,
    "avx2+fma",
    "avx2,fma",
    "avx2+fma+f16c",
    "avx2,fma,f16c"
);
