// Fast causal GQA attention forward, flash-attention style: each task takes one query
// head (or every head of one GQA group) and a block of kQueryBlock queries, walks the
// visible keys in blocks of kKeyBlock (the block's keys transposed once so scores
// vectorise over keys) and keeps an online softmax per query: running max m, running sum
// l and an unnormalised f32 accumulator that is rescaled by exp(m_old - m_new) whenever
// the max grows. Tasks run on ThreadPool::Default(). The micro-kernels (scores, exp + sum,
// P·V) come in AVX-512, AVX2 and scalar forms chosen at run time. The tile loop itself is
// ForwardTileHeads (attention_kernels.h), shared with the paged forward
// (paged_attention.cc); a grouped task shares each transposed K tile among its heads.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "attention_kernels.h"
#include "simd_exp.h"
#include "tide/engine/kernels/attention.h"
#include "tide/engine/thread_pool.h"

namespace tide::engine {
namespace {

using attention_internal::ForwardKernels;
using attention_internal::PvRowsScalar;
using attention_internal::ScoresScalar;
using attention_internal::TransposeScalar;
#if TIDE_SIMD_X86
using attention_internal::PvRowsAvx2;
using attention_internal::PvRowsAvx512;
using attention_internal::ScoresAvx2;
using attention_internal::ScoresAvx512;
using attention_internal::TransposeAvx2;
using attention_internal::TransposeAvx512;
#endif

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

}  // namespace

namespace attention_internal {

ForwardKernels PickForwardKernels(SimdLevel level) {
  if (!SimdLevelSupported(level)) level = DetectSimdLevel();
#if TIDE_SIMD_X86
  if (level == SimdLevel::kAvx512) {
    return {TransposeAvx512, ScoresAvx512, ExpSumAvx512, PvRowsAvx512, MaxAvx512, Scores3Avx512, Pv3RowsAvx512};
  }
  if (level == SimdLevel::kAvx2) return {TransposeAvx2, ScoresAvx2, ExpSumAvx2, PvRowsAvx2, MaxAvx2, nullptr, nullptr};
#endif
  return {TransposeScalar, ScoresScalar, ExpSumScalar, PvRowsScalar, MaxScalar, nullptr, nullptr};
}

}  // namespace attention_internal

void AttentionForwardAt(SimdLevel level, const AttentionShape& s, const float* q, const float* k, const float* v,
                        float* out, float* lse) {
  using attention_internal::ContiguousRows;
  using attention_internal::kQueryBlock;
  if (s.tokens <= 0 || s.heads <= 0 || s.head_dim <= 0 || s.kv_heads <= 0) return;
  const ForwardKernels mk = attention_internal::PickForwardKernels(level);
  const int d = s.head_dim;
  const int group = s.heads / s.kv_heads;
  const std::ptrdiff_t q_stride = static_cast<std::ptrdiff_t>(s.heads) * d;
  const std::ptrdiff_t kv_stride = static_cast<std::ptrdiff_t>(s.kv_heads) * d;
  const int q_blocks = (s.tokens + kQueryBlock - 1) / kQueryBlock;
  ThreadPool& pool = ThreadPool::Default();
  // A task walks `tile_heads` heads of one kv head together (each K tile transposed once
  // for all of them): the whole GQA group when the pool's near-equal contiguous chunks then
  // still split evenly (whole kv heads per chunk, so equal work), else one head per task.
  // Either way each head's arithmetic is the same (ForwardTileHeads), so the choice never
  // changes the result.
  const int tile_heads = group > 1 && s.heads % s.kv_heads == 0 && s.kv_heads % pool.size() == 0 ? group : 1;
  const int units = s.heads / tile_heads;
  const int64_t tasks = static_cast<int64_t>(units) * q_blocks;  // head-major: chunks mix short and long blocks

  pool.ParallelFor(tasks, 1, [&](int64_t begin, int64_t end) {
    attention_internal::ForwardScratch scratch(d, tile_heads);
    for (int64_t task = begin; task < end; ++task) {
      const int h = static_cast<int>(task / q_blocks) * tile_heads;  // first head of the task
      const int t0 = static_cast<int>(task % q_blocks) * kQueryBlock;
      const int t1 = std::min(t0 + kQueryBlock, s.tokens);
      const std::ptrdiff_t kv_off = static_cast<std::ptrdiff_t>(h / group) * d;
      const std::ptrdiff_t h_off = static_cast<std::ptrdiff_t>(h) * d;
      attention_internal::ForwardTileHeads(mk, ContiguousRows{k + kv_off, kv_stride},
                                           ContiguousRows{v + kv_off, kv_stride}, q + h_off, out + h_off, q_stride,
                                           d, lse == nullptr ? nullptr : lse + h, s.heads, 1, tile_heads, s.past, t0,
                                           t1, d, s.scale, scratch);
    }
  });
}

void AttentionForward(const AttentionShape& s, const float* q, const float* k, const float* v, float* out,
                      float* lse) {
  AttentionForwardAt(DetectSimdLevel(), s, q, k, v, out, lse);
}

}  // namespace tide::engine
