// Internal: vectorised f32 exp for the fast CPU kernels (Cephes expf scheme: range
// reduction by ln 2 in two parts, degree-5 polynomial, scaling by 2^n through the exponent
// bits). Relative error about 1-2 ulp over the clamped range [-87.3, 88.37]; inputs below
// it give about 1e-38 instead of a smaller number or 0, inputs above give about 2.4e38.
// The functions carry their own target attributes: call them only from code compiled for
// (at least) the same instruction set.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TIDE_SIMD_X86 1
#else
#define TIDE_SIMD_X86 0
#endif

namespace tide::engine::simd {

inline constexpr float kExpHi = 88.3762626647949f;
inline constexpr float kExpLo = -87.3365402221679f;
inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kLn2Hi = 0.693359375f;
inline constexpr float kLn2Lo = -2.12194440e-4f;
inline constexpr float kP0 = 1.9875691500e-4f;
inline constexpr float kP1 = 1.3981999507e-3f;
inline constexpr float kP2 = 8.3334519073e-3f;
inline constexpr float kP3 = 4.1665795894e-2f;
inline constexpr float kP4 = 1.6666665459e-1f;
inline constexpr float kP5 = 5.0000001201e-1f;

#if TIDE_SIMD_X86

__attribute__((target("avx2,fma"), always_inline)) inline __m256 Exp256(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(kExpLo)), _mm256_set1_ps(kExpHi));
  const __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(kLn2Hi), x);
  r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(kLn2Lo), r);
  __m256 y = _mm256_set1_ps(kP0);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kP1));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kP2));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kP3));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kP4));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kP5));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

// GCC 12 expands the unmasked AVX-512 forms of max / min / roundscale / cvtps / slli from
// _mm512_undefined_*(), which trips -Wmaybe-uninitialized inside its own header; the masked
// forms with every lane selected and an explicit source are the same instructions.
inline constexpr __mmask16 kAll16 = 0xFFFF;

__attribute__((target("avx512f"), always_inline)) inline __m512 Max512v(__m512 a, __m512 b) {
  return _mm512_mask_max_ps(a, kAll16, a, b);
}

__attribute__((target("avx512f"), always_inline)) inline __m512 Min512v(__m512 a, __m512 b) {
  return _mm512_mask_min_ps(a, kAll16, a, b);
}

__attribute__((target("avx512f"), always_inline)) inline __m512 Exp512(__m512 x) {
  x = Min512v(Max512v(x, _mm512_set1_ps(kExpLo)), _mm512_set1_ps(kExpHi));
  const __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(kLog2e));
  const __m512 fx = _mm512_mask_roundscale_ps(t, kAll16, t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(kLn2Hi), x);
  r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(kLn2Lo), r);
  __m512 y = _mm512_set1_ps(kP0);
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(kP1));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(kP2));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(kP3));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(kP4));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(kP5));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __m512i zero = _mm512_setzero_si512();
  const __m512i n = _mm512_mask_cvtps_epi32(zero, kAll16, fx);
  const __m512i e = _mm512_mask_slli_epi32(zero, kAll16, _mm512_add_epi32(n, _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}

// Sum / max of the 16 lanes without the GCC 12 _mm512_reduce_* expansions (see rmsnorm.cc).
__attribute__((target("avx512f"), always_inline)) inline float Sum512(__m512 v) {
  constexpr __mmask16 kAll = 0xFFFF;
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, kAll, v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, kAll, v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  __m128 s = _mm512_mask_extractf32x4_ps(_mm_setzero_ps(), 0xF, v, 0);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx512f"), always_inline)) inline float Max512(__m512 v) {
  constexpr __mmask16 kAll = 0xFFFF;
  v = Max512v(v, _mm512_mask_shuffle_f32x4(v, kAll, v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = Max512v(v, _mm512_mask_shuffle_f32x4(v, kAll, v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  __m128 s = _mm512_mask_extractf32x4_ps(_mm_setzero_ps(), 0xF, v, 0);
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"), always_inline)) inline float Sum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"), always_inline)) inline float Max256(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

#endif  // TIDE_SIMD_X86

}  // namespace tide::engine::simd
