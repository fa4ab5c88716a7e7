// Fast RoPE: inv_freq once per call, cos/sin once per token (shared by every head, taken in
// double exactly as the reference takes them), then the rotation of each head vectorised
// over the half-dims in double (products rounded, then subtracted, as the scalar reference
// does), so the results are bit-identical to RopeForwardReference / RopeBackwardReference.
// Tokens are split over the default thread pool.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "simd_exp.h"  // TIDE_SIMD_X86, <immintrin.h>
#include "tide/engine/kernels/rope.h"
#include "tide/engine/thread_pool.h"

namespace tide::engine {
namespace {

// Rotates one head v[0..2*half) by the angles whose cos / (signed) sin are cs / sn.
using HeadFn = void (*)(float*, const double*, const double*, int);

// Pairs i in [begin, half).
void HeadScalarFrom(float* v, const double* cs, const double* sn, int half, int begin) {
  for (int i = begin; i < half; ++i) {
    const double a = v[i], b = v[i + half];
    const double ac = a * cs[i], bs = b * sn[i], bc = b * cs[i], as = a * sn[i];
    v[i] = static_cast<float>(ac - bs);
    v[i + half] = static_cast<float>(bc + as);
  }
}

void HeadScalar(float* v, const double* cs, const double* sn, int half) { HeadScalarFrom(v, cs, sn, half, 0); }

#if TIDE_SIMD_X86

__attribute__((target("avx2,fma"))) void HeadAvx2(float* v, const double* cs, const double* sn, int half) {
  int i = 0;
  for (; i + 4 <= half; i += 4) {
    const __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(v + i));
    const __m256d b = _mm256_cvtps_pd(_mm_loadu_ps(v + i + half));
    const __m256d c = _mm256_loadu_pd(cs + i), s = _mm256_loadu_pd(sn + i);
    const __m256d lo = _mm256_sub_pd(_mm256_mul_pd(a, c), _mm256_mul_pd(b, s));
    const __m256d hi = _mm256_add_pd(_mm256_mul_pd(b, c), _mm256_mul_pd(a, s));
    _mm_storeu_ps(v + i, _mm256_cvtpd_ps(lo));
    _mm_storeu_ps(v + i + half, _mm256_cvtpd_ps(hi));
  }
  HeadScalarFrom(v, cs, sn, half, i);
}

// The masked forms with explicit sources stand in for the unmasked conversions, whose
// GCC 12 expansions trip -Wmaybe-uninitialized (see simd_exp.h).
__attribute__((target("avx512f"))) void HeadAvx512(float* v, const double* cs, const double* sn, int half) {
  constexpr __mmask8 kAll = 0xFF;
  const __m512d zd = _mm512_setzero_pd();
  const __m256 zs = _mm256_setzero_ps();
  int i = 0;
  for (; i + 8 <= half; i += 8) {
    const __m512d a = _mm512_mask_cvtps_pd(zd, kAll, _mm256_loadu_ps(v + i));
    const __m512d b = _mm512_mask_cvtps_pd(zd, kAll, _mm256_loadu_ps(v + i + half));
    const __m512d c = _mm512_loadu_pd(cs + i), s = _mm512_loadu_pd(sn + i);
    const __m512d lo = _mm512_sub_pd(_mm512_mul_pd(a, c), _mm512_mul_pd(b, s));
    const __m512d hi = _mm512_add_pd(_mm512_mul_pd(b, c), _mm512_mul_pd(a, s));
    _mm256_storeu_ps(v + i, _mm512_mask_cvtpd_ps(zs, kAll, lo));
    _mm256_storeu_ps(v + i + half, _mm512_mask_cvtpd_ps(zs, kAll, hi));
  }
  HeadScalarFrom(v, cs, sn, half, i);
}

#endif

void Rotate(SimdLevel level, float* x, const int32_t* positions, int tokens, int heads, int head_dim, float theta,
            double sign) {
  if (tokens <= 0 || heads <= 0 || head_dim <= 0) return;
  if (!SimdLevelSupported(level)) level = DetectSimdLevel();
  HeadFn head = HeadScalar;
#if TIDE_SIMD_X86
  if (level == SimdLevel::kAvx512) head = HeadAvx512;
  if (level == SimdLevel::kAvx2) head = HeadAvx2;
#endif
  const int half = head_dim / 2;
  // RopeAngle(p, i) = inv_freq[i] * float(p) with inv_freq[i] = RopeAngle(1, i): the same
  // f32 product the reference forms.
  std::vector<float> inv_freq(half);
  for (int i = 0; i < half; ++i) inv_freq[i] = RopeAngle(1, i, head_dim, theta);
  const std::ptrdiff_t row = static_cast<std::ptrdiff_t>(heads) * head_dim;
  auto run = [&](int64_t begin, int64_t end) {
    std::vector<double> cs(half), sn(half);
    for (int64_t t = begin; t < end; ++t) {
      const float p = static_cast<float>(positions[t]);
      for (int i = 0; i < half; ++i) {
        const double a = inv_freq[i] * p;
        cs[i] = std::cos(a);
        sn[i] = sign * std::sin(a);
      }
      float* xr = x + t * row;
      for (int h = 0; h < heads; ++h) head(xr + static_cast<std::ptrdiff_t>(h) * head_dim, cs.data(), sn.data(), half);
    }
  };
  // Aim for chunks of at least ~16k floats of work.
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<std::ptrdiff_t>(row, 1));
  ThreadPool::Default().ParallelFor(tokens, grain, run);
}

}  // namespace

void RopeForwardAt(SimdLevel level, float* x, const int32_t* positions, int tokens, int heads, int head_dim,
                   float theta) {
  Rotate(level, x, positions, tokens, heads, head_dim, theta, 1.0);
}

void RopeBackwardAt(SimdLevel level, float* dx, const int32_t* positions, int tokens, int heads, int head_dim,
                    float theta) {
  Rotate(level, dx, positions, tokens, heads, head_dim, theta, -1.0);
}

void RopeForward(float* x, const int32_t* positions, int tokens, int heads, int head_dim, float theta) {
  RopeForwardAt(DetectSimdLevel(), x, positions, tokens, heads, head_dim, theta);
}

void RopeBackward(float* dx, const int32_t* positions, int tokens, int heads, int head_dim, float theta) {
  RopeBackwardAt(DetectSimdLevel(), dx, positions, tokens, heads, head_dim, theta);
}

}  // namespace tide::engine
