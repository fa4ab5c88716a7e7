// Internal: the vectorised micro-kernels shared by the fast attention forward
// (attention_fast.cc) and backward (attention_backward_fast.cc), in scalar, AVX2 and
// AVX-512 forms. A block of kKeyBlock keys is held transposed ([d][kKeyBlock]) so scores
// vectorise over keys. The SIMD forms carry their own target attributes: call them only
// after checking the CPU supports that level.
#pragma once

#include <cstddef>

#include "simd_exp.h"

namespace tide::engine::attention_internal {

inline constexpr int kKeyBlock = 64;

// s[j] = scale * sum_i q[i] kt[i * kKeyBlock + j] for every j < kKeyBlock.
using ScoresFn = void (*)(const float* q, const float* kt, int d, float scale, float* s);
// acc[i] = alpha * acc[i] + sum_{j<n} p[j] v[j * stride + i] for i < d.
using PvFn = void (*)(float* acc, float alpha, const float* p, const float* v, std::ptrdiff_t stride, int n, int d);

inline void ScoresScalar(const float* q, const float* kt, int d, float scale, float* s) {
  for (int j = 0; j < kKeyBlock; ++j) s[j] = 0.0f;
  for (int i = 0; i < d; ++i) {
    const float qi = q[i];
    const float* row = kt + static_cast<std::ptrdiff_t>(i) * kKeyBlock;
    for (int j = 0; j < kKeyBlock; ++j) s[j] += qi * row[j];
  }
  for (int j = 0; j < kKeyBlock; ++j) s[j] *= scale;
}

inline void PvScalar(float* acc, float alpha, const float* p, const float* v, std::ptrdiff_t stride, int n, int d) {
  for (int i = 0; i < d; ++i) acc[i] *= alpha;
  for (int j = 0; j < n; ++j) {
    const float pj = p[j];
    const float* row = v + j * stride;
    for (int i = 0; i < d; ++i) acc[i] += pj * row[i];
  }
}

#if TIDE_SIMD_X86

__attribute__((target("avx2,fma"))) inline void ScoresAvx2(const float* q, const float* kt, int d, float scale,
                                                           float* s) {
  __m256 a[kKeyBlock / 8];  // eight independent FMA chains already
  for (auto& x : a) x = _mm256_setzero_ps();
  for (int i = 0; i < d; ++i) {
    const __m256 qi = _mm256_set1_ps(q[i]);
    const float* row = kt + static_cast<std::ptrdiff_t>(i) * kKeyBlock;
    for (int c = 0; c < kKeyBlock / 8; ++c) a[c] = _mm256_fmadd_ps(qi, _mm256_loadu_ps(row + 8 * c), a[c]);
  }
  const __m256 vs = _mm256_set1_ps(scale);
  for (int c = 0; c < kKeyBlock / 8; ++c) _mm256_storeu_ps(s + 8 * c, _mm256_mul_ps(a[c], vs));
}

__attribute__((target("avx2,fma"))) inline void PvAvx2(float* acc, float alpha, const float* p, const float* v,
                                                       std::ptrdiff_t stride, int n, int d) {
  const __m256 va = _mm256_set1_ps(alpha);
  int i = 0;
  for (; i + 8 <= d; i += 8) {
    __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(acc + i), va), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int j = 0;
    for (; j + 4 <= n; j += 4) {
      const float* r = v + j * stride + i;
      a0 = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(r), a0);
      a1 = _mm256_fmadd_ps(_mm256_set1_ps(p[j + 1]), _mm256_loadu_ps(r + stride), a1);
      a2 = _mm256_fmadd_ps(_mm256_set1_ps(p[j + 2]), _mm256_loadu_ps(r + 2 * stride), a2);
      a3 = _mm256_fmadd_ps(_mm256_set1_ps(p[j + 3]), _mm256_loadu_ps(r + 3 * stride), a3);
    }
    for (; j < n; ++j) a0 = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(v + j * stride + i), a0);
    _mm256_storeu_ps(acc + i, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  }
  if (i < d) PvScalar(acc + i, alpha, p, v + i, stride, n, d - i);
}

__attribute__((target("avx512f"))) inline void ScoresAvx512(const float* q, const float* kt, int d, float scale,
                                                            float* s) {
  // Two sets of partial sums (even / odd i): eight independent FMA chains.
  __m512 a[kKeyBlock / 16], b[kKeyBlock / 16];
  for (auto& x : a) x = _mm512_setzero_ps();
  for (auto& x : b) x = _mm512_setzero_ps();
  int i = 0;
  for (; i + 2 <= d; i += 2) {
    const __m512 q0 = _mm512_set1_ps(q[i]), q1 = _mm512_set1_ps(q[i + 1]);
    const float* r0 = kt + static_cast<std::ptrdiff_t>(i) * kKeyBlock;
    const float* r1 = r0 + kKeyBlock;
    for (int c = 0; c < kKeyBlock / 16; ++c) {
      a[c] = _mm512_fmadd_ps(q0, _mm512_loadu_ps(r0 + 16 * c), a[c]);
      b[c] = _mm512_fmadd_ps(q1, _mm512_loadu_ps(r1 + 16 * c), b[c]);
    }
  }
  if (i < d) {
    const __m512 q0 = _mm512_set1_ps(q[i]);
    const float* r0 = kt + static_cast<std::ptrdiff_t>(i) * kKeyBlock;
    for (int c = 0; c < kKeyBlock / 16; ++c) a[c] = _mm512_fmadd_ps(q0, _mm512_loadu_ps(r0 + 16 * c), a[c]);
  }
  const __m512 vs = _mm512_set1_ps(scale);
  for (int c = 0; c < kKeyBlock / 16; ++c) _mm512_storeu_ps(s + 16 * c, _mm512_mul_ps(_mm512_add_ps(a[c], b[c]), vs));
}

__attribute__((target("avx512f"))) inline void PvAvx512(float* acc, float alpha, const float* p, const float* v,
                                                        std::ptrdiff_t stride, int n, int d) {
  const __m512 va = _mm512_set1_ps(alpha);
  for (int i = 0; i < d; i += 16) {
    const __mmask16 k = d - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (d - i)) - 1u);
    __m512 a0 = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, acc + i), va), a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    int j = 0;
    for (; j + 4 <= n; j += 4) {
      const float* r = v + j * stride + i;
      a0 = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), _mm512_maskz_loadu_ps(k, r), a0);
      a1 = _mm512_fmadd_ps(_mm512_set1_ps(p[j + 1]), _mm512_maskz_loadu_ps(k, r + stride), a1);
      a2 = _mm512_fmadd_ps(_mm512_set1_ps(p[j + 2]), _mm512_maskz_loadu_ps(k, r + 2 * stride), a2);
      a3 = _mm512_fmadd_ps(_mm512_set1_ps(p[j + 3]), _mm512_maskz_loadu_ps(k, r + 3 * stride), a3);
    }
    for (; j < n; ++j) a0 = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), _mm512_maskz_loadu_ps(k, v + j * stride + i), a0);
    _mm512_mask_storeu_ps(acc + i, k, _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  }
}

#endif  // TIDE_SIMD_X86

}  // namespace tide::engine::attention_internal
