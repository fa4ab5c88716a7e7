// Fast causal GQA attention forward, flash-attention style: each task takes one query
// head and a block of kQueryBlock queries, walks the visible keys in blocks of kKeyBlock
// (the block's keys transposed once so scores vectorise over keys) and keeps an online
// softmax per query: running max m, running sum l and an unnormalised f32 accumulator
// that is rescaled by exp(m_old - m_new) whenever the max grows. Tasks run on
// ThreadPool::Default(). The micro-kernels (scores, exp + sum, P·V) come in AVX-512,
// AVX2 and scalar forms chosen at run time.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "attention_kernels.h"
#include "simd_exp.h"
#include "tide/engine/kernels/attention.h"
#include "tide/engine/thread_pool.h"

namespace tide::engine {
namespace {

using attention_internal::kKeyBlock;
using attention_internal::PvScalar;
using attention_internal::ScoresScalar;
#if TIDE_SIMD_X86
using attention_internal::PvAvx2;
using attention_internal::PvAvx512;
using attention_internal::ScoresAvx2;
using attention_internal::ScoresAvx512;
#endif

constexpr int kQueryBlock = 16;

struct MicroKernels {
  attention_internal::ScoresFn scores;  // see attention_kernels.h
  // s[j] = exp(s[j] - m) for j < n; returns the sum of those.
  float (*exp_sum)(float* s, int n, float m);
  attention_internal::PvFn pv;
  // max_{j<n} s[j], n >= 1.
  float (*max)(const float* s, int n);
};

float MaxScalar(const float* s, int n) {
  float m = s[0];
  for (int j = 1; j < n; ++j) m = std::max(m, s[j]);
  return m;
}

float ExpSumScalar(float* s, int n, float m) {
  float sum = 0.0f;
  for (int j = 0; j < n; ++j) {
    s[j] = std::exp(s[j] - m);
    sum += s[j];
  }
  return sum;
}

#if TIDE_SIMD_X86

__attribute__((target("avx2,fma"))) float ExpSumAvx2(float* s, int n, float m) {
  const __m256 vm = _mm256_set1_ps(m);
  __m256 acc = _mm256_setzero_ps();
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = simd::Exp256(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm));
    _mm256_storeu_ps(s + j, e);
    acc = _mm256_add_ps(acc, e);
  }
  return ExpSumScalar(s + j, n - j, m) + simd::Sum256(acc);
}

__attribute__((target("avx512f"))) float ExpSumAvx512(float* s, int n, float m) {
  const __m512 vm = _mm512_set1_ps(m);
  __m512 acc = _mm512_setzero_ps();
  for (int j = 0; j < n; j += 16) {
    const __mmask16 k = n - j >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - j)) - 1u);
    const __m512 e = simd::Exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + j), vm));
    _mm512_mask_storeu_ps(s + j, k, e);
    acc = _mm512_mask_add_ps(acc, k, acc, e);
  }
  return simd::Sum512(acc);
}

__attribute__((target("avx2,fma"))) float MaxAvx2(const float* s, int n) {
  if (n < 8) return MaxScalar(s, n);
  __m256 m = _mm256_loadu_ps(s);
  int j = 8;
  for (; j + 8 <= n; j += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(s + j));
  float r = simd::Max256(m);
  for (; j < n; ++j) r = std::max(r, s[j]);
  return r;
}

__attribute__((target("avx512f"))) float MaxAvx512(const float* s, int n) {
  __m512 m = _mm512_set1_ps(s[0]);
  for (int j = 0; j < n; j += 16) {
    const __mmask16 k = n - j >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - j)) - 1u);
    m = _mm512_mask_max_ps(m, k, m, _mm512_maskz_loadu_ps(k, s + j));
  }
  return simd::Max512(m);
}

#endif

MicroKernels Pick(SimdLevel level) {
  if (!SimdLevelSupported(level)) level = DetectSimdLevel();
#if TIDE_SIMD_X86
  if (level == SimdLevel::kAvx512) return {ScoresAvx512, ExpSumAvx512, PvAvx512, MaxAvx512};
  if (level == SimdLevel::kAvx2) return {ScoresAvx2, ExpSumAvx2, PvAvx2, MaxAvx2};
#endif
  return {ScoresScalar, ExpSumScalar, PvScalar, MaxScalar};
}

}  // namespace

void AttentionForwardAt(SimdLevel level, const AttentionShape& s, const float* q, const float* k, const float* v,
                        float* out, float* lse) {
  if (s.tokens <= 0 || s.heads <= 0 || s.head_dim <= 0 || s.kv_heads <= 0) return;
  const MicroKernels mk = Pick(level);
  const int d = s.head_dim;
  const int group = s.heads / s.kv_heads;
  const std::ptrdiff_t q_stride = static_cast<std::ptrdiff_t>(s.heads) * d;
  const std::ptrdiff_t kv_stride = static_cast<std::ptrdiff_t>(s.kv_heads) * d;
  const int q_blocks = (s.tokens + kQueryBlock - 1) / kQueryBlock;
  const int64_t tasks = static_cast<int64_t>(s.heads) * q_blocks;  // head-major: chunks mix short and long blocks
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();

  ThreadPool::Default().ParallelFor(tasks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> kt(static_cast<size_t>(kKeyBlock) * d, 0.0f);
    std::vector<float> sc(static_cast<size_t>(kQueryBlock) * kKeyBlock);
    std::vector<float> acc(static_cast<size_t>(kQueryBlock) * d);
    float m[kQueryBlock], l[kQueryBlock];
    for (int64_t task = begin; task < end; ++task) {
      const int h = static_cast<int>(task / q_blocks);
      const int t0 = static_cast<int>(task % q_blocks) * kQueryBlock;
      const int t1 = std::min(t0 + kQueryBlock, s.tokens);
      const int nq = t1 - t0;
      const std::ptrdiff_t kv_off = static_cast<std::ptrdiff_t>(h / group) * d;
      std::fill(acc.begin(), acc.end(), 0.0f);
      std::fill(m, m + kQueryBlock, kNegInf);
      std::fill(l, l + kQueryBlock, 0.0f);
      const int key_end = s.past + t1;  // the last query of the block sees keys < key_end
      for (int j0 = 0; j0 < key_end; j0 += kKeyBlock) {
        const int nkb = std::min(kKeyBlock, key_end - j0);
        for (int j = 0; j < nkb; ++j) {
          const float* src = k + (j0 + j) * kv_stride + kv_off;
          for (int i = 0; i < d; ++i) kt[static_cast<size_t>(i) * kKeyBlock + j] = src[i];
        }
        for (int r = 0; r < nq; ++r) {
          const int t = t0 + r;
          const int nk = std::min(nkb, s.past + t + 1 - j0);
          if (nk <= 0) continue;
          float* srow = sc.data() + static_cast<size_t>(r) * kKeyBlock;
          mk.scores(q + t * q_stride + static_cast<std::ptrdiff_t>(h) * d, kt.data(), d, s.scale, srow);
          const float m_new = std::max(m[r], mk.max(srow, nk));
          const float alpha = m[r] == kNegInf ? 0.0f : std::exp(m[r] - m_new);
          const float sum = mk.exp_sum(srow, nk, m_new);
          l[r] = l[r] * alpha + sum;
          mk.pv(acc.data() + static_cast<size_t>(r) * d, alpha, srow, v + j0 * kv_stride + kv_off, kv_stride, nk, d);
          m[r] = m_new;
        }
      }
      for (int r = 0; r < nq; ++r) {
        const int t = t0 + r;
        float* oh = out + t * q_stride + static_cast<std::ptrdiff_t>(h) * d;
        const float* a = acc.data() + static_cast<size_t>(r) * d;
        for (int i = 0; i < d; ++i) oh[i] = a[i] / l[r];
        if (lse != nullptr) lse[static_cast<std::ptrdiff_t>(t) * s.heads + h] = m[r] + std::log(l[r]);
      }
    }
  });
}

void AttentionForward(const AttentionShape& s, const float* q, const float* k, const float* v, float* out,
                      float* lse) {
  AttentionForwardAt(DetectSimdLevel(), s, q, k, v, out, lse);
}

}  // namespace tide::engine
