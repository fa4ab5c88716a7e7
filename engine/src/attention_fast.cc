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

#include "simd_exp.h"
#include "tide/engine/kernels/attention.h"
#include "tide/engine/thread_pool.h"

namespace tide::engine {
namespace {

constexpr int kQueryBlock = 16;
constexpr int kKeyBlock = 64;

struct MicroKernels {
  // s[j] = scale * Σ_i q[i] kt[i * kKeyBlock + j] for every j < kKeyBlock.
  void (*scores)(const float* q, const float* kt, int d, float scale, float* s);
  // s[j] = exp(s[j] - m) for j < n; returns the sum of those.
  float (*exp_sum)(float* s, int n, float m);
  // acc[i] = alpha * acc[i] + Σ_{j<n} p[j] v[j * stride + i] for i < d.
  void (*pv)(float* acc, float alpha, const float* p, const float* v, std::ptrdiff_t stride, int n, int d);
  // max_{j<n} s[j], n >= 1.
  float (*max)(const float* s, int n);
};

float MaxScalar(const float* s, int n) {
  float m = s[0];
  for (int j = 1; j < n; ++j) m = std::max(m, s[j]);
  return m;
}

void ScoresScalar(const float* q, const float* kt, int d, float scale, float* s) {
  for (int j = 0; j < kKeyBlock; ++j) s[j] = 0.0f;
  for (int i = 0; i < d; ++i) {
    const float qi = q[i];
    const float* row = kt + static_cast<std::ptrdiff_t>(i) * kKeyBlock;
    for (int j = 0; j < kKeyBlock; ++j) s[j] += qi * row[j];
  }
  for (int j = 0; j < kKeyBlock; ++j) s[j] *= scale;
}

float ExpSumScalar(float* s, int n, float m) {
  float sum = 0.0f;
  for (int j = 0; j < n; ++j) {
    s[j] = std::exp(s[j] - m);
    sum += s[j];
  }
  return sum;
}

void PvScalar(float* acc, float alpha, const float* p, const float* v, std::ptrdiff_t stride, int n, int d) {
  for (int i = 0; i < d; ++i) acc[i] *= alpha;
  for (int j = 0; j < n; ++j) {
    const float pj = p[j];
    const float* row = v + j * stride;
    for (int i = 0; i < d; ++i) acc[i] += pj * row[i];
  }
}

#if TIDE_SIMD_X86

__attribute__((target("avx2,fma"))) void ScoresAvx2(const float* q, const float* kt, int d, float scale, float* s) {
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

__attribute__((target("avx2,fma"))) void PvAvx2(float* acc, float alpha, const float* p, const float* v,
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

__attribute__((target("avx512f"))) void ScoresAvx512(const float* q, const float* kt, int d, float scale,
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

__attribute__((target("avx512f"))) void PvAvx512(float* acc, float alpha, const float* p, const float* v,
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
