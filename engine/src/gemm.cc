// GEMM (see gemm.h): the double-accumulating references, the portable scalar kernels,
// and the driver that picks a path per shape and runs it on a ThreadPool:
//   - m <= GemmIsa::dot_max_m (64 for AVX-512, measured; beyond 16 rows only for k >= 256)
//     with op(B) = Wᵀ (B stored [n, k], the forward y = x·Wᵀ, decode): dot products of A
//     rows with W rows, W streamed once, threads over W rows;
//   - m <= kAxpyMaxM with B stored [k, n]: rows of B scaled and added, B streamed once,
//     threads over column blocks;
//   - otherwise the blocked algorithm (Goto / BLIS): for each nc-wide, kc-deep block of B,
//     pack it into nr-wide micro-panels (transposes and bf16 widening happen here), then
//     for each mc-tall block of A pack it into mr-tall micro-panels and run the mr x nr
//     micro-kernel over all tiles. Threads split the row tiles of C or the column panels,
//     whichever balances better; B packing is split over panels too.
// Results do not depend on the thread count: every element of C is summed by one thread
// in the same order whatever the split.
// Thread safety: pure functions (scratch buffers are thread_local); concurrent calls on
// different outputs are fine.
#include "tide/engine/kernels/gemm.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

#include "tide/engine/kernels/gemm_kernels.h"
#include "tide/engine/thread_pool.h"

namespace tide::engine {
namespace {

using std::ptrdiff_t;
using namespace gemm_internal;

// Products smaller than this many flops run on the calling thread alone...
constexpr double kParallelFlops = 1 << 20;
// ...unless they stream at least this many bytes of B: a few rows times a weight matrix
// (decode) is memory bound, and two cores read it faster than one (the pool hands work
// off in about a microsecond).
constexpr double kParallelBytes = 64 * 1024;

inline float Widen(float x) { return x; }
inline float Widen(uint16_t x) {
  const uint32_t bits = static_cast<uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

template <typename TB>
void ReferenceImpl(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda, const TB* b,
                   int ldb, float beta, float* c, int ldc) {
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int p = 0; p < k; ++p) {
        const float av = ta == Trans::kNo ? a[ptrdiff_t{i} * lda + p] : a[ptrdiff_t{p} * lda + i];
        const float bv = Widen(tb == Trans::kNo ? b[ptrdiff_t{p} * ldb + j] : b[ptrdiff_t{j} * ldb + p]);
        acc += static_cast<double>(av) * bv;
      }
      float* cij = c + ptrdiff_t{i} * ldc + j;
      const double out = beta == 0.0f ? alpha * acc : alpha * acc + static_cast<double>(beta) * *cij;
      *cij = static_cast<float>(out);
    }
  }
}

// ---- Portable kernels (the kScalar level). Plain loops the compiler may vectorise. ----

constexpr int kScalarMr = 4;
constexpr int kScalarNr = 8;

void ScalarKernel(int kc, const float* a, const float* b, float* c, int ldc, float alpha, float beta) {
  float acc[kScalarMr][kScalarNr] = {};
  for (int p = 0; p < kc; ++p) {
    for (int i = 0; i < kScalarMr; ++i) {
      for (int j = 0; j < kScalarNr; ++j) acc[i][j] += a[i] * b[j];
    }
    a += kScalarMr;
    b += kScalarNr;
  }
  for (int i = 0; i < kScalarMr; ++i) {
    float* ci = c + ptrdiff_t{i} * ldc;
    for (int j = 0; j < kScalarNr; ++j) ci[j] = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * ci[j];
  }
}

template <typename T>
void ScalarPackRows(const T* src, int ld, int count, int kc, int width, float* dst) {
  for (int p = 0; p < kc; ++p) {
    for (int r = 0; r < width; ++r) {
      dst[ptrdiff_t{p} * width + r] = r < count ? Widen(src[ptrdiff_t{r} * ld + p]) : 0.0f;
    }
  }
}

template <typename T>
void ScalarPackCols(const T* src, int ld, int count, int kc, int width, float* dst) {
  for (int p = 0; p < kc; ++p) {
    for (int r = 0; r < width; ++r) {
      dst[ptrdiff_t{p} * width + r] = r < count ? Widen(src[ptrdiff_t{p} * ld + r]) : 0.0f;
    }
  }
}

template <typename T>
void ScalarDot(int m, int n, int k, float alpha, const float* a, int lda, const T* w, int ldw, float beta, float* c,
               int ldc) {
  for (int j = 0; j < n; ++j) {
    const T* wj = w + ptrdiff_t{j} * ldw;
    for (int i = 0; i < m; ++i) {
      const float* ai = a + ptrdiff_t{i} * lda;
      float acc[8] = {};
      int p = 0;
      for (; p + 8 <= k; p += 8) {
        for (int q = 0; q < 8; ++q) acc[q] += ai[p + q] * Widen(wj[p + q]);
      }
      float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
      for (; p < k; ++p) sum += ai[p] * Widen(wj[p]);
      float* cij = c + ptrdiff_t{i} * ldc + j;
      *cij = beta == 0.0f ? alpha * sum : alpha * sum + beta * *cij;
    }
  }
}

template <typename T>
void ScalarAxpy(int m, int n, int k, float alpha, const float* a, int a_row, int a_col, const T* b, int ldb,
                float beta, float* c, int ldc) {
  constexpr int kBlock = 64;
  for (int j0 = 0; j0 < n; j0 += kBlock) {
    const int nb = std::min(kBlock, n - j0);
    for (int i = 0; i < m; ++i) {
      float acc[kBlock] = {};
      for (int p = 0; p < k; ++p) {
        const float av = a[ptrdiff_t{i} * a_row + ptrdiff_t{p} * a_col];
        const T* bp = b + ptrdiff_t{p} * ldb + j0;
        for (int j = 0; j < nb; ++j) acc[j] += av * Widen(bp[j]);
      }
      float* ci = c + ptrdiff_t{i} * ldc + j0;
      for (int j = 0; j < nb; ++j) ci[j] = beta == 0.0f ? alpha * acc[j] : alpha * acc[j] + beta * ci[j];
    }
  }
}

// ---- Driver. ----

// A 64-byte aligned scratch array that only grows; one per thread and purpose.
class Scratch {
 public:
  ~Scratch() { std::free(data_); }
  float* Get(size_t floats) {
    if (floats > capacity_) {
      std::free(data_);
      const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
      data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (data_ == nullptr) throw std::bad_alloc();
      capacity_ = bytes / sizeof(float);
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  size_t capacity_ = 0;
};

thread_local Scratch t_pack_a;  // a packed A block (each thread its own)
thread_local Scratch t_pack_b;  // the caller's packed B block, shared with the workers
thread_local Scratch t_rows_a;  // op(A) materialised as rows for the dot path
thread_local Scratch t_pack_f32;  // an f32 micro-panel on its way to bf16 pairs

const GemmIsa& IsaFor(SimdLevel level) {
  if (!SimdLevelSupported(level)) level = DetectSimdLevel();
  if (level == SimdLevel::kAvx512) {
    if (const GemmIsa* isa = GemmIsaAvx512()) return *isa;
  }
  if (level >= SimdLevel::kAvx2) {
    if (const GemmIsa* isa = GemmIsaAvx2()) return *isa;
  }
  return GemmIsaScalar();
}

void PackRows(const GemmIsa& isa, const float* s, int ld, int count, int kc, int width, float* d) {
  isa.pack_rows_f32(s, ld, count, kc, width, d);
}
void PackRows(const GemmIsa& isa, const uint16_t* s, int ld, int count, int kc, int width, float* d) {
  isa.pack_rows_bf16(s, ld, count, kc, width, d);
}
void PackCols(const GemmIsa& isa, const float* s, int ld, int count, int kc, int width, float* d) {
  isa.pack_cols_f32(s, ld, count, kc, width, d);
}
void PackCols(const GemmIsa& isa, const uint16_t* s, int ld, int count, int kc, int width, float* d) {
  isa.pack_cols_bf16(s, ld, count, kc, width, d);
}
void RunDot(const GemmIsa& isa, int m, int n, int k, float alpha, const float* a, int lda, const float* w, int ldw,
            float beta, float* c, int ldc) {
  isa.dot_f32(m, n, k, alpha, a, lda, w, ldw, beta, c, ldc);
}
void RunDot(const GemmIsa& isa, int m, int n, int k, float alpha, const float* a, int lda, const uint16_t* w,
            int ldw, float beta, float* c, int ldc) {
  isa.dot_bf16(m, n, k, alpha, a, lda, w, ldw, beta, c, ldc);
}
void RunAxpy(const GemmIsa& isa, int m, int n, int k, float alpha, const float* a, int a_row, int a_col,
             const float* b, int ldb, float beta, float* c, int ldc) {
  isa.axpy_f32(m, n, k, alpha, a, a_row, a_col, b, ldb, beta, c, ldc);
}
void RunAxpy(const GemmIsa& isa, int m, int n, int k, float alpha, const float* a, int a_row, int a_col,
             const uint16_t* b, int ldb, float beta, float* c, int ldc) {
  isa.axpy_bf16(m, n, k, alpha, a, a_row, a_col, b, ldb, beta, c, ldc);
}

// C = beta * C (beta == 0 writes zeros without reading).
void ScaleC(int m, int n, float beta, float* c, int ldc) {
  if (beta == 1.0f) return;
  for (int i = 0; i < m; ++i) {
    float* ci = c + ptrdiff_t{i} * ldc;
    if (beta == 0.0f) {
      std::fill(ci, ci + n, 0.0f);
    } else {
      for (int j = 0; j < n; ++j) ci[j] *= beta;
    }
  }
}

// Chunk size (in units of `unit_flops` each, reading `unit_bytes` of B each) that keeps
// small products on one thread.
int64_t Grain(int64_t units, double unit_flops, double unit_bytes = 0) {
  if (units * unit_flops < kParallelFlops && units * unit_bytes < kParallelBytes) return units;
  return 1;
}

template <typename TB>
void DotPath(const GemmIsa& isa, ThreadPool& pool, Trans ta, int m, int n, int k, float alpha, const float* a,
             int lda, const TB* w, int ldw, float beta, float* c, int ldc) {
  if (ta == Trans::kYes) {  // op(A) rows must be contiguous: transpose the few rows once
    float* rows = t_rows_a.Get(static_cast<size_t>(m) * k);
    for (int p = 0; p < k; ++p) {
      for (int i = 0; i < m; ++i) rows[ptrdiff_t{i} * k + p] = a[ptrdiff_t{p} * lda + i];
    }
    a = rows;
    lda = k;
  }
  pool.ParallelFor(n, Grain(n, 2.0 * m * k, 1.0 * k * sizeof(TB)), [&](int64_t j0, int64_t j1) {
    RunDot(isa, m, static_cast<int>(j1 - j0), k, alpha, a, lda, w + j0 * ldw, ldw, beta, c + j0, ldc);
  });
}

template <typename TB>
void AxpyPath(const GemmIsa& isa, ThreadPool& pool, Trans ta, int m, int n, int k, float alpha, const float* a,
              int lda, const TB* b, int ldb, float beta, float* c, int ldc) {
  constexpr int kCols = 64;
  const int a_row = ta == Trans::kNo ? lda : 1;
  const int a_col = ta == Trans::kNo ? 1 : lda;
  const int64_t blocks = (n + kCols - 1) / kCols;
  const double block_bytes = 1.0 * k * kCols * sizeof(TB);
  pool.ParallelFor(blocks, Grain(blocks, 2.0 * m * k * kCols, block_bytes), [&](int64_t q0, int64_t q1) {
    const int j0 = static_cast<int>(q0 * kCols);
    const int j1 = static_cast<int>(std::min<int64_t>(n, q1 * kCols));
    RunAxpy(isa, m, j1 - j0, k, alpha, a, a_row, a_col, b + j0, ldb, beta, c + j0, ldc);
  });
}

template <typename TB>
void BlockedPath(const GemmIsa& isa, ThreadPool& pool, Trans ta, Trans tb, int m, int n, int k, float alpha,
                 const float* a, int lda, const TB* b, int ldb, float beta, float* c, int ldc) {
  // bf16 B on a CPU with AVX-512 BF16, and enough rows to be compute bound: panels of
  // bf16 pairs (A rounded to bf16) and the vdpbf16ps kernel. Otherwise B is widened.
  const bool pairs = std::is_same_v<TB, uint16_t> && isa.kernel_bf16 != nullptr && m > isa.dot_max_m;
  const int mr = isa.mr, nr = isa.nr;
  const int k_blocks = (k + isa.kc - 1) / isa.kc;
  int kc = (k + k_blocks - 1) / k_blocks;  // equal depths, none left short
  if (pairs) kc += kc % 2;                 // whole pairs but for the last block
  const int nc = std::min((n + nr - 1) / nr * nr, isa.nc);
  const int m_tiles = (m + mr - 1) / mr;
  const int mc_tiles = isa.mc / mr;
  // Threads split the row tiles or the column panels, whichever leaves the busiest thread
  // the least work (rows on a tie: each thread then packs only its own rows of A).
  const int64_t threads = pool.size();
  const int panels_total = (std::min(n, nc) + nr - 1) / nr;
  const bool split_rows = (m_tiles + threads - 1) / threads * panels_total <=
                          (panels_total + threads - 1) / threads * m_tiles;
  float* packed_b = t_pack_b.Get(static_cast<size_t>(kc) * nc);

  for (int jc = 0; jc < n; jc += nc) {
    const int ncur = std::min(nc, n - jc);
    const int panels = (ncur + nr - 1) / nr;
    for (int pc = 0; pc < k; pc += kc) {
      const int kcur = std::min(kc, k - pc);
      const int depth = pairs ? (kcur + 1) / 2 : kcur;  // packed words per lane
      const float beta_now = pc == 0 ? beta : 1.0f;
      pool.ParallelFor(panels, Grain(panels, 2.0 * m * kcur * nr), [&](int64_t q0, int64_t q1) {
        float* f32 = pairs ? t_pack_f32.Get(static_cast<size_t>(kcur) * nr) : nullptr;
        for (int64_t q = q0; q < q1; ++q) {
          const int j = jc + static_cast<int>(q) * nr;
          const int count = std::min(nr, n - j);
          float* dst = packed_b + q * nr * depth;
          float* out = pairs ? f32 : dst;
          if (tb == Trans::kNo) {
            PackCols(isa, b + ptrdiff_t{pc} * ldb + j, ldb, count, kcur, nr, out);
          } else {
            PackRows(isa, b + ptrdiff_t{j} * ldb + pc, ldb, count, kcur, nr, out);
          }
          if (pairs) isa.pairs_exact(f32, kcur, nr, reinterpret_cast<uint32_t*>(dst));
        }
      });

      // Rows [t0, t1) in micro-panels of A times column panels [q0, q1) of B.
      auto compute = [&](int64_t t0, int64_t t1, int64_t q0, int64_t q1) {
        float* packed_a = t_pack_a.Get(static_cast<size_t>(mc_tiles) * mr * kcur);
        float* f32 = pairs ? t_pack_f32.Get(static_cast<size_t>(kcur) * mr) : nullptr;
        alignas(64) float tile[32 * 32];
        auto kernel = [&](const float* ap, const float* bp, float* ct, int ldct, float beta_tile) {
          if (pairs) {
            isa.kernel_bf16(depth, reinterpret_cast<const uint32_t*>(ap), reinterpret_cast<const uint32_t*>(bp), ct,
                            ldct, alpha, beta_tile);
          } else {
            isa.kernel(kcur, ap, bp, ct, ldct, alpha, beta_tile);
          }
        };
        const int64_t blocks = (t1 - t0 + mc_tiles - 1) / mc_tiles;
        const int64_t step = (t1 - t0 + blocks - 1) / blocks;  // equal blocks, none left short
        for (int64_t tb0 = t0; tb0 < t1; tb0 += step) {
          const int64_t tb1 = std::min(t1, tb0 + step);
          for (int64_t t = tb0; t < tb1; ++t) {
            const int i = static_cast<int>(t) * mr;
            const int count = std::min(mr, m - i);
            float* dst = packed_a + (t - tb0) * mr * depth;
            float* out = pairs ? f32 : dst;
            if (ta == Trans::kNo) {
              isa.pack_rows_f32(a + ptrdiff_t{i} * lda + pc, lda, count, kcur, mr, out);
            } else {
              isa.pack_cols_f32(a + ptrdiff_t{pc} * lda + i, lda, count, kcur, mr, out);
            }
            if (pairs) isa.pairs_round(f32, kcur, mr, reinterpret_cast<uint32_t*>(dst));
          }
          for (int64_t q = q0; q < q1; ++q) {
            const int j = jc + static_cast<int>(q) * nr;
            const int cols = std::min(nr, n - j);
            const float* bp = packed_b + q * nr * depth;
            for (int64_t t = tb0; t < tb1; ++t) {
              const int i = static_cast<int>(t) * mr;
              const int rows = std::min(mr, m - i);
              const float* ap = packed_a + (t - tb0) * mr * depth;
              float* ct = c + ptrdiff_t{i} * ldc + j;
              if (rows == mr && cols == nr) {
                kernel(ap, bp, ct, ldc, beta_now);
                continue;
              }
              kernel(ap, bp, tile, nr, 0.0f);  // edge tile: via a full one
              for (int r = 0; r < rows; ++r) {
                float* cr = ct + ptrdiff_t{r} * ldc;
                const float* tr = tile + r * nr;
                for (int s = 0; s < cols; ++s) cr[s] = beta_now == 0.0f ? tr[s] : tr[s] + beta_now * cr[s];
              }
            }
          }
        }
      };
      const double tile_flops = 2.0 * mr * nr * kcur;
      if (split_rows) {
        pool.ParallelFor(m_tiles, Grain(m_tiles, tile_flops * panels),
                         [&](int64_t t0, int64_t t1) { compute(t0, t1, 0, panels); });
      } else {
        pool.ParallelFor(panels, Grain(panels, tile_flops * m_tiles),
                         [&](int64_t q0, int64_t q1) { compute(0, m_tiles, q0, q1); });
      }
    }
  }
}

template <typename TB>
void Dispatch(SimdLevel level, ThreadPool* pool_or_null, Trans ta, Trans tb, int m, int n, int k, float alpha,
              const float* a, int lda, const TB* b, int ldb, float beta, float* c, int ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {  // BLAS: A and B are not read
    ScaleC(m, n, beta, c, ldc);
    return;
  }
  const GemmIsa& isa = IsaFor(level);
  ThreadPool& pool = pool_or_null != nullptr ? *pool_or_null : ThreadPool::Default();
  // Dot products cost a horizontal sum per element of C: beyond 16 rows only worth it
  // for long rows (measured: 64^3 3.7 us blocked vs 9 us dot; at k = 1024 dot wins to m = 64).
  if (tb == Trans::kYes && m <= isa.dot_max_m && (m <= 16 || k >= 256)) {
    DotPath(isa, pool, ta, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else if (tb == Trans::kNo && m <= kAxpyMaxM) {
    AxpyPath(isa, pool, ta, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else {
    BlockedPath(isa, pool, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

}  // namespace

namespace gemm_internal {

const GemmIsa& GemmIsaScalar() {
  static const GemmIsa isa{.level = SimdLevel::kScalar,
                           .mr = kScalarMr,
                           .nr = kScalarNr,
                           .kc = 256,
                           .mc = kScalarMr * 32,
                           .nc = 2048,
                           .dot_max_m = 4,
                           .kernel = ScalarKernel,
                           .pack_rows_f32 = ScalarPackRows<float>,
                           .pack_rows_bf16 = ScalarPackRows<uint16_t>,
                           .pack_cols_f32 = ScalarPackCols<float>,
                           .pack_cols_bf16 = ScalarPackCols<uint16_t>,
                           .dot_f32 = ScalarDot<float>,
                           .dot_bf16 = ScalarDot<uint16_t>,
                           .axpy_f32 = ScalarAxpy<float>,
                           .axpy_bf16 = ScalarAxpy<uint16_t>,
                           .kernel_bf16 = nullptr,
                           .pairs_exact = nullptr,
                           .pairs_round = nullptr};
  return isa;
}

}  // namespace gemm_internal

void GemmReference(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                   int ldb, float beta, float* c, int ldc) {
  ReferenceImpl(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void GemmBf16Reference(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda,
                       const uint16_t* b, int ldb, float beta, float* c, int ldc) {
  ReferenceImpl(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void GemmAt(SimdLevel level, ThreadPool* pool, Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a,
            int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  Dispatch(level, pool, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void GemmBf16At(SimdLevel level, ThreadPool* pool, Trans ta, Trans tb, int m, int n, int k, float alpha,
                const float* a, int lda, const uint16_t* b, int ldb, float beta, float* c, int ldc) {
  Dispatch(level, pool, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void Gemm(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
          float beta, float* c, int ldc) {
  Dispatch(DetectSimdLevel(), nullptr, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void GemmBf16(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda, const uint16_t* b,
              int ldb, float beta, float* c, int ldc) {
  Dispatch(DetectSimdLevel(), nullptr, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace tide::engine
