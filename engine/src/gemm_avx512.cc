// AVX-512 F building blocks of the GEMM (see gemm_kernels.h): a 14x32 micro-kernel
// (28 zmm accumulators, A broadcast from memory, two B vectors per k step), its bf16-pair
// twin on vdpbf16ps (AVX-512 BF16, chosen at run time) with the packing into pairs, and
// the small-m dot / axpy kernels that stream B once (bf16 widened to f32 in registers,
// which is exact). Packing of f32 panels is shared with the AVX2 table.
// Thread safety: pure functions (the dot kernel's scratch is thread_local).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tide/engine/kernels/gemm_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace tide::engine::gemm_internal {
namespace {

#define TIDE_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define TIDE_AVX512_BF16 __attribute__((target("avx512f,avx512bf16,avx2,fma")))
// Full unrolling of the small fixed loops keeps accumulator arrays in registers at -O2.
#define TIDE_UNROLL _Pragma("GCC unroll 16")

using std::ptrdiff_t;

constexpr int kMr = 14;
constexpr int kNr = 32;

TIDE_AVX512 inline __m512 Load16(const float* p) { return _mm512_loadu_ps(p); }
TIDE_AVX512 inline __m512 Load16(const uint16_t* p) {
  // The zero-masked forms (all lanes selected) avoid GCC 12's _mm512_undefined_* sources,
  // which trip -Wmaybe-uninitialized inside its own header.
  constexpr __mmask16 kAll = 0xFFFF;
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(kAll, _mm512_maskz_cvtepu16_epi32(kAll, h), 16));
}
// Lanes past `count` (< 16) load as zero and are never touched in memory.
TIDE_AVX512 inline __m512 Load16Tail(const float* p, int count) {
  return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << count) - 1u), p);
}
TIDE_AVX512 inline __m512 Load16Tail(const uint16_t* p, int count) {
  alignas(64) uint16_t tmp[16] = {};
  std::memcpy(tmp, p, sizeof(uint16_t) * static_cast<size_t>(count));
  return Load16(tmp);
}
inline float Widen(float x) { return x; }
inline float Widen(uint16_t x) {
  const uint32_t bits = static_cast<uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Sum of the 16 lanes (masked shuffles, as in rmsnorm.cc, keep GCC 12's headers quiet).
TIDE_AVX512 inline float HorizontalSum(__m512 v) {
  constexpr __mmask16 kAll = 0xFFFF;
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, kAll, v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, kAll, v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  __m128 s = _mm512_mask_extractf32x4_ps(_mm_setzero_ps(), 0xF, v, 0);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// C tile = alpha * acc + beta * C (beta == 0: C not read), rows of two vectors.
TIDE_AVX512 inline void StoreTile(const __m512 (&acc0)[kMr], const __m512 (&acc1)[kMr], float* c, int ldc,
                                  float alpha, float beta) {
  const __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.0f) {
#pragma GCC unroll 14
    for (int i = 0; i < kMr; ++i) {
      _mm512_storeu_ps(c + ptrdiff_t{i} * ldc, _mm512_mul_ps(va, acc0[i]));
      _mm512_storeu_ps(c + ptrdiff_t{i} * ldc + 16, _mm512_mul_ps(va, acc1[i]));
    }
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 14
    for (int i = 0; i < kMr; ++i) {
      float* ci = c + ptrdiff_t{i} * ldc;
      _mm512_storeu_ps(ci, _mm512_fmadd_ps(va, acc0[i], _mm512_mul_ps(vb, _mm512_loadu_ps(ci))));
      _mm512_storeu_ps(ci + 16, _mm512_fmadd_ps(va, acc1[i], _mm512_mul_ps(vb, _mm512_loadu_ps(ci + 16))));
    }
  }
}

TIDE_AVX512 void Kernel14x32(int kc, const float* a, const float* b, float* c, int ldc, float alpha,
                             float beta) {
  __m512 acc0[kMr], acc1[kMr];
#pragma GCC unroll 14
  for (int i = 0; i < kMr; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
  for (int p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 14
    for (int i = 0; i < kMr; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
    }
    a += kMr;
    b += kNr;
  }
  StoreTile(acc0, acc1, c, ldc, alpha, beta);
}

// The same tile from bf16 pairs: each vdpbf16ps adds two products per lane (twice the
// FLOPs of an FMA per instruction; measured 408 vs 220 GFLOP/s on one Zen 5 core).
TIDE_AVX512_BF16 void Kernel14x32Bf16(int kq, const uint32_t* a, const uint32_t* b, float* c, int ldc,
                                      float alpha, float beta) {
  __m512 acc0[kMr], acc1[kMr];
#pragma GCC unroll 14
  for (int i = 0; i < kMr; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
  for (int q = 0; q < kq; ++q) {
    const __m512bh b0 = reinterpret_cast<__m512bh>(_mm512_load_si512(b));
    const __m512bh b1 = reinterpret_cast<__m512bh>(_mm512_load_si512(b + 16));
#pragma GCC unroll 14
    for (int i = 0; i < kMr; ++i) {
      const __m512bh ai = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(a[i])));
      acc0[i] = _mm512_dpbf16_ps(acc0[i], ai, b0);
      acc1[i] = _mm512_dpbf16_ps(acc1[i], ai, b1);
    }
    a += kMr;
    b += kNr;
  }
  StoreTile(acc0, acc1, c, ldc, alpha, beta);
}

// (The zero-masked shifts with every lane selected avoid GCC 12's uninitialised
// _mm512_undefined_* sources.)
constexpr __mmask16 kAll16 = 0xFFFF;

// bf16 bits of 16 floats in the low halves of 32-bit lanes: the upper halves (exact for
// values that are bf16 already) or rounded to nearest even, NaN kept quiet.
TIDE_AVX512 inline __m512i UpperHalves(__m512i x) { return _mm512_maskz_srli_epi32(kAll16, x, 16); }
TIDE_AVX512 inline __m512i RoundToBf16(__m512i x) {
  const __m512i lsb = _mm512_and_si512(_mm512_maskz_srli_epi32(kAll16, x, 16), _mm512_set1_epi32(1));
  const __m512i biased = _mm512_add_epi32(_mm512_add_epi32(x, _mm512_set1_epi32(0x7FFF)), lsb);
  const __m512i rounded = _mm512_maskz_srli_epi32(kAll16, biased, 16);
  const __mmask16 nan =
      _mm512_cmpgt_epu32_mask(_mm512_and_si512(x, _mm512_set1_epi32(0x7FFFFFFF)), _mm512_set1_epi32(0x7F800000));
  return _mm512_mask_or_epi32(rounded, nan, UpperHalves(x), _mm512_set1_epi32(0x40));
}

template <bool kRound>
TIDE_AVX512 inline void PackPairs(const float* src, int kc, int width, uint32_t* dst) {
  for (int q = 0; q < (kc + 1) / 2; ++q) {
    const float* lo = src + ptrdiff_t{2 * q} * width;
    const float* hi = lo + width;
    const bool has_hi = 2 * q + 1 < kc;
    for (int r = 0; r < width; r += 16) {
      const __mmask16 mask = static_cast<__mmask16>(width - r >= 16 ? 0xFFFF : (1u << (width - r)) - 1u);
      __m512i l = _mm512_maskz_loadu_epi32(mask, lo + r);
      __m512i h = has_hi ? _mm512_maskz_loadu_epi32(mask, hi + r) : _mm512_setzero_si512();
      l = kRound ? RoundToBf16(l) : UpperHalves(l);
      h = kRound ? RoundToBf16(h) : UpperHalves(h);
      const __m512i pair = _mm512_or_si512(l, _mm512_maskz_slli_epi32(kAll16, h, 16));
      _mm512_mask_storeu_epi32(dst + ptrdiff_t{q} * width + r, mask, pair);
    }
  }
}

TIDE_AVX512 void PackPairsExact(const float* src, int kc, int width, uint32_t* dst) {
  PackPairs<false>(src, kc, width, dst);
}
TIDE_AVX512 void PackPairsRound(const float* src, int kc, int width, uint32_t* dst) {
  PackPairs<true>(src, kc, width, dst);
}

bool CpuHasAvx512Bf16() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
}

// W rows are streamed from memory; the hardware prefetcher alone leaves bandwidth unused
// (measured on Zen 5: bf16 decode GEMV 23 -> 27 GB/s on one core with this).
// Row j of W is prefetched kPrefetchBytes ahead of index p (past the row's end that is
// the start of a following row; the address may lie past the matrix: prefetches never
// fault, and the arithmetic is done on integers).
constexpr int kPrefetchBytes = 1024;
template <typename T>
inline void PrefetchRow(const T* w, int ldw, int j, int p) {
  const ptrdiff_t at = ptrdiff_t{j} * ldw + p + kPrefetchBytes / static_cast<int>(sizeof(T));
  _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(w) + sizeof(T) * at), _MM_HINT_T0);
}

inline float Finish(float alpha, float sum, float beta, const float* c) {
  return beta == 0.0f ? alpha * sum : alpha * sum + beta * *c;
}

// MX rows of A against NW rows of W over k indices [p, p_end), accumulating into the
// 16-float vectors at acc_mem + 16 * (i * acc_ld + j) (written, not read, when p == 0).
// For bf16 W the rows of A come with each 32-element block below k32 (k rounded down to
// 32) reordered as its 16 even elements then its 16 odd ones: a 512-bit load of 32 bf16
// weights then widens exactly with one shift (even elements, the low halves) and one AND
// (odd ones, the high halves).
template <int MX, int NW, typename T>
TIDE_AVX512 inline void DotSpan(int p, int p_end, const float* a, int lda, int k32, const T* w, int ldw,
                                float* acc_mem, int acc_ld) {
  __m512 acc[MX][NW];
  TIDE_UNROLL
  for (int i = 0; i < MX; ++i)
    TIDE_UNROLL
    for (int j = 0; j < NW; ++j) {
      acc[i][j] = p == 0 ? _mm512_setzero_ps() : _mm512_load_ps(acc_mem + 16 * (i * acc_ld + j));
    }
  if constexpr (sizeof(T) == 2) {
    constexpr __mmask16 kAll = 0xFFFF;
    const __m512i high = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
    for (; p + 32 <= std::min(p_end, k32); p += 32) {
      __m512 even[MX], odd[MX];
      TIDE_UNROLL
      for (int i = 0; i < MX; ++i) {
        even[i] = _mm512_loadu_ps(a + ptrdiff_t{i} * lda + p);
        odd[i] = _mm512_loadu_ps(a + ptrdiff_t{i} * lda + p + 16);
      }
      TIDE_UNROLL
      for (int j = 0; j < NW; ++j) {
        PrefetchRow(w, ldw, j, p);
        __m512i wv = _mm512_loadu_si512(w + ptrdiff_t{j} * ldw + p);
        __asm__("" : "+v"(wv));  // one load into a register, not two folded memory operands
        const __m512 we = _mm512_castsi512_ps(_mm512_maskz_slli_epi32(kAll, wv, 16));
        const __m512 wo = _mm512_castsi512_ps(_mm512_and_si512(wv, high));
        TIDE_UNROLL
        for (int i = 0; i < MX; ++i) {
          acc[i][j] = _mm512_fmadd_ps(even[i], we, acc[i][j]);
          acc[i][j] = _mm512_fmadd_ps(odd[i], wo, acc[i][j]);
        }
      }
    }
  }
  for (; p + 16 <= p_end; p += 16) {
    __m512 wv[NW];
    TIDE_UNROLL
    for (int j = 0; j < NW; ++j) wv[j] = Load16(w + ptrdiff_t{j} * ldw + p);
    TIDE_UNROLL
    for (int j = 0; j < NW; ++j) PrefetchRow(w, ldw, j, p);
    TIDE_UNROLL
    for (int i = 0; i < MX; ++i) {
      const __m512 av = _mm512_loadu_ps(a + ptrdiff_t{i} * lda + p);
      TIDE_UNROLL
      for (int j = 0; j < NW; ++j) acc[i][j] = _mm512_fmadd_ps(av, wv[j], acc[i][j]);
    }
  }
  if (p < p_end) {
    const int rest = p_end - p;
    __m512 wv[NW];
    TIDE_UNROLL
    for (int j = 0; j < NW; ++j) wv[j] = Load16Tail(w + ptrdiff_t{j} * ldw + p, rest);
    TIDE_UNROLL
    for (int i = 0; i < MX; ++i) {
      const __m512 av = Load16Tail(a + ptrdiff_t{i} * lda + p, rest);
      TIDE_UNROLL
      for (int j = 0; j < NW; ++j) acc[i][j] = _mm512_fmadd_ps(av, wv[j], acc[i][j]);
    }
  }
  TIDE_UNROLL
  for (int i = 0; i < MX; ++i)
    TIDE_UNROLL
    for (int j = 0; j < NW; ++j) _mm512_store_ps(acc_mem + 16 * (i * acc_ld + j), acc[i][j]);
}

// All m rows of A against NW rows of W over [p, p_end), four rows of A at a time.
template <int NW, typename T>
TIDE_AVX512 inline void DotSpanAllRows(int m, int p, int p_end, const float* a, int lda, int k32, const T* w,
                                       int ldw, float* acc_mem, int acc_ld) {
  int i = 0;
  for (; i + 4 <= m; i += 4) {
    DotSpan<4, NW>(p, p_end, a + ptrdiff_t{i} * lda, lda, k32, w, ldw, acc_mem + 16 * i * acc_ld, acc_ld);
  }
  float* acc_i = acc_mem + 16 * i * acc_ld;
  const float* a_i = a + ptrdiff_t{i} * lda;
  switch (m - i) {
    case 3: DotSpan<3, NW>(p, p_end, a_i, lda, k32, w, ldw, acc_i, acc_ld); break;
    case 2: DotSpan<2, NW>(p, p_end, a_i, lda, k32, w, ldw, acc_i, acc_ld); break;
    case 1: DotSpan<1, NW>(p, p_end, a_i, lda, k32, w, ldw, acc_i, acc_ld); break;
    default: break;
  }
}

// A 64-byte aligned, growing per-thread float array.
float* ThreadBuffer(std::vector<float>& storage, size_t floats) {
  storage.resize(floats + 16);
  const auto misalign = reinterpret_cast<uintptr_t>(storage.data()) / sizeof(float) % 16;
  return storage.data() + (16 - misalign) % 16;
}

// W is walked in groups of kGroup rows and k in spans of kSpan; within a span each quad
// of W rows meets every row of A while both are in L1 (partial sums wait in a small
// buffer), so W comes from memory once. The rows of A are first copied with a row
// stride skewed by one cache line: with the power-of-two strides of model shapes they
// would otherwise all map to the same L1 sets and evict each other.
template <typename T>
TIDE_AVX512 inline void Dot(int m, int n, int k, float alpha, const float* a, int lda, const T* w, int ldw,
                            float beta, float* c, int ldc) {
  constexpr int kGroup = 16;
  constexpr int kSpan = 256;
  const int k32 = sizeof(T) == 2 ? k / 32 * 32 : 0;
  if (m > 1 || sizeof(T) == 2) {
    thread_local std::vector<float> rows_storage;
    const int ld = (k + 15) / 16 * 16 + 16;
    float* rows = ThreadBuffer(rows_storage, static_cast<size_t>(m) * ld);
    for (int i = 0; i < m; ++i) {
      const float* ai = a + ptrdiff_t{i} * lda;
      float* ri = rows + ptrdiff_t{i} * ld;
      for (int p = 0; p < k32; p += 32) {  // bf16: even / odd reordering
        TIDE_UNROLL
        for (int l = 0; l < 16; ++l) {
          ri[p + l] = ai[p + 2 * l];
          ri[p + 16 + l] = ai[p + 2 * l + 1];
        }
      }
      std::memcpy(ri + k32, ai + k32, sizeof(float) * static_cast<size_t>(k - k32));
    }
    a = rows;
    lda = ld;
  }
  thread_local std::vector<float> partial_storage;
  float* const partial = ThreadBuffer(partial_storage, static_cast<size_t>(m) * kGroup * 16);
  const int span = m == 1 ? k : kSpan;  // one row of A (decode) stays in L1 whole
  for (int j0 = 0; j0 < n; j0 += kGroup) {
    const int nj = std::min(kGroup, n - j0);
    for (int p0 = 0; p0 < k; p0 += span) {
      const int p1 = std::min(k, p0 + span);
      int j = 0;
      if (m == 1) {  // decode: eight W rows in flight per x vector
        for (; j + 8 <= nj; j += 8) {
          DotSpan<1, 8>(p0, p1, a, lda, k32, w + ptrdiff_t{j0 + j} * ldw, ldw, partial + 16 * j, kGroup);
        }
      }
      for (; j + 4 <= nj; j += 4) {
        DotSpanAllRows<4>(m, p0, p1, a, lda, k32, w + ptrdiff_t{j0 + j} * ldw, ldw, partial + 16 * j, kGroup);
      }
      for (; j < nj; ++j) {
        DotSpanAllRows<1>(m, p0, p1, a, lda, k32, w + ptrdiff_t{j0 + j} * ldw, ldw, partial + 16 * j, kGroup);
      }
    }
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j < nj; ++j) {
        float* cij = c + ptrdiff_t{i} * ldc + j0 + j;
        const __m512 sum = _mm512_load_ps(partial + (ptrdiff_t{i} * kGroup + j) * 16);
        *cij = Finish(alpha, HorizontalSum(sum), beta, cij);
      }
    }
  }
}

TIDE_AVX512 void DotF32(int m, int n, int k, float alpha, const float* a, int lda, const float* w, int ldw,
                        float beta, float* c, int ldc) {
  Dot(m, n, k, alpha, a, lda, w, ldw, beta, c, ldc);
}
TIDE_AVX512 void DotBf16(int m, int n, int k, float alpha, const float* a, int lda, const uint16_t* w, int ldw,
                         float beta, float* c, int ldc) {
  Dot(m, n, k, alpha, a, lda, w, ldw, beta, c, ldc);
}

// MX rows of C, columns [j, j + 16*V) (the last vector may be partial: `tail` lanes).
template <int MX, int V, typename T>
TIDE_AVX512 inline void AxpyBlock(int k, float alpha, const float* a, int a_row, int a_col, const T* b, int ldb,
                                  float beta, float* c, int ldc, int tail) {
  __m512 acc[MX][V];
  TIDE_UNROLL
  for (int i = 0; i < MX; ++i)
    TIDE_UNROLL
    for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int p = 0; p < k; ++p) {
    const T* bp = b + ptrdiff_t{p} * ldb;
    __m512 bv[V];
    TIDE_UNROLL
    for (int v = 0; v < V; ++v) bv[v] = (v == V - 1 && tail < 16) ? Load16Tail(bp + 16 * v, tail) : Load16(bp + 16 * v);
    TIDE_UNROLL
    for (int i = 0; i < MX; ++i) {
      const __m512 av = _mm512_set1_ps(a[ptrdiff_t{i} * a_row + ptrdiff_t{p} * a_col]);
      TIDE_UNROLL
      for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  TIDE_UNROLL
  for (int i = 0; i < MX; ++i) {
    TIDE_UNROLL
    for (int v = 0; v < V; ++v) {
      const __mmask16 mask = (v == V - 1 && tail < 16) ? static_cast<__mmask16>((1u << tail) - 1u) : 0xFFFF;
      float* cp = c + ptrdiff_t{i} * ldc + 16 * v;
      __m512 r = _mm512_mul_ps(va, acc[i][v]);
      if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, cp), r);
      _mm512_mask_storeu_ps(cp, mask, r);
    }
  }
}

template <int MX, typename T>
TIDE_AVX512 inline void AxpyRows(int n, int k, float alpha, const float* a, int a_row, int a_col, const T* b,
                                 int ldb, float beta, float* c, int ldc) {
  int j = 0;
  // Sixteen accumulators; the wider blocks of one or two rows read B in longer runs
  // (measured: m = 1, 4096 x 4096 B, 6.4 -> 10 GFLOP/s).
  constexpr int kWide = MX == 1 ? 16 : MX == 2 ? 8 : 4;
  for (; j + 16 * kWide <= n; j += 16 * kWide) {
    AxpyBlock<MX, kWide>(k, alpha, a, a_row, a_col, b + j, ldb, beta, c + j, ldc, 16);
  }
  for (; j + 64 <= n; j += 64) AxpyBlock<MX, 4>(k, alpha, a, a_row, a_col, b + j, ldb, beta, c + j, ldc, 16);
  for (; j + 16 <= n; j += 16) AxpyBlock<MX, 1>(k, alpha, a, a_row, a_col, b + j, ldb, beta, c + j, ldc, 16);
  if (j < n) AxpyBlock<MX, 1>(k, alpha, a, a_row, a_col, b + j, ldb, beta, c + j, ldc, n - j);
}

template <typename T>
TIDE_AVX512 inline void Axpy(int m, int n, int k, float alpha, const float* a, int a_row, int a_col, const T* b,
                             int ldb, float beta, float* c, int ldc) {
  switch (m) {
    case 1: return AxpyRows<1>(n, k, alpha, a, a_row, a_col, b, ldb, beta, c, ldc);
    case 2: return AxpyRows<2>(n, k, alpha, a, a_row, a_col, b, ldb, beta, c, ldc);
    case 3: return AxpyRows<3>(n, k, alpha, a, a_row, a_col, b, ldb, beta, c, ldc);
    default: return AxpyRows<4>(n, k, alpha, a, a_row, a_col, b, ldb, beta, c, ldc);
  }
}

TIDE_AVX512 void AxpyF32(int m, int n, int k, float alpha, const float* a, int a_row, int a_col, const float* b,
                         int ldb, float beta, float* c, int ldc) {
  Axpy(m, n, k, alpha, a, a_row, a_col, b, ldb, beta, c, ldc);
}
TIDE_AVX512 void AxpyBf16(int m, int n, int k, float alpha, const float* a, int a_row, int a_col,
                          const uint16_t* b, int ldb, float beta, float* c, int ldc) {
  Axpy(m, n, k, alpha, a, a_row, a_col, b, ldb, beta, c, ldc);
}

}  // namespace

const GemmIsa* GemmIsaAvx512() {
  // kc 512 / mc 168 measured best at 1024^3 and 2048^3 on Zen 5 (vs 256 / 336: +10%);
  // the dot path wins up to m = 64 on the forward shapes (n, k in 1024..4096).
  static const GemmIsa isa{.level = SimdLevel::kAvx512,
                           .mr = kMr,
                           .nr = kNr,
                           .kc = 512,
                           .mc = kMr * 12,
                           .nc = 4096,
                           .dot_max_m = 64,
                           .kernel = Kernel14x32,
                           .pack_rows_f32 = Avx2PackRowsF32(),
                           .pack_rows_bf16 = Avx2PackRowsBf16(),
                           .pack_cols_f32 = Avx2PackColsF32(),
                           .pack_cols_bf16 = Avx2PackColsBf16(),
                           .dot_f32 = DotF32,
                           .dot_bf16 = DotBf16,
                           .axpy_f32 = AxpyF32,
                           .axpy_bf16 = AxpyBf16,
                           .kernel_bf16 = CpuHasAvx512Bf16() ? Kernel14x32Bf16 : nullptr,
                           .pairs_exact = PackPairsExact,
                           .pairs_round = PackPairsRound};
  return &isa;
}

}  // namespace tide::engine::gemm_internal

#else  // not x86

namespace tide::engine::gemm_internal {
const GemmIsa* GemmIsaAvx512() { return nullptr; }
}  // namespace tide::engine::gemm_internal

#endif
