//! AVX-512F level: 16 × `f32` lanes per `__m512`; `f16` inputs are widened with
//! `_mm512_cvtph_ps` (part of AVX-512F). The f32 kernels need only `avx512f`; the f16 ones are
//! compiled with `avx512f,avx2,fma,f16c` (the partial load goes through a 256-bit AVX load).
//!
//! The f32 tail is a zero-masked `_mm512_maskz_loadu_ps` (masked-off lanes are not read, so it
//! cannot fault); the f16 tail is copied into a zeroed 16-element buffer first, since 16-bit masked
//! loads need AVX-512BW. See [`super`] for the loop.

use core::arch::x86_64::*;

use super::{f16_tail, Load, Simd};

/// The AVX-512F level.
pub(crate) struct Avx512;

impl Simd for Avx512 {
    const LANES: usize = 16;
    type V = __m512;
    #[inline(always)]
    unsafe fn zero() -> __m512 {
        _mm512_setzero_ps()
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        _mm512_add_ps(a, b)
    }
    #[inline(always)]
    unsafe fn sub(a: __m512, b: __m512) -> __m512 {
        _mm512_sub_ps(a, b)
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn abs(a: __m512) -> __m512 {
        _mm512_abs_ps(a)
    }
    #[inline(always)]
    unsafe fn hsum(a: __m512) -> f32 {
        _mm512_reduce_add_ps(a)
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        _mm512_set1_ps(x)
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        _mm512_storeu_ps(p, v)
    }
    #[inline(always)]
    unsafe fn min(a: __m512, b: __m512) -> __m512 {
        _mm512_min_ps(a, b)
    }
    #[inline(always)]
    unsafe fn max(a: __m512, b: __m512) -> __m512 {
        _mm512_max_ps(a, b)
    }
    #[inline(always)]
    unsafe fn select_lt(a: __m512, b: __m512, x: __m512, y: __m512) -> __m512 {
        _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b), y, x)
    }
}

impl Load<Avx512> for f32 {
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        _mm512_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, n: usize) -> __m512 {
        debug_assert!(n < 16);
        _mm512_maskz_loadu_ps(((1u32 << n) - 1) as __mmask16, p)
    }
}

impl Load<Avx512> for half::f16 {
    #[inline(always)]
    unsafe fn load(p: *const half::f16) -> __m512 {
        _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i))
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const half::f16, n: usize) -> __m512 {
        let buf = f16_tail::<16>(p, n);
        _mm512_cvtph_ps(_mm256_loadu_si256(buf.as_ptr() as *const __m256i))
    }
}

super::entry_points!(
    Avx512,
    8,
    "avx512f",
    "avx512f",
    "avx512f+f16c",
    "avx512f,avx2,fma,f16c"
);
