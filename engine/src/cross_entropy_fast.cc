// Fast token-weighted cross-entropy (cross_entropy.h): per row, the max, Σ exp(x − max)
// and then p − onehot, in f32 with a vectorised exp; rows split over the thread pool.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "cross_entropy_internal.h"
#include "simd_exp.h"
#include "tide/engine/kernels/cross_entropy.h"
#include "tide/engine/thread_pool.h"

namespace tide::engine {
namespace {

// Row kernels: the max of x, Σ exp(x − shift), and out = c · exp(x − shift) (the caller
// subtracts c at the target).
struct RowOps {
  float (*max)(const float* x, int n);
  float (*sum_exp)(const float* x, int n, float shift);
  void (*scaled_exp)(const float* x, int n, float shift, float c, float* out);
};

float MaxScalar(const float* x, int n) {
  float m = x[0];
  for (int i = 1; i < n; ++i) m = std::max(m, x[i]);
  return m;
}
float SumExpScalar(const float* x, int n, float shift) {
  float s = 0.f;
  for (int i = 0; i < n; ++i) s += std::exp(x[i] - shift);
  return s;
}
void ScaledExpScalar(const float* x, int n, float shift, float c, float* out) {
  for (int i = 0; i < n; ++i) out[i] = c * std::exp(x[i] - shift);
}

#if TIDE_SIMD_X86

__attribute__((target("avx2,fma"))) float MaxAvx2(const float* x, int n) {
  __m256 m = _mm256_set1_ps(x[0]);
  int i = 0;
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, m);
  float r = lanes[0];
  for (float v : lanes) r = std::max(r, v);
  for (; i < n; ++i) r = std::max(r, x[i]);
  return r;
}
__attribute__((target("avx2,fma"))) float SumExpAvx2(const float* x, int n, float shift) {
  const __m256 s = _mm256_set1_ps(shift);
  __m256 acc = _mm256_setzero_ps();
  int i = 0;
  for (; i + 8 <= n; i += 8) acc = _mm256_add_ps(acc, simd::Exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), s)));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  float r = 0.f;
  for (float v : lanes) r += v;
  return r + SumExpScalar(x + i, n - i, shift);
}
__attribute__((target("avx2,fma"))) void ScaledExpAvx2(const float* x, int n, float shift, float c, float* out) {
  const __m256 s = _mm256_set1_ps(shift), cv = _mm256_set1_ps(c);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, _mm256_mul_ps(cv, simd::Exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), s))));
  }
  ScaledExpScalar(x + i, n - i, shift, c, out + i);
}

__attribute__((target("avx512f"))) float MaxAvx512(const float* x, int n) {
  __m512 m = _mm512_set1_ps(x[0]);
  for (int i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << (n - i)) - 1u);
    m = _mm512_mask_max_ps(m, k, m, _mm512_maskz_loadu_ps(k, x + i));
  }
  alignas(64) float lanes[16];  // (GCC 12 warns falsely inside _mm512_reduce_max_ps)
  _mm512_store_ps(lanes, m);
  return *std::max_element(lanes, lanes + 16);
}
__attribute__((target("avx512f"))) float SumExpAvx512(const float* x, int n, float shift) {
  const __m512 s = _mm512_set1_ps(shift);
  __m512 acc = _mm512_setzero_ps();
  for (int i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m512 e = simd::Exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), s));
    acc = _mm512_mask_add_ps(acc, k, acc, e);
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, acc);
  float r = 0.f;
  for (float v : lanes) r += v;
  return r;
}
__attribute__((target("avx512f"))) void ScaledExpAvx512(const float* x, int n, float shift, float c, float* out) {
  const __m512 s = _mm512_set1_ps(shift), cv = _mm512_set1_ps(c);
  for (int i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m512 e = simd::Exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), s));
    _mm512_mask_storeu_ps(out + i, k, _mm512_mul_ps(cv, e));
  }
}

#endif

RowOps Ops(SimdLevel level) {
  if (!SimdLevelSupported(level)) level = DetectSimdLevel();
#if TIDE_SIMD_X86
  if (level == SimdLevel::kAvx512) return {MaxAvx512, SumExpAvx512, ScaledExpAvx512};
  if (level == SimdLevel::kAvx2) return {MaxAvx2, SumExpAvx2, ScaledExpAvx2};
#endif
  return {MaxScalar, SumExpScalar, ScaledExpScalar};
}

}  // namespace

Result<float> CrossEntropyAt(SimdLevel level, const float* logits, const int32_t* targets, const float* weights,
                             int tokens, int vocab, float normalizer, float* token_logprobs, float* dlogits) {
  TIDE_ASSIGN_OR_RETURN(const double norm,
                        cross_entropy_internal::Normaliser(targets, weights, tokens, vocab, normalizer));
  const double inv_norm = norm > 0.0 ? 1.0 / norm : 0.0;
  const RowOps ops = Ops(level);
  std::vector<double> row_loss(static_cast<size_t>(tokens));
  // About 3 passes over a row of `vocab` floats: rows per chunk so a chunk is worth a thread.
  const int64_t grain = std::max<int64_t>(1, (1 << 16) / vocab);
  ThreadPool::Default().ParallelFor(tokens, grain, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const std::ptrdiff_t o = static_cast<std::ptrdiff_t>(t) * vocab;
      const float* row = logits + o;
      const float m = ops.max(row, vocab);
      const double lse = m + std::log(static_cast<double>(ops.sum_exp(row, vocab, m)));
      const int32_t target = targets[t];
      const double logp = static_cast<double>(row[target]) - lse;
      if (token_logprobs != nullptr) token_logprobs[t] = static_cast<float>(logp);
      const double w = weights != nullptr ? weights[t] : 1.0;
      row_loss[t] = -w * logp;
      if (dlogits == nullptr) continue;
      const double c = w * inv_norm;
      float* drow = dlogits + o;
      if (c == 0.0) {
        std::fill(drow, drow + vocab, 0.f);
        continue;
      }
      const float target_logit = row[target];  // read before an aliased row is overwritten
      ops.scaled_exp(row, vocab, static_cast<float>(lse), static_cast<float>(c), drow);
      drow[target] = static_cast<float>(c * (std::exp(static_cast<double>(target_logit) - lse) - 1.0));
    }
  });
  double loss = 0.0;
  for (double l : row_loss) loss += l;
  return static_cast<float>(loss * inv_norm);
}

Result<float> CrossEntropy(const float* logits, const int32_t* targets, const float* weights, int tokens, int vocab,
                           float normalizer, float* token_logprobs, float* dlogits) {
  return CrossEntropyAt(DetectSimdLevel(), logits, targets, weights, tokens, vocab, normalizer, token_logprobs,
                        dlogits);
}

}  // namespace tide::engine
