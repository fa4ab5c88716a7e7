// Fast SwiGLU forward, h = g * u / (1 + exp(-g)), and backward, in f32, AVX-512 / AVX2 / scalar chosen at
// run time, split over the default thread pool for long buffers.
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "simd_exp.h"
#include "tide/engine/kernels/swiglu.h"
#include "tide/engine/thread_pool.h"

namespace tide::engine {
namespace {

using SpanFn = void (*)(const float*, const float*, float*, int64_t);

void SpanScalar(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g * up[i] / (1.0f + std::exp(-g));
  }
}

#if TIDE_SIMD_X86

__attribute__((target("avx2,fma"))) void SpanAvx2(const float* gate, const float* up, float* out, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = simd::Exp256(_mm256_xor_ps(g, sign));
    const __m256 gu = _mm256_mul_ps(g, _mm256_loadu_ps(up + i));
    _mm256_storeu_ps(out + i, _mm256_div_ps(gu, _mm256_add_ps(one, e)));
  }
  SpanScalar(gate + i, up + i, out + i, n - i);
}

__attribute__((target("avx512f"))) void SpanAvx512(const float* gate, const float* up, float* out, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 g = _mm512_loadu_ps(gate + i);
    const __m512 e = simd::Exp512(_mm512_sub_ps(_mm512_setzero_ps(), g));
    const __m512 gu = _mm512_mul_ps(g, _mm512_loadu_ps(up + i));
    _mm512_storeu_ps(out + i, _mm512_div_ps(gu, _mm512_add_ps(one, e)));
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
    const __m512 e = simd::Exp512(_mm512_sub_ps(_mm512_setzero_ps(), g));
    const __m512 gu = _mm512_mul_ps(g, _mm512_maskz_loadu_ps(m, up + i));
    _mm512_mask_storeu_ps(out + i, m, _mm512_div_ps(gu, _mm512_add_ps(one, e)));
  }
}

#endif

// Backward: with sig = sigmoid(g), du = dh * g * sig and dg = dh * u * sig * (1 + g * (1 - sig)).
using BackwardSpanFn = void (*)(const float*, const float*, const float*, float*, float*, int64_t);

void BackwardScalar(const float* gate, const float* up, const float* dout, float* dgate, float* dup, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    const float sig = 1.0f / (1.0f + std::exp(-g));
    dup[i] = dout[i] * g * sig;
    dgate[i] = dout[i] * up[i] * sig * (1.0f + g * (1.0f - sig));
  }
}

#if TIDE_SIMD_X86

__attribute__((target("avx2,fma"))) void BackwardAvx2(const float* gate, const float* up, const float* dout,
                                                      float* dgate, float* dup, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 d = _mm256_loadu_ps(dout + i);
    const __m256 sig = _mm256_div_ps(one, _mm256_add_ps(one, simd::Exp256(_mm256_xor_ps(g, sign))));
    _mm256_storeu_ps(dup + i, _mm256_mul_ps(_mm256_mul_ps(d, g), sig));
    const __m256 slope = _mm256_fmadd_ps(g, _mm256_sub_ps(one, sig), one);
    _mm256_storeu_ps(dgate + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(d, _mm256_loadu_ps(up + i)), sig), slope));
  }
  BackwardScalar(gate + i, up + i, dout + i, dgate + i, dup + i, n - i);
}

__attribute__((target("avx512f"))) void BackwardAvx512(const float* gate, const float* up, const float* dout,
                                                        float* dgate, float* dup, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
    const __m512 d = _mm512_maskz_loadu_ps(m, dout + i);
    const __m512 sig =
        _mm512_div_ps(one, _mm512_add_ps(one, simd::Exp512(_mm512_sub_ps(_mm512_setzero_ps(), g))));
    _mm512_mask_storeu_ps(dup + i, m, _mm512_mul_ps(_mm512_mul_ps(d, g), sig));
    const __m512 slope = _mm512_fmadd_ps(g, _mm512_sub_ps(one, sig), one);
    _mm512_mask_storeu_ps(dgate + i, m,
                          _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(d, _mm512_maskz_loadu_ps(m, up + i)), sig), slope));
  }
}

#endif

BackwardSpanFn BackwardFunction(SimdLevel level) {
  if (!SimdLevelSupported(level)) level = DetectSimdLevel();
#if TIDE_SIMD_X86
  switch (level) {
    case SimdLevel::kAvx512: return BackwardAvx512;
    case SimdLevel::kAvx2: return BackwardAvx2;
    case SimdLevel::kScalar: break;
  }
#endif
  return BackwardScalar;
}

SpanFn SpanFunction(SimdLevel level) {
  if (!SimdLevelSupported(level)) level = DetectSimdLevel();
#if TIDE_SIMD_X86
  switch (level) {
    case SimdLevel::kAvx512: return SpanAvx512;
    case SimdLevel::kAvx2: return SpanAvx2;
    case SimdLevel::kScalar: break;
  }
#endif
  return SpanScalar;
}

}  // namespace

void SwiGluForwardAt(SimdLevel level, const float* gate, const float* up, float* out, int64_t n) {
  if (n <= 0) return;
  const SpanFn fn = SpanFunction(level);
  constexpr int64_t kGrain = 1 << 15;
  if (n < 2 * kGrain) {
    fn(gate, up, out, n);
    return;
  }
  ThreadPool::Default().ParallelFor(n, kGrain, [&](int64_t begin, int64_t end) {
    fn(gate + begin, up + begin, out + begin, end - begin);
  });
}

void SwiGluForward(const float* gate, const float* up, float* out, int64_t n) {
  SwiGluForwardAt(DetectSimdLevel(), gate, up, out, n);
}

void SwiGluBackwardAt(SimdLevel level, const float* gate, const float* up, const float* dout, float* dgate,
                      float* dup, int64_t n) {
  if (n <= 0) return;
  const BackwardSpanFn fn = BackwardFunction(level);
  constexpr int64_t kGrain = 1 << 14;
  if (n < 2 * kGrain) {
    fn(gate, up, dout, dgate, dup, n);
    return;
  }
  ThreadPool::Default().ParallelFor(n, kGrain, [&](int64_t begin, int64_t end) {
    fn(gate + begin, up + begin, dout + begin, dgate + begin, dup + begin, end - begin);
  });
}

void SwiGluBackward(const float* gate, const float* up, const float* dout, float* dgate, float* dup, int64_t n) {
  SwiGluBackwardAt(DetectSimdLevel(), gate, up, dout, dgate, dup, n);
}

}  // namespace tide::engine
