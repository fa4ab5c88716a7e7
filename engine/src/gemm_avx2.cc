// AVX2 + FMA building blocks of the GEMM (see gemm_kernels.h): a 6x16 micro-kernel,
// packing (8x8 in-register transposes for the transposing packs, bf16 widened to f32
// exactly), and the small-m dot / axpy kernels. The packing functions are also used by
// the AVX-512 table: every AVX-512 machine runs AVX2.
// Thread safety: pure functions.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "tide/engine/kernels/gemm_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace tide::engine::gemm_internal {
namespace {

#define TIDE_AVX2 __attribute__((target("avx2,fma")))
// Full unrolling of the small fixed loops keeps accumulator arrays in registers at -O2.
#define TIDE_UNROLL _Pragma("GCC unroll 16")

using std::ptrdiff_t;

constexpr int kMr = 6;
constexpr int kNr = 16;

TIDE_AVX2 inline __m256 Load8(const float* p) { return _mm256_loadu_ps(p); }
TIDE_AVX2 inline __m256 Load8(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
inline float Widen(float x) { return x; }
inline float Widen(uint16_t x) {
  const uint32_t bits = static_cast<uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

TIDE_AVX2 inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

TIDE_AVX2 void Kernel6x16(int kc, const float* a, const float* b, float* c, int ldc, float alpha, float beta) {
  __m256 acc0[kMr], acc1[kMr];
  TIDE_UNROLL
  for (int i = 0; i < kMr; ++i) acc0[i] = acc1[i] = _mm256_setzero_ps();
  for (int p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < kMr; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
    }
    a += kMr;
    b += kNr;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  if (beta == 0.0f) {
    TIDE_UNROLL
    for (int i = 0; i < kMr; ++i) {
      _mm256_storeu_ps(c + ptrdiff_t{i} * ldc, _mm256_mul_ps(va, acc0[i]));
      _mm256_storeu_ps(c + ptrdiff_t{i} * ldc + 8, _mm256_mul_ps(va, acc1[i]));
    }
  } else {
    const __m256 vb = _mm256_set1_ps(beta);
    TIDE_UNROLL
    for (int i = 0; i < kMr; ++i) {
      float* ci = c + ptrdiff_t{i} * ldc;
      _mm256_storeu_ps(ci, _mm256_fmadd_ps(va, acc0[i], _mm256_mul_ps(vb, _mm256_loadu_ps(ci))));
      _mm256_storeu_ps(ci + 8, _mm256_fmadd_ps(va, acc1[i], _mm256_mul_ps(vb, _mm256_loadu_ps(ci + 8))));
    }
  }
}

// In-place transpose of 8 rows of 8 floats.
TIDE_AVX2 inline void Transpose8x8(__m256 r[8]) {
  __m256 t[8];
  TIDE_UNROLL
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  __m256 u[8];
  for (int i = 0; i < 2; ++i) {
    u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  TIDE_UNROLL
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// Stores the first `lanes` (1..8) floats of v.
TIDE_AVX2 inline void StoreLanes(float* dst, __m256 v, int lanes) {
  if (lanes == 8) {
    _mm256_storeu_ps(dst, v);
    return;
  }
  __m128 lo = _mm256_castps256_ps128(v);
  if (lanes >= 4) {
    _mm_storeu_ps(dst, lo);
    dst += 4;
    lanes -= 4;
    lo = _mm256_extractf128_ps(v, 1);
  }
  if (lanes >= 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(dst), lo);
    dst += 2;
    lanes -= 2;
    lo = _mm_movehl_ps(lo, lo);
  }
  if (lanes == 1) _mm_store_ss(dst, lo);
}

// dst[p*width + r] = src[r*ld + p] (r < count), zero for count <= r < width.
template <typename T>
TIDE_AVX2 inline void PackRows(const T* src, int ld, int count, int kc, int width, float* dst) {
  for (int r0 = 0; r0 < width; r0 += 8) {
    const int valid = std::clamp(count - r0, 0, 8);
    const int lanes = std::min(8, width - r0);
    int p = 0;
    for (; p + 8 <= kc; p += 8) {
      __m256 r[8];
      TIDE_UNROLL
      for (int i = 0; i < 8; ++i) {
        r[i] = i < valid ? Load8(src + ptrdiff_t{r0 + i} * ld + p) : _mm256_setzero_ps();
      }
      Transpose8x8(r);
      TIDE_UNROLL
      for (int q = 0; q < 8; ++q) StoreLanes(dst + ptrdiff_t{p + q} * width + r0, r[q], lanes);
    }
    for (; p < kc; ++p) {
      for (int i = 0; i < lanes; ++i) {
        dst[ptrdiff_t{p} * width + r0 + i] = i < valid ? Widen(src[ptrdiff_t{r0 + i} * ld + p]) : 0.0f;
      }
    }
  }
}

// dst[p*width + r] = src[p*ld + r] (r < count), zero for count <= r < width.
template <typename T>
TIDE_AVX2 inline void PackCols(const T* src, int ld, int count, int kc, int width, float* dst) {
  for (int p = 0; p < kc; ++p) {
    const T* s = src + ptrdiff_t{p} * ld;
    float* d = dst + ptrdiff_t{p} * width;
    int r = 0;
    for (; r + 8 <= count; r += 8) _mm256_storeu_ps(d + r, Load8(s + r));
    for (; r < count; ++r) d[r] = Widen(s[r]);
    for (; r < width; ++r) d[r] = 0.0f;
  }
}

TIDE_AVX2 void PackRowsF32(const float* s, int ld, int count, int kc, int width, float* d) {
  PackRows(s, ld, count, kc, width, d);
}
TIDE_AVX2 void PackRowsBf16(const uint16_t* s, int ld, int count, int kc, int width, float* d) {
  PackRows(s, ld, count, kc, width, d);
}
TIDE_AVX2 void PackColsF32(const float* s, int ld, int count, int kc, int width, float* d) {
  PackCols(s, ld, count, kc, width, d);
}
TIDE_AVX2 void PackColsBf16(const uint16_t* s, int ld, int count, int kc, int width, float* d) {
  PackCols(s, ld, count, kc, width, d);
}

inline float Finish(float alpha, float sum, float beta, const float* c) {
  return beta == 0.0f ? alpha * sum : alpha * sum + beta * *c;
}

// MX rows of A against NW rows of W, full k.
template <int MX, int NW, typename T>
TIDE_AVX2 inline void DotBlock(int k, float alpha, const float* a, int lda, const T* w, int ldw, float beta,
                               float* c, int ldc) {
  __m256 acc[MX][NW];
  TIDE_UNROLL
  for (int i = 0; i < MX; ++i)
    TIDE_UNROLL
    for (int j = 0; j < NW; ++j) acc[i][j] = _mm256_setzero_ps();
  int p = 0;
  for (; p + 8 <= k; p += 8) {
    __m256 wv[NW];
    TIDE_UNROLL
    for (int j = 0; j < NW; ++j) wv[j] = Load8(w + ptrdiff_t{j} * ldw + p);
    TIDE_UNROLL
    for (int i = 0; i < MX; ++i) {
      const __m256 av = _mm256_loadu_ps(a + ptrdiff_t{i} * lda + p);
      TIDE_UNROLL
      for (int j = 0; j < NW; ++j) acc[i][j] = _mm256_fmadd_ps(av, wv[j], acc[i][j]);
    }
  }
  TIDE_UNROLL
  for (int i = 0; i < MX; ++i) {
    TIDE_UNROLL
    for (int j = 0; j < NW; ++j) {
      float sum = HorizontalSum(acc[i][j]);
      for (int q = p; q < k; ++q) sum += a[ptrdiff_t{i} * lda + q] * Widen(w[ptrdiff_t{j} * ldw + q]);
      float* cij = c + ptrdiff_t{i} * ldc + j;
      *cij = Finish(alpha, sum, beta, cij);
    }
  }
}

template <int MX, typename T>
TIDE_AVX2 inline void DotRowsOfA(int n, int k, float alpha, const float* a, int lda, const T* w, int ldw,
                                 float beta, float* c, int ldc) {
  int j = 0;
  for (; j + 4 <= n; j += 4) DotBlock<MX, 4>(k, alpha, a, lda, w + ptrdiff_t{j} * ldw, ldw, beta, c + j, ldc);
  for (; j < n; ++j) DotBlock<MX, 1>(k, alpha, a, lda, w + ptrdiff_t{j} * ldw, ldw, beta, c + j, ldc);
}

// W is walked in groups of 16 rows; each group (16 x k, in L2) serves every row of A
// before the next group is read, so W comes from memory once.
template <typename T>
TIDE_AVX2 inline void Dot(int m, int n, int k, float alpha, const float* a, int lda, const T* w, int ldw,
                          float beta, float* c, int ldc) {
  constexpr int kGroup = 16;
  for (int j0 = 0; j0 < n; j0 += kGroup) {
    const int nj = std::min(kGroup, n - j0);
    const T* wj = w + ptrdiff_t{j0} * ldw;
    int i = 0;
    for (; i + 2 <= m; i += 2) {  // 2 x 4 accumulators + 4 W vectors fit the 16 registers
      DotRowsOfA<2>(nj, k, alpha, a + ptrdiff_t{i} * lda, lda, wj, ldw, beta, c + ptrdiff_t{i} * ldc + j0, ldc);
    }
    if (i < m) {
      DotRowsOfA<1>(nj, k, alpha, a + ptrdiff_t{i} * lda, lda, wj, ldw, beta, c + ptrdiff_t{i} * ldc + j0, ldc);
    }
  }
}

TIDE_AVX2 void DotF32(int m, int n, int k, float alpha, const float* a, int lda, const float* w, int ldw,
                      float beta, float* c, int ldc) {
  Dot(m, n, k, alpha, a, lda, w, ldw, beta, c, ldc);
}
TIDE_AVX2 void DotBf16(int m, int n, int k, float alpha, const float* a, int lda, const uint16_t* w, int ldw,
                       float beta, float* c, int ldc) {
  Dot(m, n, k, alpha, a, lda, w, ldw, beta, c, ldc);
}

// MX rows of C, columns [j, j + 8*V): acc += A(i, p) * B[p, j..].
template <int MX, int V, typename T>
TIDE_AVX2 inline void AxpyBlock(int k, float alpha, const float* a, int a_row, int a_col, const T* b, int ldb,
                                float beta, float* c, int ldc) {
  __m256 acc[MX][V];
  TIDE_UNROLL
  for (int i = 0; i < MX; ++i)
    TIDE_UNROLL
    for (int v = 0; v < V; ++v) acc[i][v] = _mm256_setzero_ps();
  for (int p = 0; p < k; ++p) {
    __m256 bv[V];
    TIDE_UNROLL
    for (int v = 0; v < V; ++v) bv[v] = Load8(b + ptrdiff_t{p} * ldb + 8 * v);
    TIDE_UNROLL
    for (int i = 0; i < MX; ++i) {
      const __m256 av = _mm256_broadcast_ss(a + ptrdiff_t{i} * a_row + ptrdiff_t{p} * a_col);
      TIDE_UNROLL
      for (int v = 0; v < V; ++v) acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);
    }
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  TIDE_UNROLL
  for (int i = 0; i < MX; ++i) {
    TIDE_UNROLL
    for (int v = 0; v < V; ++v) {
      float* cp = c + ptrdiff_t{i} * ldc + 8 * v;
      __m256 r = _mm256_mul_ps(va, acc[i][v]);
      if (beta != 0.0f) r = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cp), r);
      _mm256_storeu_ps(cp, r);
    }
  }
}

template <int MX, typename T>
TIDE_AVX2 inline void AxpyRows(int n, int k, float alpha, const float* a, int a_row, int a_col, const T* b,
                               int ldb, float beta, float* c, int ldc) {
  int j = 0;
  for (; j + 32 <= n; j += 32) AxpyBlock<MX, 4>(k, alpha, a, a_row, a_col, b + j, ldb, beta, c + j, ldc);
  for (; j + 8 <= n; j += 8) AxpyBlock<MX, 1>(k, alpha, a, a_row, a_col, b + j, ldb, beta, c + j, ldc);
  for (; j < n; ++j) {
    TIDE_UNROLL
    for (int i = 0; i < MX; ++i) {
      float sum = 0.0f;
      for (int p = 0; p < k; ++p) {
        sum += a[ptrdiff_t{i} * a_row + ptrdiff_t{p} * a_col] * Widen(b[ptrdiff_t{p} * ldb + j]);
      }
      float* cij = c + ptrdiff_t{i} * ldc + j;
      *cij = Finish(alpha, sum, beta, cij);
    }
  }
}

template <typename T>
TIDE_AVX2 inline void Axpy(int m, int n, int k, float alpha, const float* a, int a_row, int a_col, const T* b,
                           int ldb, float beta, float* c, int ldc) {
  switch (m) {
    case 1: return AxpyRows<1>(n, k, alpha, a, a_row, a_col, b, ldb, beta, c, ldc);
    case 2: return AxpyRows<2>(n, k, alpha, a, a_row, a_col, b, ldb, beta, c, ldc);
    case 3: return AxpyRows<3>(n, k, alpha, a, a_row, a_col, b, ldb, beta, c, ldc);
    default: return AxpyRows<4>(n, k, alpha, a, a_row, a_col, b, ldb, beta, c, ldc);
  }
}

TIDE_AVX2 void AxpyF32(int m, int n, int k, float alpha, const float* a, int a_row, int a_col, const float* b,
                       int ldb, float beta, float* c, int ldc) {
  Axpy(m, n, k, alpha, a, a_row, a_col, b, ldb, beta, c, ldc);
}
TIDE_AVX2 void AxpyBf16(int m, int n, int k, float alpha, const float* a, int a_row, int a_col, const uint16_t* b,
                        int ldb, float beta, float* c, int ldc) {
  Axpy(m, n, k, alpha, a, a_row, a_col, b, ldb, beta, c, ldc);
}

}  // namespace

// Packing entry points shared with the AVX-512 table.
PackRowsF32Fn Avx2PackRowsF32() { return PackRowsF32; }
PackRowsBf16Fn Avx2PackRowsBf16() { return PackRowsBf16; }
PackColsF32Fn Avx2PackColsF32() { return PackColsF32; }
PackColsBf16Fn Avx2PackColsBf16() { return PackColsBf16; }

const GemmIsa* GemmIsaAvx2() {
  static const GemmIsa isa{.level = SimdLevel::kAvx2,
                           .mr = kMr,
                           .nr = kNr,
                           .kc = 256,
                           .mc = kMr * 24,
                           .nc = 4096,
                           .dot_max_m = 16,
                           .kernel = Kernel6x16,
                           .pack_rows_f32 = PackRowsF32,
                           .pack_rows_bf16 = PackRowsBf16,
                           .pack_cols_f32 = PackColsF32,
                           .pack_cols_bf16 = PackColsBf16,
                           .dot_f32 = DotF32,
                           .dot_bf16 = DotBf16,
                           .axpy_f32 = AxpyF32,
                           .axpy_bf16 = AxpyBf16,
                           .kernel_bf16 = nullptr,
                           .pairs_exact = nullptr,
                           .pairs_round = nullptr};
  return &isa;
}

}  // namespace tide::engine::gemm_internal

#else  // not x86

namespace tide::engine::gemm_internal {
const GemmIsa* GemmIsaAvx2() { return nullptr; }
}  // namespace tide::engine::gemm_internal

#endif
