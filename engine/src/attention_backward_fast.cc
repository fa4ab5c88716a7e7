// Fast causal GQA attention backward, flash-attention-2 style with f32 accumulation. The
// probabilities are recomputed from q, k and lse rather than stored: with
//   p = exp(scale q·k - lse),  dp = dout·v,  D = dout·out (once per query),
//   ds = p (dp - D) scale,
// the gradients are dq = Σ_keys ds k, dk = Σ_queries ds q and dv = Σ_queries p dout, where
// a key's sums run over every query head of its group. Two passes on ThreadPool::Default(),
// each over work items that own disjoint output rows, so no two threads write one row:
//   1. dq (and D) per (query head, block of kQueryBlock queries), walking the visible keys in
//      blocks of kKeyBlock, transposed so scores and dp vectorise over keys;
//   2. dk, dv per (kv head, block of kKeyBlock keys), walking each query head of the group
//      and each query that sees the block, kQueryChunk at a time; p and ds are stored
//      transposed so each key row's update is one P·V micro-kernel over the chunk's queries.
// Causal masking makes items uneven: participants claim them one at a time, costliest
// first. The micro-kernels come in AVX-512, AVX2 and scalar forms chosen at run time.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "attention_kernels.h"
#include "simd_exp.h"
#include "tide/engine/kernels/attention.h"
#include "tide/engine/thread_pool.h"

namespace tide::engine {
namespace {

using attention_internal::kKeyBlock;

constexpr int kQueryBlock = 16;  // pass 1: queries per work item
constexpr int kQueryChunk = 32;  // pass 2: queries per P·V update of a key row

// Over every j < kKeyBlock: p = exp(s[j] - lse) for j < n and 0 beyond; s[j] becomes p and
// dp[j] becomes ds = p (dp[j] - big_d) scale (0 beyond n).
using GradFn = void (*)(float* s, float* dp, int n, float lse, float big_d, float scale);

struct MicroKernels {
  attention_internal::ScoresFn scores;
  attention_internal::PvFn pv;
  GradFn grad;
};

void GradScalar(float* s, float* dp, int n, float lse, float big_d, float scale) {
  for (int j = 0; j < kKeyBlock; ++j) {
    const float p = j < n ? std::exp(s[j] - lse) : 0.0f;
    s[j] = p;
    dp[j] = j < n ? p * (dp[j] - big_d) * scale : 0.0f;
  }
}

#if TIDE_SIMD_X86

__attribute__((target("avx2,fma"))) void GradAvx2(float* s, float* dp, int n, float lse, float big_d, float scale) {
  const __m256 vl = _mm256_set1_ps(lse), vd = _mm256_set1_ps(big_d), vs = _mm256_set1_ps(scale);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int j = 0; j < kKeyBlock; j += 8) {
    const __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n - j), lane));
    const __m256 p = _mm256_and_ps(keep, simd::Exp256(_mm256_sub_ps(_mm256_loadu_ps(s + j), vl)));
    const __m256 ds = _mm256_mul_ps(_mm256_mul_ps(p, _mm256_sub_ps(_mm256_loadu_ps(dp + j), vd)), vs);
    _mm256_storeu_ps(s + j, p);
    _mm256_storeu_ps(dp + j, _mm256_and_ps(keep, ds));
  }
}

__attribute__((target("avx512f"))) void GradAvx512(float* s, float* dp, int n, float lse, float big_d, float scale) {
  const __m512 vl = _mm512_set1_ps(lse), vd = _mm512_set1_ps(big_d), vs = _mm512_set1_ps(scale);
  for (int j = 0; j < kKeyBlock; j += 16) {
    const int left = n - j;
    const __mmask16 k = left >= 16 ? static_cast<__mmask16>(0xFFFF)
                        : left <= 0 ? static_cast<__mmask16>(0)
                                    : static_cast<__mmask16>((1u << left) - 1u);
    const __m512 p = _mm512_maskz_mov_ps(k, simd::Exp512(_mm512_sub_ps(_mm512_loadu_ps(s + j), vl)));
    const __m512 ds = _mm512_maskz_mul_ps(k, _mm512_mul_ps(p, _mm512_sub_ps(_mm512_loadu_ps(dp + j), vd)), vs);
    _mm512_storeu_ps(s + j, p);
    _mm512_storeu_ps(dp + j, ds);
  }
}

#endif

MicroKernels Pick(SimdLevel level) {
  if (!SimdLevelSupported(level)) level = DetectSimdLevel();
  namespace ai = attention_internal;
#if TIDE_SIMD_X86
  if (level == SimdLevel::kAvx512) return {ai::ScoresAvx512, ai::PvAvx512, GradAvx512};
  if (level == SimdLevel::kAvx2) return {ai::ScoresAvx2, ai::PvAvx2, GradAvx2};
#endif
  return {ai::ScoresScalar, ai::PvScalar, GradScalar};
}

// Calls body(task) for every task in [0, tasks) on ThreadPool::Default(): each participant
// claims the next unclaimed task, so uneven tasks balance whatever the pool size. Scratch is
// built once per participant by make_scratch() and handed to body.
template <class MakeScratch, class Body>
void ForEachTask(int64_t tasks, const MakeScratch& make_scratch, const Body& body) {
  std::atomic<int64_t> next{0};
  ThreadPool& pool = ThreadPool::Default();
  pool.ParallelFor(std::min<int64_t>(tasks, pool.size()), 1, [&](int64_t, int64_t) {
    auto scratch = make_scratch();
    for (int64_t task = next.fetch_add(1, std::memory_order_relaxed); task < tasks;
         task = next.fetch_add(1, std::memory_order_relaxed)) {
      body(task, scratch);
    }
  });
}

// Copies n rows of d floats, stride apart, into dst[i * kKeyBlock + j] (the transpose).
void Transpose(const float* src, std::ptrdiff_t stride, int n, int d, float* dst) {
  for (int j = 0; j < n; ++j) {
    const float* row = src + j * stride;
    for (int i = 0; i < d; ++i) dst[static_cast<size_t>(i) * kKeyBlock + j] = row[i];
  }
}

struct Scratch {
  std::vector<float> kt, vt;     // [d][kKeyBlock]: the key block's k and v, transposed
  std::vector<float> sc, dp;     // [kKeyBlock]: one query's scores then p, dp then ds
  std::vector<float> acc, acc2;  // pass 1: dq rows; pass 2: dk and dv rows
  std::vector<float> pt, dst;    // pass 2: [kKeyBlock][kQueryChunk] p and ds, transposed
};

}  // namespace

void AttentionBackwardAt(SimdLevel level, const AttentionShape& s, const float* q, const float* k, const float* v,
                         const float* out, const float* lse, const float* dout, float* dq, float* dk, float* dv) {
  if (s.tokens <= 0 || s.heads <= 0 || s.head_dim <= 0 || s.kv_heads <= 0) return;
  const MicroKernels mk = Pick(level);
  const int d = s.head_dim;
  const int group = s.heads / s.kv_heads;
  const int total = s.past + s.tokens;
  const std::ptrdiff_t q_stride = static_cast<std::ptrdiff_t>(s.heads) * d;
  const std::ptrdiff_t kv_stride = static_cast<std::ptrdiff_t>(s.kv_heads) * d;
  const size_t dk_size = static_cast<size_t>(kKeyBlock) * d;
  std::vector<float> big_d(static_cast<size_t>(s.tokens) * s.heads);  // D = dout·out per (t, h)

  // Pass 1: D and dq. Item = (query block, head), the last (costliest) query blocks first.
  const int q_blocks = (s.tokens + kQueryBlock - 1) / kQueryBlock;
  ForEachTask(
      static_cast<int64_t>(q_blocks) * s.heads,
      [&] {
        Scratch w;
        w.kt.assign(dk_size, 0.0f);
        w.vt.assign(dk_size, 0.0f);
        w.sc.resize(kKeyBlock);
        w.dp.resize(kKeyBlock);
        w.acc.resize(static_cast<size_t>(kQueryBlock) * d);
        return w;
      },
      [&](int64_t task, Scratch& w) {
        const int h = static_cast<int>(task % s.heads);
        const int t0 = (q_blocks - 1 - static_cast<int>(task / s.heads)) * kQueryBlock;
        const int t1 = std::min(t0 + kQueryBlock, s.tokens);
        const std::ptrdiff_t kv_off = static_cast<std::ptrdiff_t>(h / group) * d;
        for (int t = t0; t < t1; ++t) {
          const std::ptrdiff_t qo = t * q_stride + static_cast<std::ptrdiff_t>(h) * d;
          double dot = 0.0;
          for (int i = 0; i < d; ++i) dot += static_cast<double>(dout[qo + i]) * out[qo + i];
          big_d[static_cast<size_t>(t) * s.heads + h] = static_cast<float>(dot);
        }
        std::fill(w.acc.begin(), w.acc.end(), 0.0f);
        const int key_end = s.past + t1;  // the block's last query sees keys < key_end
        for (int j0 = 0; j0 < key_end; j0 += kKeyBlock) {
          const int nkb = std::min(kKeyBlock, key_end - j0);
          Transpose(k + j0 * kv_stride + kv_off, kv_stride, nkb, d, w.kt.data());
          Transpose(v + j0 * kv_stride + kv_off, kv_stride, nkb, d, w.vt.data());
          for (int t = t0; t < t1; ++t) {
            const int nk = std::min(nkb, s.past + t + 1 - j0);
            if (nk <= 0) continue;
            const std::ptrdiff_t qo = t * q_stride + static_cast<std::ptrdiff_t>(h) * d;
            const size_t th = static_cast<size_t>(t) * s.heads + h;
            mk.scores(q + qo, w.kt.data(), d, s.scale, w.sc.data());
            mk.scores(dout + qo, w.vt.data(), d, 1.0f, w.dp.data());
            mk.grad(w.sc.data(), w.dp.data(), nk, lse[th], big_d[th], s.scale);
            mk.pv(w.acc.data() + static_cast<size_t>(t - t0) * d, 1.0f, w.dp.data(), k + j0 * kv_stride + kv_off,
                  kv_stride, nk, d);
          }
        }
        for (int t = t0; t < t1; ++t) {
          std::copy_n(w.acc.data() + static_cast<size_t>(t - t0) * d, d,
                      dq + t * q_stride + static_cast<std::ptrdiff_t>(h) * d);
        }
      });

  // Pass 2: dk and dv. Item = (key block, kv head), the first (costliest) key blocks first.
  const int k_blocks = (total + kKeyBlock - 1) / kKeyBlock;
  ForEachTask(
      static_cast<int64_t>(k_blocks) * s.kv_heads,
      [&] {
        Scratch w;
        w.kt.assign(dk_size, 0.0f);
        w.vt.assign(dk_size, 0.0f);
        w.sc.resize(kKeyBlock);
        w.dp.resize(kKeyBlock);
        w.acc.resize(dk_size);
        w.acc2.resize(dk_size);
        w.pt.resize(static_cast<size_t>(kKeyBlock) * kQueryChunk);
        w.dst.resize(w.pt.size());
        return w;
      },
      [&](int64_t task, Scratch& w) {
        const int kh = static_cast<int>(task % s.kv_heads);
        const int j0 = static_cast<int>(task / s.kv_heads) * kKeyBlock;
        const int nkb = std::min(kKeyBlock, total - j0);
        const std::ptrdiff_t kv_off = static_cast<std::ptrdiff_t>(kh) * d;
        Transpose(k + j0 * kv_stride + kv_off, kv_stride, nkb, d, w.kt.data());
        Transpose(v + j0 * kv_stride + kv_off, kv_stride, nkb, d, w.vt.data());
        float* dk_acc = w.acc.data();
        float* dv_acc = w.acc2.data();
        std::fill(dk_acc, dk_acc + static_cast<size_t>(nkb) * d, 0.0f);
        std::fill(dv_acc, dv_acc + static_cast<size_t>(nkb) * d, 0.0f);
        const int t_begin = std::max(0, j0 - s.past);  // the first query that sees key j0
        for (int h = kh * group; h < (kh + 1) * group; ++h) {
          const std::ptrdiff_t h_off = static_cast<std::ptrdiff_t>(h) * d;
          for (int t0 = t_begin; t0 < s.tokens; t0 += kQueryChunk) {
            const int nq = std::min(kQueryChunk, s.tokens - t0);
            for (int r = 0; r < nq; ++r) {
              const int t = t0 + r;
              const std::ptrdiff_t qo = t * q_stride + h_off;
              const size_t th = static_cast<size_t>(t) * s.heads + h;
              mk.scores(q + qo, w.kt.data(), d, s.scale, w.sc.data());
              mk.scores(dout + qo, w.vt.data(), d, 1.0f, w.dp.data());
              mk.grad(w.sc.data(), w.dp.data(), std::min(nkb, s.past + t + 1 - j0), lse[th], big_d[th], s.scale);
              for (int j = 0; j < nkb; ++j) {
                w.pt[static_cast<size_t>(j) * kQueryChunk + r] = w.sc[j];
                w.dst[static_cast<size_t>(j) * kQueryChunk + r] = w.dp[j];
              }
            }
            // Keys past the chunk's last query are masked for the whole chunk.
            const int nj = std::min(nkb, s.past + t0 + nq - j0);
            const float* dout_rows = dout + t0 * q_stride + h_off;
            const float* q_rows = q + t0 * q_stride + h_off;
            for (int j = 0; j < nj; ++j) {
              const size_t jo = static_cast<size_t>(j) * kQueryChunk;
              mk.pv(dv_acc + static_cast<size_t>(j) * d, 1.0f, w.pt.data() + jo, dout_rows, q_stride, nq, d);
              mk.pv(dk_acc + static_cast<size_t>(j) * d, 1.0f, w.dst.data() + jo, q_rows, q_stride, nq, d);
            }
          }
        }
        for (int j = 0; j < nkb; ++j) {
          const std::ptrdiff_t ko = (j0 + j) * kv_stride + kv_off;
          std::copy_n(dk_acc + static_cast<size_t>(j) * d, d, dk + ko);
          std::copy_n(dv_acc + static_cast<size_t>(j) * d, d, dv + ko);
        }
      });
}

void AttentionBackward(const AttentionShape& s, const float* q, const float* k, const float* v, const float* out,
                       const float* lse, const float* dout, float* dq, float* dk, float* dv) {
  AttentionBackwardAt(DetectSimdLevel(), s, q, k, v, out, lse, dout, dq, dk, dv);
}

}  // namespace tide::engine
