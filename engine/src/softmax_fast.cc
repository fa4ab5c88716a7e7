// Fast router softmax and sigmoid: f32 with a vectorised exp, AVX-512 / AVX2 / scalar
// chosen at run time. The softmax forms x - max with its exact rounding error (TwoSum)
// and folds that error back in as exp(d + err) ~= exp(d) * (1 + err), so large score gaps
// lose no accuracy to the subtraction.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "simd_exp.h"
#include "tide/engine/kernels/softmax_topk.h"

namespace tide::engine {
namespace {

using RowFn = void (*)(const float*, float*, int);
using SpanFn = void (*)(const float*, float*, int64_t);

// Fills out[i] = exp(x[i] - m) (with the TwoSum correction) for i in [begin, n).
float ExpShiftScalar(const float* x, float* out, int begin, int n, float m, float sum) {
  for (int i = begin; i < n; ++i) {
    const float a = x[i];
    const float d = a - m;
    const float bb = d - a;
    const float err = (a - (d - bb)) + (-m - bb);
    const float e = std::exp(d);
    out[i] = e + e * err;
    sum += out[i];
  }
  return sum;
}

void SoftmaxRowScalar(const float* x, float* out, int n) {
  float m = x[0];
  for (int i = 1; i < n; ++i) m = std::max(m, x[i]);
  const float sum = ExpShiftScalar(x, out, 0, n, m, 0.0f);
  for (int i = 0; i < n; ++i) out[i] /= sum;
}

void SigmoidScalar(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

#if TIDE_SIMD_X86

__attribute__((target("avx2,fma"))) void SoftmaxRowAvx2(const float* x, float* out, int n) {
  int i = 0;
  float m = x[0];
  if (n >= 8) {
    __m256 vm = _mm256_loadu_ps(x);
    for (i = 8; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
    m = simd::Max256(vm);
  }
  for (; i < n; ++i) m = std::max(m, x[i]);
  const __m256 vm = _mm256_set1_ps(m), nm = _mm256_set1_ps(-m);
  __m256 vs = _mm256_setzero_ps();
  i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 a = _mm256_loadu_ps(x + i);
    const __m256 d = _mm256_sub_ps(a, vm);
    const __m256 bb = _mm256_sub_ps(d, a);
    const __m256 err = _mm256_add_ps(_mm256_sub_ps(a, _mm256_sub_ps(d, bb)), _mm256_sub_ps(nm, bb));
    const __m256 e = simd::Exp256(d);
    const __m256 p = _mm256_fmadd_ps(e, err, e);
    _mm256_storeu_ps(out + i, p);
    vs = _mm256_add_ps(vs, p);
  }
  const float sum = ExpShiftScalar(x, out, i, n, m, simd::Sum256(vs));
  const __m256 vsum = _mm256_set1_ps(sum);
  i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_div_ps(_mm256_loadu_ps(out + i), vsum));
  for (; i < n; ++i) out[i] /= sum;
}

__attribute__((target("avx2,fma"))) void SigmoidAvx2(const float* x, float* out, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = simd::Exp256(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_loadu_ps(x + i)));
    _mm256_storeu_ps(out + i, _mm256_div_ps(one, _mm256_add_ps(one, e)));
  }
  SigmoidScalar(x + i, out + i, n - i);
}

__attribute__((target("avx512f"))) void SoftmaxRowAvx512(const float* x, float* out, int n) {
  __m512 vmax = _mm512_set1_ps(x[0]);
  int i = 0;
  for (; i + 16 <= n; i += 16) vmax = simd::Max512v(vmax, _mm512_loadu_ps(x + i));
  if (i < n) {
    const __mmask16 k = static_cast<__mmask16>((1u << (n - i)) - 1u);
    vmax = _mm512_mask_max_ps(vmax, k, vmax, _mm512_maskz_loadu_ps(k, x + i));
  }
  const float m = simd::Max512(vmax);
  const __m512 vm = _mm512_set1_ps(m), nm = _mm512_set1_ps(-m);
  __m512 vs = _mm512_setzero_ps();
  for (i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? static_cast<__mmask16>(0xFFFF)
                                    : static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m512 a = _mm512_mask_loadu_ps(vm, k, x + i);  // lanes past n read as m
    const __m512 d = _mm512_sub_ps(a, vm);
    const __m512 bb = _mm512_sub_ps(d, a);
    const __m512 err = _mm512_add_ps(_mm512_sub_ps(a, _mm512_sub_ps(d, bb)), _mm512_sub_ps(nm, bb));
    const __m512 e = simd::Exp512(d);
    const __m512 p = _mm512_fmadd_ps(e, err, e);
    _mm512_mask_storeu_ps(out + i, k, p);
    vs = _mm512_mask_add_ps(vs, k, vs, p);
  }
  const __m512 vsum = _mm512_set1_ps(simd::Sum512(vs));
  for (i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? static_cast<__mmask16>(0xFFFF)
                                    : static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(out + i, k, _mm512_div_ps(_mm512_maskz_loadu_ps(k, out + i), vsum));
  }
}

__attribute__((target("avx512f"))) void SigmoidAvx512(const float* x, float* out, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? static_cast<__mmask16>(0xFFFF)
                                    : static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m512 e = simd::Exp512(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_maskz_loadu_ps(k, x + i)));
    _mm512_mask_storeu_ps(out + i, k, _mm512_div_ps(one, _mm512_add_ps(one, e)));
  }
}

#endif

SimdLevel Resolve(SimdLevel level) { return SimdLevelSupported(level) ? level : DetectSimdLevel(); }

}  // namespace

void SoftmaxAt(SimdLevel level, const float* x, float* out, int rows, int n) {
  if (rows <= 0 || n <= 0) return;
  RowFn row = SoftmaxRowScalar;
#if TIDE_SIMD_X86
  switch (Resolve(level)) {
    case SimdLevel::kAvx512: row = SoftmaxRowAvx512; break;
    case SimdLevel::kAvx2: row = SoftmaxRowAvx2; break;
    case SimdLevel::kScalar: break;
  }
#else
  (void)level;
#endif
  for (int r = 0; r < rows; ++r) {
    const std::ptrdiff_t o = static_cast<std::ptrdiff_t>(r) * n;
    row(x + o, out + o, n);
  }
}

void Softmax(const float* x, float* out, int rows, int n) { SoftmaxAt(DetectSimdLevel(), x, out, rows, n); }

void SigmoidAt(SimdLevel level, const float* x, float* out, int64_t n) {
  if (n <= 0) return;
  SpanFn fn = SigmoidScalar;
#if TIDE_SIMD_X86
  switch (Resolve(level)) {
    case SimdLevel::kAvx512: fn = SigmoidAvx512; break;
    case SimdLevel::kAvx2: fn = SigmoidAvx2; break;
    case SimdLevel::kScalar: break;
  }
#else
  (void)level;
#endif
  fn(x, out, n);
}

void Sigmoid(const float* x, float* out, int64_t n) { SigmoidAt(DetectSimdLevel(), x, out, n); }

}  // namespace tide::engine
