// Int8-weight GEMV (see gemv_q8.h): quantisation, the double reference, and the fast path:
// the activation rows quantised once per call (shared read-only by the workers), then
// per-ISA kernels over spans of W rows on a ThreadPool. The x86 kernels are compiled with
// function target attributes and chosen at run time (cpu_features.h).
// Thread safety: pure functions (the quantised activations are thread_local scratch of
// the calling thread).
#include "tide/engine/kernels/gemv_q8.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "tide/engine/thread_pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TIDE_Q8_X86 1
#else
#define TIDE_Q8_X86 0
#endif

namespace tide::engine {
namespace {

using std::ptrdiff_t;

// Products smaller than this many (int8) operations run on the calling thread alone.
constexpr double kParallelOps = 1 << 20;
// Threads take W rows in groups of this many (a multiple of every kernel's row tile).
constexpr int kRowGroup = 8;

// Quantises n <= 32 values into one block of 32 (zero padded): returns the scale.
// Rounds to nearest even by adding and taking off 1.5 · 2^23 (exact for |v| < 2^22; at
// the baseline x86-64 target std::nearbyint is a libm call, 10x slower).
float QuantizeBlock(const float* v, int n, int8_t* q) {
  constexpr float kRound = 12582912.0f;
  float amax = 0.0f;
  for (int c = 0; c < n; ++c) amax = std::max(amax, std::fabs(v[c]));
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  for (int c = 0; c < kQ8Block; ++c) {
    const float r = c < n ? (v[c] * inv + kRound) - kRound : 0.0f;
    q[c] = static_cast<int8_t>(std::clamp(r, -127.0f, 127.0f));
  }
  return amax / 127.0f;
}

// The activation rows quantised like W. Row i of q holds `ld` bytes (the blocks rounded
// up to an even count, zero padded) and scale nb entries. For the VNNI kernel, row i of
// scale16 and bias16 holds 16 lanes per 64-byte chunk, 8 per block: the block's scale,
// and -16 · Σ (the block's q) (its eight lanes add up to -128 · Σ); zeros past nb.
struct Acts {
  int m = 0, nb = 0, chunks = 0, ld = 0;
  const int8_t* q = nullptr;
  const float* scale = nullptr;
  const float* scale16 = nullptr;
  const int32_t* bias16 = nullptr;
};

// One activation row: q (nb blocks), scale[nb], and scale16 / bias16 when not null.
using QuantizeRowFn = void (*)(const float* x, int cols, int8_t* q, float* scale, float* scale16,
                               int32_t* bias16);

void QuantizeRowScalar(const float* x, int cols, int8_t* q, float* scale, float* scale16, int32_t* bias16) {
  for (int b = 0; b * kQ8Block < cols; ++b) {
    const int c0 = b * kQ8Block;
    scale[b] = QuantizeBlock(x + c0, std::min(kQ8Block, cols - c0), q + c0);
    if (scale16 == nullptr) continue;
    int32_t sum = 0;
    for (int c = 0; c < kQ8Block; ++c) sum += q[c0 + c];
    std::fill(scale16 + 8 * b, scale16 + 8 * b + 8, scale[b]);
    std::fill(bias16 + 8 * b, bias16 + 8 * b + 8, -16 * sum);
  }
}

// y[i, r] for all i < a.m and W rows r in [r0, r1); y has row stride w.rows.
using KernelFn = void (*)(const Q8Matrix& w, const Acts& a, int r0, int r1, float* y);

void ScalarKernel(const Q8Matrix& w, const Acts& a, int r0, int r1, float* y) {
  const int nb = a.nb;
  for (int r = r0; r < r1; ++r) {
    const int8_t* wq = w.q.data() + ptrdiff_t{r} * nb * kQ8Block;
    const float* ws = w.scale.data() + ptrdiff_t{r} * nb;
    for (int i = 0; i < a.m; ++i) {
      const int8_t* xq = a.q + ptrdiff_t{i} * a.ld;
      const float* xs = a.scale + ptrdiff_t{i} * nb;
      float acc = 0.0f;
      for (int b = 0; b < nb; ++b) {
        int32_t dot = 0;
        for (int c = 0; c < kQ8Block; ++c) dot += int32_t{wq[b * kQ8Block + c]} * xq[b * kQ8Block + c];
        acc += ws[b] * xs[b] * static_cast<float>(dot);
      }
      y[ptrdiff_t{i} * w.rows + r] = acc;
    }
  }
}

#if TIDE_Q8_X86

#define TIDE_Q8_AVX2 __attribute__((target("avx2,fma")))
#define TIDE_Q8_VNNI __attribute__((target("avx512f,avx512vnni,avx2,fma")))
#define TIDE_UNROLL _Pragma("GCC unroll 16")

// W rows are streamed from memory, NW rows at a time: the hardware prefetcher alone
// leaves bandwidth unused. Each load prefetches the same place kTilesAhead tiles (of NW
// rows) further on (measured best on Zen 5 for the AVX2 and VNNI kernels alike). A
// prefetch never faults, so the address may lie past the matrix (integer arithmetic).
constexpr int kTilesAhead = 1;
inline void Prefetch(const int8_t* p, ptrdiff_t ahead) {
  _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(p) + ahead), _MM_HINT_T0);
}

TIDE_Q8_AVX2 inline float Sum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// QuantizeRowFn with AVX2 (also feeds the VNNI kernel: a block is only 32 values).
TIDE_Q8_AVX2 void QuantizeRowAvx2(const float* x, int cols, int8_t* q, float* scale, float* scale16,
                                  int32_t* bias16) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int b = 0; b * kQ8Block < cols; ++b) {
    const int c0 = b * kQ8Block, n = std::min(kQ8Block, cols - c0);
    alignas(32) float tail[kQ8Block] = {};  // a short last block, zero padded
    const float* p = x + c0;
    if (n < kQ8Block) {
      std::copy(p, p + n, tail);
      p = tail;
    }
    __m256 v[4], mx = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm256_loadu_ps(p + 8 * k);
      mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, v[k]));
    }
    mx = _mm256_max_ps(mx, _mm256_permute2f128_ps(mx, mx, 1));
    mx = _mm256_max_ps(mx, _mm256_permute_ps(mx, 0x4E));
    const float amax = _mm_cvtss_f32(_mm256_castps256_ps128(_mm256_max_ps(mx, _mm256_permute_ps(mx, 0xB1))));
    const __m256 inv = _mm256_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
    __m256i i32[4];
    for (int k = 0; k < 4; ++k) i32[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], inv));  // nearest even
    // Packing interleaves the 128-bit lanes; the permutation restores the order.
    const __m256i i8 = _mm256_packs_epi16(_mm256_packs_epi32(i32[0], i32[1]), _mm256_packs_epi32(i32[2], i32[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + c0), _mm256_permutevar8x32_epi32(i8, order));
    scale[b] = amax / 127.0f;
    if (scale16 == nullptr) continue;
    const __m256i s8 = _mm256_add_epi32(_mm256_add_epi32(i32[0], i32[1]), _mm256_add_epi32(i32[2], i32[3]));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    _mm256_storeu_ps(scale16 + 8 * b, _mm256_set1_ps(scale[b]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(bias16 + 8 * b), _mm256_set1_epi32(-16 * _mm_cvtsi128_si32(s4)));
  }
}

// MX activation rows against NW W rows from row r: one 32-byte block per step. sign(q, x)
// moves x's sign onto W so that |x| (u8, <= 127) x sign(q, x) (s8) fits vpmaddubsw.
template <int MX, int NW>
TIDE_Q8_AVX2 void Avx2Tile(const Q8Matrix& w, const Acts& a, int i0, int r, float* y) {
  const int nb = a.nb;
  const ptrdiff_t ldw = ptrdiff_t{nb} * kQ8Block;
  const int8_t* wq = w.q.data() + r * ldw;
  const float* ws = w.scale.data() + ptrdiff_t{r} * nb;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[MX][NW];
  TIDE_UNROLL
  for (int i = 0; i < MX; ++i)
    TIDE_UNROLL
    for (int j = 0; j < NW; ++j) acc[i][j] = _mm256_setzero_ps();
  for (int b = 0; b < nb; ++b) {
    __m256i wv[NW];
    __m256 dw[NW];
    TIDE_UNROLL
    for (int j = 0; j < NW; ++j) {
      const int8_t* p = wq + j * ldw + b * kQ8Block;
      Prefetch(p, kTilesAhead * NW * ldw);
      wv[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
      dw[j] = _mm256_broadcast_ss(ws + ptrdiff_t{j} * nb + b);
    }
    TIDE_UNROLL
    for (int i = 0; i < MX; ++i) {
      const int ii = i0 + i;
      const int8_t* xq = a.q + ptrdiff_t{ii} * a.ld + b * kQ8Block;
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq));
      const __m256i ax = _mm256_abs_epi8(xv);
      const __m256 dx = _mm256_broadcast_ss(a.scale + ptrdiff_t{ii} * nb + b);
      TIDE_UNROLL
      for (int j = 0; j < NW; ++j) {
        const __m256i p16 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(wv[j], xv));
        const __m256 dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones));
        acc[i][j] = _mm256_fmadd_ps(dot, _mm256_mul_ps(dw[j], dx), acc[i][j]);
      }
    }
  }
  TIDE_UNROLL
  for (int i = 0; i < MX; ++i)
    TIDE_UNROLL
    for (int j = 0; j < NW; ++j) y[ptrdiff_t{i0 + i} * w.rows + r + j] = Sum8(acc[i][j]);
}

TIDE_Q8_VNNI inline float Sum16(__m512 v) {
  // Masked shuffles with every lane selected avoid GCC 12's _mm512_undefined_* sources
  // (false -Wmaybe-uninitialized inside its headers, as _mm512_reduce_* do).
  constexpr __mmask16 kAll = 0xFFFF;
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, kAll, v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, kAll, v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  __m128 s = _mm512_mask_extractf32x4_ps(_mm_setzero_ps(), 0xF, v, 0);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The same with AVX-512 VNNI, one 64-byte chunk (two blocks) per step: u = q ^ 0x80 is
// q + 128 as u8, and vpdpbusd(-16 · Σx per lane, u, x) sums Σ q·x exactly over a block's
// eight lanes. An odd last block is loaded alone (the upper half reads as zero: u = 128
// against x = 0, bias 0, scale 0).
template <int MX, int NW>
TIDE_Q8_VNNI void VnniTile(const Q8Matrix& w, const Acts& a, int i0, int r, float* y) {
  const int nb = a.nb;
  const ptrdiff_t ldw = ptrdiff_t{nb} * kQ8Block;
  const int8_t* wq = w.q.data() + r * ldw;
  const float* ws = w.scale.data() + ptrdiff_t{r} * nb;
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  constexpr __mmask16 kAll = 0xFFFF;  // zero-masked forms: see Sum16
  const __m512i spread = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  __m512 acc[MX][NW];
  TIDE_UNROLL
  for (int i = 0; i < MX; ++i)
    TIDE_UNROLL
    for (int j = 0; j < NW; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int c = 0; c < a.chunks; ++c) {
    const bool pair = 2 * c + 1 < nb;
    __m512i u[NW];
    __m512 dw[NW];
    TIDE_UNROLL
    for (int j = 0; j < NW; ++j) {
      const int8_t* p = wq + j * ldw + c * 2 * kQ8Block;
      Prefetch(p, kTilesAhead * NW * ldw);
      const float* s = ws + ptrdiff_t{j} * nb + 2 * c;
      if (pair) {
        u[j] = _mm512_xor_si512(_mm512_loadu_si512(p), flip);
        double both;  // the two scales: one 64-bit broadcast, then spread in-lane
        std::memcpy(&both, s, sizeof both);
        dw[j] = _mm512_maskz_permutevar_ps(kAll, _mm512_castpd_ps(_mm512_set1_pd(both)), spread);
      } else {
        u[j] = _mm512_xor_si512(_mm512_maskz_loadu_epi32(0x00FF, p), flip);
        dw[j] = _mm512_maskz_mov_ps(0x00FF, _mm512_set1_ps(s[0]));
      }
    }
    TIDE_UNROLL
    for (int i = 0; i < MX; ++i) {
      const ptrdiff_t ii = i0 + i;
      const __m512i xv = _mm512_loadu_si512(a.q + ii * a.ld + c * 2 * kQ8Block);
      const __m512i bias = _mm512_loadu_si512(a.bias16 + (ii * a.chunks + c) * 16);
      const __m512 dx = _mm512_loadu_ps(a.scale16 + (ii * a.chunks + c) * 16);
      TIDE_UNROLL
      for (int j = 0; j < NW; ++j) {
        const __m512 dot = _mm512_maskz_cvtepi32_ps(kAll, _mm512_dpbusd_epi32(bias, u[j], xv));
        acc[i][j] = _mm512_fmadd_ps(dot, _mm512_mul_ps(dw[j], dx), acc[i][j]);
      }
    }
  }
  TIDE_UNROLL
  for (int i = 0; i < MX; ++i)
    TIDE_UNROLL
    for (int j = 0; j < NW; ++j) y[(i0 + i) * ptrdiff_t{w.rows} + r + j] = Sum16(acc[i][j]);
}

// Rows [r0, r1) of W in tiles of NW rows (single rows at the end), each tile against the
// activation rows four at a time: the tile's rows of W come from memory once and stay in
// L1 / L2 for the later rows of x.
template <template <int, int> class Tile, int NW>
void RunTiles(const Q8Matrix& w, const Acts& a, int r0, int r1, float* y) {
  auto rows_of_x = [&]<int N>(int r) {
    int i = 0;
    for (; i + 4 <= a.m; i += 4) Tile<4, N>::Run(w, a, i, r, y);
    switch (a.m - i) {
      case 3: Tile<3, N>::Run(w, a, i, r, y); break;
      case 2: Tile<2, N>::Run(w, a, i, r, y); break;
      case 1: Tile<1, N>::Run(w, a, i, r, y); break;
      default: break;
    }
  };
  int r = r0;
  for (; r + NW <= r1; r += NW) rows_of_x.template operator()<NW>(r);
  for (; r < r1; ++r) rows_of_x.template operator()<1>(r);
}

template <int MX, int NW>
struct Avx2T {
  static void Run(const Q8Matrix& w, const Acts& a, int i0, int r, float* y) { Avx2Tile<MX, NW>(w, a, i0, r, y); }
};
template <int MX, int NW>
struct VnniT {
  static void Run(const Q8Matrix& w, const Acts& a, int i0, int r, float* y) { VnniTile<MX, NW>(w, a, i0, r, y); }
};

// AVX2 has 16 vector registers: four W rows in flight for one or two rows of x, else two.
void Avx2Kernel(const Q8Matrix& w, const Acts& a, int r0, int r1, float* y) {
  (a.m <= 2 ? RunTiles<Avx2T, 4> : RunTiles<Avx2T, 2>)(w, a, r0, r1, y);
}
void VnniKernel(const Q8Matrix& w, const Acts& a, int r0, int r1, float* y) { RunTiles<VnniT, 4>(w, a, r0, r1, y); }

#endif  // TIDE_Q8_X86

Acts QuantizeActs(QuantizeRowFn quantize, const float* x, int m, int cols, bool vnni) {
  thread_local std::vector<int8_t> q_store;
  thread_local std::vector<float> scale_store, scale16_store;
  thread_local std::vector<int32_t> bias16_store;
  Acts a;
  a.m = m;
  a.nb = (cols + kQ8Block - 1) / kQ8Block;
  a.chunks = (a.nb + 1) / 2;
  a.ld = a.chunks * 2 * kQ8Block;
  q_store.assign(static_cast<size_t>(m) * a.ld, 0);
  scale_store.resize(static_cast<size_t>(m) * a.nb);
  const size_t ld16 = static_cast<size_t>(a.chunks) * 16;
  if (vnni) {
    scale16_store.assign(m * ld16, 0.0f);
    bias16_store.assign(m * ld16, 0);
  }
  for (int i = 0; i < m; ++i) {
    quantize(x + ptrdiff_t{i} * cols, cols, q_store.data() + ptrdiff_t{i} * a.ld,
             scale_store.data() + ptrdiff_t{i} * a.nb, vnni ? scale16_store.data() + i * ld16 : nullptr,
             vnni ? bias16_store.data() + i * ld16 : nullptr);
  }
  a.q = q_store.data();
  a.scale = scale_store.data();
  a.scale16 = vnni ? scale16_store.data() : nullptr;
  a.bias16 = vnni ? bias16_store.data() : nullptr;
  return a;
}

struct Choice {
  KernelFn kernel;
  QuantizeRowFn quantize;
  bool vnni;
};

Choice Choose(SimdLevel level) {
  if (!SimdLevelSupported(level)) level = DetectSimdLevel();
#if TIDE_Q8_X86
  if (level == SimdLevel::kAvx512 && CpuHasAvx512Vnni()) return {VnniKernel, QuantizeRowAvx2, true};
  if (level >= SimdLevel::kAvx2) return {Avx2Kernel, QuantizeRowAvx2, false};
#endif
  return {ScalarKernel, QuantizeRowScalar, false};
}

}  // namespace

Q8Matrix QuantizeQ8(const float* w, int rows, int cols) {
  Q8Matrix out;
  out.rows = std::max(rows, 0);
  out.cols = std::max(cols, 0);
  const int nb = out.BlocksPerRow();
  out.q.assign(static_cast<size_t>(out.rows) * nb * kQ8Block, 0);
  out.scale.assign(static_cast<size_t>(out.rows) * nb, 0.0f);
  for (int r = 0; r < out.rows; ++r) {
    for (int b = 0; b < nb; ++b) {
      const size_t at = static_cast<size_t>(r) * nb + b;
      const int c0 = b * kQ8Block;
      out.scale[at] =
          QuantizeBlock(w + ptrdiff_t{r} * cols + c0, std::min(kQ8Block, cols - c0), out.q.data() + at * kQ8Block);
    }
  }
  return out;
}

void GemvQ8Reference(const Q8Matrix& w, const float* x, int m, float* y) {
  const int nb = w.BlocksPerRow();
  for (int i = 0; i < m; ++i) {
    const float* xi = x + ptrdiff_t{i} * w.cols;
    for (int r = 0; r < w.rows; ++r) {
      double acc = 0.0;
      for (int c = 0; c < w.cols; ++c) {
        const size_t block = static_cast<size_t>(r) * nb + c / kQ8Block;
        const double wv = static_cast<double>(w.scale[block]) * w.q[block * kQ8Block + c % kQ8Block];
        acc += wv * xi[c];
      }
      y[ptrdiff_t{i} * w.rows + r] = static_cast<float>(acc);
    }
  }
}

void GemvQ8At(SimdLevel level, ThreadPool* pool_or_null, const Q8Matrix& w, const float* x, int m, float* y) {
  if (m <= 0 || w.rows <= 0) return;
  if (w.cols <= 0) {
    std::fill(y, y + ptrdiff_t{m} * w.rows, 0.0f);
    return;
  }
  const Choice choice = Choose(level);
  const Acts acts = QuantizeActs(choice.quantize, x, m, w.cols, choice.vnni);
  ThreadPool& pool = pool_or_null != nullptr ? *pool_or_null : ThreadPool::Default();
  const int64_t groups = (w.rows + kRowGroup - 1) / kRowGroup;
  const double group_ops = 2.0 * m * kRowGroup * w.cols;
  const int64_t grain = groups * group_ops < kParallelOps ? groups : 1;
  pool.ParallelFor(groups, grain, [&](int64_t g0, int64_t g1) {
    const int r0 = static_cast<int>(g0 * kRowGroup);
    const int r1 = static_cast<int>(std::min<int64_t>(w.rows, g1 * kRowGroup));
    choice.kernel(w, acts, r0, r1, y);
  });
}

void GemvQ8(const Q8Matrix& w, const float* x, int m, float* y) {
  GemvQ8At(DetectSimdLevel(), nullptr, w, x, m, y);
}

bool GemvQ8UsesVnni(SimdLevel level) { return Choose(level).vnni; }

}  // namespace tide::engine
