// Internal: the vectorised micro-kernels shared by the fast attention forward
// (attention_fast.cc, paged_attention.cc) and backward (attention_backward_fast.cc), in
// scalar, AVX2 and AVX-512 forms, and the forward's per-(kv head group, query block) tile
// loop (ForwardTileHeads / ForwardTile), shared by the contiguous and the paged forward. A block of kKeyBlock keys
// is held transposed ([d][kKeyBlock]) so scores vectorise over keys. The SIMD forms carry
// their own target attributes: call them only after checking the CPU supports that level.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "simd_exp.h"
#include "tide/engine/kernels/cpu_features.h"

namespace tide::engine::attention_internal {

inline constexpr int kKeyBlock = 64;

// s[j] = scale * sum_i q[i] kt[i * kKeyBlock + j] for every j < kKeyBlock.
using ScoresFn = void (*)(const float* q, const float* kt, int d, float scale, float* s);
// acc[i] = alpha * acc[i] + sum_{j<n} p[j] v[j * stride + i] for i < d.
using PvFn = void (*)(float* acc, float alpha, const float* p, const float* v, std::ptrdiff_t stride, int n, int d);
// The same with row j of v at rows[j] (the forward: rows may lie anywhere, paged V).
using PvRowsFn = void (*)(float* acc, float alpha, const float* p, const float* const* rows, int n, int d);

// Row addressing for the P·V kernels, which are written once over `at(j)` = row j.
struct StridedRows {
  const float* v;
  std::ptrdiff_t stride;
  const float* operator()(int j) const { return v + j * stride; }
};
struct RowPointers {
  const float* const* rows;
  const float* operator()(int j) const { return rows[j]; }
};

// kt[i * kKeyBlock + j] = rows[j][i] for j < n <= kKeyBlock, i < d (rows may lie anywhere:
// paged K). The SIMD forms write whole groups of 16 / 8 columns: kt columns n .. (n rounded
// up) get copies of row n - 1, which callers never read.
using TransposeFn = void (*)(const float* const* rows, int n, int d, float* kt);

inline void TransposeScalar(const float* const* rows, int n, int d, float* kt) {
  for (int j = 0; j < n; ++j) {
    const float* r = rows[j];
    for (int i = 0; i < d; ++i) kt[static_cast<std::ptrdiff_t>(i) * kKeyBlock + j] = r[i];
  }
}

inline void ScoresScalar(const float* q, const float* kt, int d, float scale, float* s) {
  for (int j = 0; j < kKeyBlock; ++j) s[j] = 0.0f;
  for (int i = 0; i < d; ++i) {
    const float qi = q[i];
    const float* row = kt + static_cast<std::ptrdiff_t>(i) * kKeyBlock;
    for (int j = 0; j < kKeyBlock; ++j) s[j] += qi * row[j];
  }
  for (int j = 0; j < kKeyBlock; ++j) s[j] *= scale;
}

template <class At>
inline void PvScalarAt(float* acc, float alpha, const float* p, At at, int n, int d) {
  for (int i = 0; i < d; ++i) acc[i] *= alpha;
  for (int j = 0; j < n; ++j) {
    const float pj = p[j];
    const float* row = at(j);
    for (int i = 0; i < d; ++i) acc[i] += pj * row[i];
  }
}
inline void PvScalar(float* acc, float alpha, const float* p, const float* v, std::ptrdiff_t stride, int n, int d) {
  PvScalarAt(acc, alpha, p, StridedRows{v, stride}, n, d);
}
inline void PvRowsScalar(float* acc, float alpha, const float* p, const float* const* rows, int n, int d) {
  PvScalarAt(acc, alpha, p, RowPointers{rows}, n, d);
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

template <class At>
__attribute__((target("avx2,fma"))) inline void PvAvx2At(float* acc, float alpha, const float* p, At at, int n, int d) {
  const __m256 va = _mm256_set1_ps(alpha);
  int i = 0;
  for (; i + 8 <= d; i += 8) {
    __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(acc + i), va), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int j = 0;
    for (; j + 4 <= n; j += 4) {
      a0 = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(at(j) + i), a0);
      a1 = _mm256_fmadd_ps(_mm256_set1_ps(p[j + 1]), _mm256_loadu_ps(at(j + 1) + i), a1);
      a2 = _mm256_fmadd_ps(_mm256_set1_ps(p[j + 2]), _mm256_loadu_ps(at(j + 2) + i), a2);
      a3 = _mm256_fmadd_ps(_mm256_set1_ps(p[j + 3]), _mm256_loadu_ps(at(j + 3) + i), a3);
    }
    for (; j < n; ++j) a0 = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(at(j) + i), a0);
    _mm256_storeu_ps(acc + i, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  }
  if (i < d) PvScalarAt(acc + i, alpha, p, [&](int j) { return at(j) + i; }, n, d - i);
}
__attribute__((target("avx2,fma"))) inline void PvAvx2(float* acc, float alpha, const float* p, const float* v,
                                                       std::ptrdiff_t stride, int n, int d) {
  PvAvx2At(acc, alpha, p, StridedRows{v, stride}, n, d);
}
__attribute__((target("avx2,fma"))) inline void PvRowsAvx2(float* acc, float alpha, const float* p,
                                                           const float* const* rows, int n, int d) {
  PvAvx2At(acc, alpha, p, RowPointers{rows}, n, d);
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

template <class At>
__attribute__((target("avx512f"))) inline void PvAvx512At(float* acc, float alpha, const float* p, At at, int n,
                                                          int d) {
  const __m512 va = _mm512_set1_ps(alpha);
  for (int i = 0; i < d; i += 16) {
    const __mmask16 k = d - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (d - i)) - 1u);
    __m512 a0 = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, acc + i), va), a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    int j = 0;
    for (; j + 4 <= n; j += 4) {
      a0 = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), _mm512_maskz_loadu_ps(k, at(j) + i), a0);
      a1 = _mm512_fmadd_ps(_mm512_set1_ps(p[j + 1]), _mm512_maskz_loadu_ps(k, at(j + 1) + i), a1);
      a2 = _mm512_fmadd_ps(_mm512_set1_ps(p[j + 2]), _mm512_maskz_loadu_ps(k, at(j + 2) + i), a2);
      a3 = _mm512_fmadd_ps(_mm512_set1_ps(p[j + 3]), _mm512_maskz_loadu_ps(k, at(j + 3) + i), a3);
    }
    for (; j < n; ++j) a0 = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), _mm512_maskz_loadu_ps(k, at(j) + i), a0);
    _mm512_mask_storeu_ps(acc + i, k, _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  }
}
__attribute__((target("avx512f"))) inline void PvAvx512(float* acc, float alpha, const float* p, const float* v,
                                                        std::ptrdiff_t stride, int n, int d) {
  PvAvx512At(acc, alpha, p, StridedRows{v, stride}, n, d);
}
__attribute__((target("avx512f"))) inline void PvRowsAvx512(float* acc, float alpha, const float* p,
                                                            const float* const* rows, int n, int d) {
  PvAvx512At(acc, alpha, p, RowPointers{rows}, n, d);
}

// Three heads of one GQA group against the same key tile: each head's scores are exactly
// ScoresAvx512's (the same FMAs in the same order), but every kt load serves all three.
__attribute__((target("avx512f"))) inline void Scores3Avx512(const float* const* q, const float* kt, int d,
                                                             float scale, float* s) {
  __m512 a[3][kKeyBlock / 16], b[3][kKeyBlock / 16];
  for (int h = 0; h < 3; ++h) {
    for (int c = 0; c < kKeyBlock / 16; ++c) a[h][c] = b[h][c] = _mm512_setzero_ps();
  }
  int i = 0;
  for (; i + 2 <= d; i += 2) {
    const float* r0 = kt + static_cast<std::ptrdiff_t>(i) * kKeyBlock;
    const float* r1 = r0 + kKeyBlock;
    for (int c = 0; c < kKeyBlock / 16; ++c) {
      const __m512 k0 = _mm512_loadu_ps(r0 + 16 * c), k1 = _mm512_loadu_ps(r1 + 16 * c);
      for (int h = 0; h < 3; ++h) {
        a[h][c] = _mm512_fmadd_ps(_mm512_set1_ps(q[h][i]), k0, a[h][c]);
        b[h][c] = _mm512_fmadd_ps(_mm512_set1_ps(q[h][i + 1]), k1, b[h][c]);
      }
    }
  }
  if (i < d) {
    const float* r0 = kt + static_cast<std::ptrdiff_t>(i) * kKeyBlock;
    for (int c = 0; c < kKeyBlock / 16; ++c) {
      const __m512 k0 = _mm512_loadu_ps(r0 + 16 * c);
      for (int h = 0; h < 3; ++h) a[h][c] = _mm512_fmadd_ps(_mm512_set1_ps(q[h][i]), k0, a[h][c]);
    }
  }
  const __m512 vs = _mm512_set1_ps(scale);
  for (int h = 0; h < 3; ++h) {
    for (int c = 0; c < kKeyBlock / 16; ++c) {
      _mm512_storeu_ps(s + h * kKeyBlock + 16 * c, _mm512_mul_ps(_mm512_add_ps(a[h][c], b[h][c]), vs));
    }
  }
}

// P·V for three heads over the same V rows: each head's accumulator is exactly
// PvRowsAvx512's (same four FMA chains per 16 lanes, same order), every V load serves all
// three. p holds the heads' weights kKeyBlock apart.
__attribute__((target("avx512f"))) inline void Pv3RowsAvx512(float* const* acc, const float* alpha, const float* p,
                                                             const float* const* rows, int n, int d) {
  for (int i = 0; i < d; i += 16) {
    const __mmask16 k = d - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (d - i)) - 1u);
    __m512 a0[3], a1[3], a2[3], a3[3];
    for (int h = 0; h < 3; ++h) {
      a0[h] = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, acc[h] + i), _mm512_set1_ps(alpha[h]));
      a1[h] = a2[h] = a3[h] = _mm512_setzero_ps();
    }
    int j = 0;
    for (; j + 4 <= n; j += 4) {
      const __m512 v0 = _mm512_maskz_loadu_ps(k, rows[j] + i), v1 = _mm512_maskz_loadu_ps(k, rows[j + 1] + i);
      const __m512 v2 = _mm512_maskz_loadu_ps(k, rows[j + 2] + i), v3 = _mm512_maskz_loadu_ps(k, rows[j + 3] + i);
      for (int h = 0; h < 3; ++h) {
        const float* ph = p + h * kKeyBlock;
        a0[h] = _mm512_fmadd_ps(_mm512_set1_ps(ph[j]), v0, a0[h]);
        a1[h] = _mm512_fmadd_ps(_mm512_set1_ps(ph[j + 1]), v1, a1[h]);
        a2[h] = _mm512_fmadd_ps(_mm512_set1_ps(ph[j + 2]), v2, a2[h]);
        a3[h] = _mm512_fmadd_ps(_mm512_set1_ps(ph[j + 3]), v3, a3[h]);
      }
    }
    for (; j < n; ++j) {
      const __m512 v0 = _mm512_maskz_loadu_ps(k, rows[j] + i);
      for (int h = 0; h < 3; ++h) a0[h] = _mm512_fmadd_ps(_mm512_set1_ps(p[h * kKeyBlock + j]), v0, a0[h]);
    }
    for (int h = 0; h < 3; ++h) {
      _mm512_mask_storeu_ps(acc[h] + i, k, _mm512_add_ps(_mm512_add_ps(a0[h], a1[h]), _mm512_add_ps(a2[h], a3[h])));
    }
  }
}

// 8x8 blocks: unpack, shuffle, then swap 128-bit halves.
__attribute__((target("avx2,fma"))) inline void TransposeAvx2(const float* const* rows, int n, int d, float* kt) {
  for (int j0 = 0; j0 < n; j0 += 8) {
    const float* p[8];
    for (int r = 0; r < 8; ++r) p[r] = rows[std::min(j0 + r, n - 1)];
    for (int i0 = 0; i0 < d; i0 += 8) {
      const int w = std::min(8, d - i0);
      const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(w), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      __m256 x[8], t[8];
      for (int r = 0; r < 8; ++r) x[r] = _mm256_maskload_ps(p[r] + i0, mask);
      for (int r = 0; r < 8; r += 2) {
        t[r] = _mm256_unpacklo_ps(x[r], x[r + 1]);
        t[r + 1] = _mm256_unpackhi_ps(x[r], x[r + 1]);
      }
      for (int g = 0; g < 8; g += 4) {
        x[g] = _mm256_shuffle_ps(t[g], t[g + 2], 0x44);
        x[g + 1] = _mm256_shuffle_ps(t[g], t[g + 2], 0xEE);
        x[g + 2] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0x44);
        x[g + 3] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0xEE);
      }
      for (int c = 0; c < 4; ++c) {
        t[c] = _mm256_permute2f128_ps(x[c], x[c + 4], 0x20);
        t[c + 4] = _mm256_permute2f128_ps(x[c], x[c + 4], 0x31);
      }
      for (int c = 0; c < w; ++c) _mm256_storeu_ps(kt + static_cast<std::ptrdiff_t>(i0 + c) * kKeyBlock + j0, t[c]);
    }
  }
}

// The unmasked forms of these shuffles trip GCC 12's -Wmaybe-uninitialized (their
// _mm512_undefined_* pass-through); the all-ones-mask forms compile to the same instruction.
namespace avx512_shuffle {
constexpr __mmask16 kAll16 = 0xFFFF;
constexpr __mmask8 kAll8 = 0xFF;
__attribute__((target("avx512f"))) inline __m512 UnpackLo(__m512 a, __m512 b) {
  return _mm512_mask_unpacklo_ps(a, kAll16, a, b);
}
__attribute__((target("avx512f"))) inline __m512 UnpackHi(__m512 a, __m512 b) {
  return _mm512_mask_unpackhi_ps(a, kAll16, a, b);
}
__attribute__((target("avx512f"))) inline __m512 UnpackLo64(__m512 a, __m512 b) {
  const __m512d x = _mm512_castps_pd(a);
  return _mm512_castpd_ps(_mm512_mask_unpacklo_pd(x, kAll8, x, _mm512_castps_pd(b)));
}
__attribute__((target("avx512f"))) inline __m512 UnpackHi64(__m512 a, __m512 b) {
  const __m512d x = _mm512_castps_pd(a);
  return _mm512_castpd_ps(_mm512_mask_unpackhi_pd(x, kAll8, x, _mm512_castps_pd(b)));
}
// Lanes 0, 2 of a then 0, 2 of b (kEven) or lanes 1, 3 of each (kOdd); a lane is 128 bits.
constexpr int kEven = 0x88, kOdd = 0xDD;
template <int kImm>
__attribute__((target("avx512f"))) inline __m512 Lanes(__m512 a, __m512 b) {
  return _mm512_mask_shuffle_f32x4(a, kAll16, a, b, kImm);
}
}  // namespace avx512_shuffle

// 16x16 blocks: unpack 32-bit, unpack 64-bit, then two rounds of 128-bit lane shuffles.
__attribute__((target("avx512f"))) inline void TransposeAvx512(const float* const* rows, int n, int d, float* kt) {
  using namespace avx512_shuffle;
  for (int j0 = 0; j0 < n; j0 += 16) {
    const float* p[16];
    for (int r = 0; r < 16; ++r) p[r] = rows[std::min(j0 + r, n - 1)];
    for (int i0 = 0; i0 < d; i0 += 16) {
      const int w = std::min(16, d - i0);
      const __mmask16 k = static_cast<__mmask16>((1u << w) - 1u);
      __m512 x[16], t[16];
      for (int r = 0; r < 16; ++r) x[r] = _mm512_maskz_loadu_ps(k, p[r] + i0);
      for (int r = 0; r < 16; r += 2) {
        t[r] = UnpackLo(x[r], x[r + 1]);
        t[r + 1] = UnpackHi(x[r], x[r + 1]);
      }
      for (int g = 0; g < 16; g += 4) {
        x[g] = UnpackLo64(t[g], t[g + 2]);
        x[g + 1] = UnpackHi64(t[g], t[g + 2]);
        x[g + 2] = UnpackLo64(t[g + 1], t[g + 3]);
        x[g + 3] = UnpackHi64(t[g + 1], t[g + 3]);
      }
      // x[4q + c] holds columns {c, c+4, c+8, c+12} (one per 128-bit lane) of rows 4q..4q+3.
      for (int h = 0; h < 16; h += 8) {
        for (int c = 0; c < 4; ++c) {
          t[h + c] = Lanes<kEven>(x[h + c], x[h + 4 + c]);
          t[h + 4 + c] = Lanes<kOdd>(x[h + c], x[h + 4 + c]);
        }
      }
      for (int c = 0; c < 8; ++c) {
        x[c] = Lanes<kEven>(t[c], t[8 + c]);
        x[8 + c] = Lanes<kOdd>(t[c], t[8 + c]);
      }
      for (int c = 0; c < w; ++c) _mm512_storeu_ps(kt + static_cast<std::ptrdiff_t>(i0 + c) * kKeyBlock + j0, x[c]);
    }
  }
}

#endif  // TIDE_SIMD_X86

inline constexpr int kQueryBlock = 16;  // queries per forward task

// The forward's micro-kernels at one SIMD level (attention_fast.cc).
struct ForwardKernels {
  TransposeFn transpose;
  ScoresFn scores;
  float (*exp_sum)(float* s, int n, float m);  // s[j] = exp(s[j] - m) for j < n; returns their sum
  PvRowsFn pv;
  float (*max)(const float* s, int n);  // max_{j<n} s[j], n >= 1
  // Three heads at once (null: call the one-head kernels per head), each head's result
  // bit-identical to the one-head kernel's: scores3 writes head h's scores at
  // s + h * kKeyBlock; pv3 reads head h's weights there and updates acc[h] with alpha[h].
  void (*scores3)(const float* const* q, const float* kt, int d, float scale, float* s);
  void (*pv3)(float* const* acc, const float* alpha, const float* p, const float* const* rows, int n, int d);
};
// An unsupported level falls back to the best supported one.
ForwardKernels PickForwardKernels(SimdLevel level);

// Per-participant scratch of ForwardTile / ForwardTileHeads for head_dim d and up to
// `heads` heads per tile walk.
struct ForwardScratch {
  explicit ForwardScratch(int d, int heads = 1)
      : kt(static_cast<size_t>(kKeyBlock) * d, 0.0f),
        sc(static_cast<size_t>(kQueryBlock) * kKeyBlock),
        acc(static_cast<size_t>(heads) * kQueryBlock * d),
        m(static_cast<size_t>(heads) * kQueryBlock),
        l(static_cast<size_t>(heads) * kQueryBlock) {}
  std::vector<float> kt, sc, acc;
  std::vector<float> m, l;  // per (head, query): running max and sum
};

// Key / value row accessors for ForwardTile. Row(j) points at row j (of this kv head);
// rows j .. j + Run(j) - 1 are contiguous, `stride` floats apart.
struct ContiguousRows {
  const float* base;
  std::ptrdiff_t stride;
  const float* Row(int j) const { return base + j * stride; }
  int Run(int /*j*/) const { return std::numeric_limits<int>::max(); }
};

// out[j] = rows.Row(j0 + j) for j < n, one Run at a time.
template <class Rows>
void GatherRows(const Rows& rows, int j0, int n, const float** out) {
  for (int j = 0; j < n;) {
    const float* row = rows.Row(j0 + j);
    for (int e = j + std::min(rows.Run(j0 + j), n - j); j < e; ++j, row += rows.stride) out[j] = row;
  }
}

// One queries-by-keys tile walk, flash-attention style: queries t0 .. t1-1 (t1 - t0 <=
// kQueryBlock) of `heads` query heads that share one kv head (a GQA group, or one head),
// new token t seeing keys 0 .. past + t, keys taken kKeyBlock at a time with an online
// softmax per (head, query). Each key block's K and V row addresses are gathered once
// through the accessors (so a block may straddle paged blocks); K rows are transposed into
// kt once and that tile serves every head of the group; V rows are read in place by the
// P·V kernel. Each head keeps its own running max / sum / accumulator and sees exactly the
// operations, in the same order, that it would see walked alone (heads = 1), so the
// result per head does not depend on `heads`. Head h's queries / outputs start at
// q / out + h * head_stride (token 0), rows q_stride apart; lse (null: not written) at
// lse + h * lse_head_stride (token 0), lse_stride apart. scratch must be sized for
// at least `heads` heads.
//
// The walk is BeginTileWalk, ApplyKeyTile for each key block in order, EndTileWalk; a
// caller may apply some key blocks itself (the paged forward scores a K tile shared by
// many sequences against all of them) and the arithmetic stays the same.
struct TileWalk {
  const float* q;
  std::ptrdiff_t q_stride, head_stride;
  int heads, past, t0, t1, d;
  float scale;
};

inline void BeginTileWalk(const TileWalk& w, ForwardScratch& scratch) {
  const std::ptrdiff_t acc_head = static_cast<std::ptrdiff_t>(kQueryBlock) * w.d;
  std::fill_n(scratch.acc.begin(), w.heads * acc_head, 0.0f);
  std::fill_n(scratch.m.begin(), w.heads * kQueryBlock, -std::numeric_limits<float>::infinity());
  std::fill_n(scratch.l.begin(), w.heads * kQueryBlock, 0.0f);
}

// Folds keys j0 .. j0 + nkb - 1 (kt: their K transposed, vp: their V rows) into the walk's
// state in `scratch` (its kt is not used).
inline void ApplyKeyTile(const ForwardKernels& mk, const TileWalk& w, const float* kt, const float* const* vp,
                         int j0, int nkb, ForwardScratch& scratch) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const std::ptrdiff_t acc_head = static_cast<std::ptrdiff_t>(kQueryBlock) * w.d;
  const int nq = w.t1 - w.t0;
  // Heads go three at a time through the three-head kernels where there are some: the
  // same arithmetic per head, one pass over the tile's K and V rows for all three.
  const int step = mk.scores3 != nullptr ? 3 : 1;
  for (int r = 0; r < nq; ++r) {
    const int t = w.t0 + r;
    const int nk = std::min(nkb, w.past + t + 1 - j0);
    if (nk <= 0) continue;
    for (int h0 = 0; h0 < w.heads;) {
      const int hn = w.heads - h0 >= step ? step : 1;
      float* s = scratch.sc.data();  // head h0 + i's scores at s + i * kKeyBlock
      const float* q[3];
      float* acc[3];
      float alpha[3];
      for (int i = 0; i < hn; ++i) {
        q[i] = w.q + (h0 + i) * w.head_stride + t * w.q_stride;
        acc[i] = scratch.acc.data() + (h0 + i) * acc_head + static_cast<std::ptrdiff_t>(r) * w.d;
      }
      if (hn == 3) {
        mk.scores3(q, kt, w.d, w.scale, s);
      } else {
        mk.scores(q[0], kt, w.d, w.scale, s);
      }
      for (int i = 0; i < hn; ++i) {
        float* srow = s + i * kKeyBlock;
        float& m = scratch.m[static_cast<size_t>((h0 + i) * kQueryBlock + r)];
        float& l = scratch.l[static_cast<size_t>((h0 + i) * kQueryBlock + r)];
        const float m_new = std::max(m, mk.max(srow, nk));
        alpha[i] = m == kNegInf ? 0.0f : std::exp(m - m_new);
        l = l * alpha[i] + mk.exp_sum(srow, nk, m_new);
        m = m_new;
      }
      if (hn == 3) {
        mk.pv3(acc, alpha, s, vp, nk, w.d);
      } else {
        mk.pv(acc[0], alpha[0], s, vp, nk, w.d);
      }
      h0 += hn;
    }
  }
}

// Applies key blocks j_begin, j_begin + kKeyBlock, ... (j_begin a multiple of kKeyBlock)
// up to the last key the walk's queries see, reading them through the accessors.
template <class Rows>
void ApplyKeyTilesFrom(const ForwardKernels& mk, const Rows& krows, const Rows& vrows, const TileWalk& w,
                       int j_begin, ForwardScratch& scratch) {
  const float* kp[kKeyBlock];  // this key block's K and V rows
  const float* vp[kKeyBlock];
  const int key_end = w.past + w.t1;  // the last query of the block sees keys < key_end
  for (int j0 = j_begin; j0 < key_end; j0 += kKeyBlock) {
    const int nkb = std::min(kKeyBlock, key_end - j0);
    GatherRows(krows, j0, nkb, kp);
    GatherRows(vrows, j0, nkb, vp);
    mk.transpose(kp, nkb, w.d, scratch.kt.data());
    ApplyKeyTile(mk, w, scratch.kt.data(), vp, j0, nkb, scratch);
  }
}

inline void EndTileWalk(const TileWalk& w, float* out, float* lse, std::ptrdiff_t lse_stride,
                        std::ptrdiff_t lse_head_stride, const ForwardScratch& scratch) {
  const std::ptrdiff_t acc_head = static_cast<std::ptrdiff_t>(kQueryBlock) * w.d;
  for (int h = 0; h < w.heads; ++h) {
    const float* acc = scratch.acc.data() + h * acc_head;
    const float* m = scratch.m.data() + h * kQueryBlock;
    const float* l = scratch.l.data() + h * kQueryBlock;
    for (int r = 0; r < w.t1 - w.t0; ++r) {
      const int t = w.t0 + r;
      float* oh = out + h * w.head_stride + t * w.q_stride;
      const float* a = acc + static_cast<size_t>(r) * w.d;
      for (int i = 0; i < w.d; ++i) oh[i] = a[i] / l[r];
      if (lse != nullptr) lse[h * lse_head_stride + t * lse_stride] = m[r] + std::log(l[r]);
    }
  }
}

template <class Rows>
void ForwardTileHeads(const ForwardKernels& mk, const Rows& krows, const Rows& vrows, const float* q, float* out,
                      std::ptrdiff_t q_stride, std::ptrdiff_t head_stride, float* lse, std::ptrdiff_t lse_stride,
                      std::ptrdiff_t lse_head_stride, int heads, int past, int t0, int t1, int d, float scale,
                      ForwardScratch& scratch) {
  const TileWalk w{q, q_stride, head_stride, heads, past, t0, t1, d, scale};
  BeginTileWalk(w, scratch);
  ApplyKeyTilesFrom(mk, krows, vrows, w, 0, scratch);
  EndTileWalk(w, out, lse, lse_stride, lse_head_stride, scratch);
}

// ForwardTileHeads for one head: q / out point at token 0 of this head, rows q_stride
// apart; lse (null: not written) at token 0 of this head, lse_stride apart.
template <class Rows>
void ForwardTile(const ForwardKernels& mk, const Rows& krows, const Rows& vrows, const float* q, float* out,
                 std::ptrdiff_t q_stride, float* lse, std::ptrdiff_t lse_stride, int past, int t0, int t1, int d,
                 float scale, ForwardScratch& scratch) {
  ForwardTileHeads(mk, krows, vrows, q, out, q_stride, 0, lse, lse_stride, 0, 1, past, t0, t1, d, scale, scratch);
}

}  // namespace tide::engine::attention_internal
