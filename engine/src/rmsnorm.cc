#include "tide/engine/kernels/rmsnorm.h"

#include <cmath>
#include <cstddef>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TIDE_RMSNORM_X86 1
#else
#define TIDE_RMSNORM_X86 0
#endif

namespace tide::engine {

void RmsNormReference(const float* x, const float* weight, float* out, int rows, int dim,
                      float eps) {
  if (rows <= 0 || dim <= 0) return;
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<std::ptrdiff_t>(r) * dim;
    float* yr = out + static_cast<std::ptrdiff_t>(r) * dim;
    double sum_sq = 0.0;
    for (int i = 0; i < dim; ++i) sum_sq += static_cast<double>(xr[i]) * xr[i];
    const double scale = 1.0 / std::sqrt(sum_sq / dim + static_cast<double>(eps));
    for (int i = 0; i < dim; ++i) {
      yr[i] = static_cast<float>(static_cast<double>(xr[i]) * scale * weight[i]);
    }
  }
}

namespace {

// Each row function reads the whole row before writing any of it, so out == x is safe.

float InverseRms(float sum_sq, int dim, float eps) {
  return 1.0f / std::sqrt(sum_sq / static_cast<float>(dim) + eps);
}

void RowScalar(const float* x, const float* w, float* y, int dim, float eps) {
  // Eight independent partial sums: shorter dependency chains and less rounding error
  // than one running sum.
  float acc[8] = {};
  int i = 0;
  for (; i + 8 <= dim; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += x[i + k] * x[i + k];
  }
  float sum_sq = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < dim; ++i) sum_sq += x[i] * x[i];
  const float scale = InverseRms(sum_sq, dim, eps);
  for (int j = 0; j < dim; ++j) y[j] = x[j] * scale * w[j];
}

#if TIDE_RMSNORM_X86

__attribute__((target("avx2,fma"))) float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) void RowAvx2(const float* x, const float* w, float* y,
                                                 int dim, float eps) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 32 <= dim; i += 32) {
    const __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
    const __m256 v2 = _mm256_loadu_ps(x + i + 16), v3 = _mm256_loadu_ps(x + i + 24);
    a0 = _mm256_fmadd_ps(v0, v0, a0);
    a1 = _mm256_fmadd_ps(v1, v1, a1);
    a2 = _mm256_fmadd_ps(v2, v2, a2);
    a3 = _mm256_fmadd_ps(v3, v3, a3);
  }
  for (; i + 8 <= dim; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    a0 = _mm256_fmadd_ps(v, v, a0);
  }
  float sum_sq = HorizontalSum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < dim; ++i) sum_sq += x[i] * x[i];

  const float scale = InverseRms(sum_sq, dim, eps);
  const __m256 s = _mm256_set1_ps(scale);
  int j = 0;
  for (; j + 8 <= dim; j += 8) {
    const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + j), s);
    _mm256_storeu_ps(y + j, _mm256_mul_ps(v, _mm256_loadu_ps(w + j)));
  }
  for (; j < dim; ++j) y[j] = x[j] * scale * w[j];
}

// Sum of the 16 lanes. The masked forms with an explicit source (all lanes selected) stand
// in for _mm512_reduce_add_ps and the plain shuffles, whose GCC 12 expansions start from
// _mm512_undefined_ps() and trip -Wuninitialized inside the compiler's own header.
__attribute__((target("avx512f"))) float HorizontalSum(__m512 v) {
  constexpr __mmask16 kAll = 0xFFFF;
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, kAll, v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, kAll, v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  __m128 s = _mm512_mask_extractf32x4_ps(_mm_setzero_ps(), 0xF, v, 0);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx512f"))) void RowAvx512(const float* x, const float* w, float* y,
                                                  int dim, float eps) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
  int i = 0;
  for (; i + 64 <= dim; i += 64) {
    const __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
    const __m512 v2 = _mm512_loadu_ps(x + i + 32), v3 = _mm512_loadu_ps(x + i + 48);
    a0 = _mm512_fmadd_ps(v0, v0, a0);
    a1 = _mm512_fmadd_ps(v1, v1, a1);
    a2 = _mm512_fmadd_ps(v2, v2, a2);
    a3 = _mm512_fmadd_ps(v3, v3, a3);
  }
  for (; i + 16 <= dim; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    a0 = _mm512_fmadd_ps(v, v, a0);
  }
  if (i < dim) {  // masked tail: lanes past the end load as zero and are never touched
    const __mmask16 m = static_cast<__mmask16>((1u << (dim - i)) - 1u);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    a1 = _mm512_fmadd_ps(v, v, a1);
  }
  const float sum_sq =
      HorizontalSum(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));

  const __m512 s = _mm512_set1_ps(InverseRms(sum_sq, dim, eps));
  int j = 0;
  for (; j + 16 <= dim; j += 16) {
    const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + j), s);
    _mm512_storeu_ps(y + j, _mm512_mul_ps(v, _mm512_loadu_ps(w + j)));
  }
  if (j < dim) {
    const __mmask16 m = static_cast<__mmask16>((1u << (dim - j)) - 1u);
    const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + j), s);
    _mm512_mask_storeu_ps(y + j, m, _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + j)));
  }
}

#endif  // TIDE_RMSNORM_X86

using RowFn = void (*)(const float*, const float*, float*, int, float);

RowFn RowFunction(SimdLevel level) {
  if (!SimdLevelSupported(level)) level = DetectSimdLevel();
#if TIDE_RMSNORM_X86
  switch (level) {
    case SimdLevel::kAvx512: return RowAvx512;
    case SimdLevel::kAvx2: return RowAvx2;
    case SimdLevel::kScalar: break;
  }
#endif
  return RowScalar;
}

}  // namespace

void RmsNormAt(SimdLevel level, const float* x, const float* weight, float* out, int rows,
               int dim, float eps) {
  if (rows <= 0 || dim <= 0) return;
  const RowFn row = RowFunction(level);
  for (int r = 0; r < rows; ++r) {
    const std::ptrdiff_t offset = static_cast<std::ptrdiff_t>(r) * dim;
    row(x + offset, weight, out + offset, dim, eps);
  }
}

void RmsNorm(const float* x, const float* weight, float* out, int rows, int dim, float eps) {
  RmsNormAt(DetectSimdLevel(), x, weight, out, rows, dim, eps);
}

}  // namespace tide::engine
