// Internal to the GEMM implementation (gemm.cc, gemm_avx512.cc, gemm_avx2.cc): the
// per-instruction-set building blocks the blocked driver in gemm.cc is assembled from.
// Callers use gemm.h; this header is public only so the translation units (and tests
// that want to look at the blocking) share one definition.
//
// Layouts. A packed A block holds micro-panels of `mr` rows: for each k index p, the mr
// values op(A)[i0 .. i0+mr, p] are contiguous. A packed B block holds micro-panels of
// `nr` columns: for each p, op(B)[p, j0 .. j0+nr] are contiguous. Rows or columns past
// the matrix edge are packed as zeros, so the micro-kernel always computes a full tile.
//
// Thread safety: every function here is pure (writes only its output arguments).
#pragma once

#include <cstdint>

#include "tide/engine/kernels/cpu_features.h"

namespace tide::engine::gemm_internal {

// Micro-kernel: acc[mr x nr] = sum over p < kc of a[p*mr + i] * b[p*nr + j], then
// C[i, j] = alpha * acc + beta * C[i, j] for the full mr x nr tile at c (row stride ldc).
// beta == 0 stores without reading C.
using MicroKernelFn = void (*)(int kc, const float* a, const float* b, float* c, int ldc, float alpha,
                               float beta);

// The bf16 micro-kernel (AVX-512 BF16, vdpbf16ps): as MicroKernelFn, over kq pairs of k
// indices. Packed panels hold 32-bit words, each a pair of bf16 values (k index 2q in
// the low half, 2q + 1 in the high half): a[q*mr + i], b[q*nr + j].
using MicroKernelBf16Fn = void (*)(int kq, const uint32_t* a, const uint32_t* b, float* c, int ldc, float alpha,
                                   float beta);
// Turns a packed f32 micro-panel (kc x width) into bf16 pairs (ceil(kc / 2) x width; an
// odd last k index pairs with zero): exactly (the values are bf16 already: B) or
// rounding to nearest even (A).
using PackPairsFn = void (*)(const float* src, int kc, int width, uint32_t* dst);

// Packs a `width`-wide micro-panel from `count` <= width source rows: dst[p*width + r] =
// src[r*ld + p] for r < count, p < kc; lanes r >= count are zero. (op(A) with A not
// transposed, op(B) with B transposed: both read rows of the stored matrix.)
using PackRowsF32Fn = void (*)(const float* src, int ld, int count, int kc, int width, float* dst);
using PackRowsBf16Fn = void (*)(const uint16_t* src, int ld, int count, int kc, int width, float* dst);
// Packs from `count` <= width contiguous source columns: dst[p*width + r] = src[p*ld + r].
using PackColsF32Fn = void (*)(const float* src, int ld, int count, int kc, int width, float* dst);
using PackColsBf16Fn = void (*)(const uint16_t* src, int ld, int count, int kc, int width, float* dst);

// Small-m product with B given as rows W[n, k] (op(B) = Wᵀ, the forward y = x·Wᵀ):
// C[i, j] = alpha * dot(A[i, :], W[j, :]) + beta * C[i, j] for i < m, j < n, with A rows
// contiguous (row stride lda). Streams W once; beta == 0 never reads C.
using DotF32Fn = void (*)(int m, int n, int k, float alpha, const float* a, int lda, const float* w, int ldw,
                          float beta, float* c, int ldc);
using DotBf16Fn = void (*)(int m, int n, int k, float alpha, const float* a, int lda, const uint16_t* w,
                           int ldw, float beta, float* c, int ldc);

// Small-m product with B stored [k, n] (op(B) = B): C[i, j] = alpha * sum_p
// A(i, p) * B[p, j] + beta * C[i, j] for i < m <= kAxpyMaxM, j < n, where A(i, p) =
// a[i*a_row + p*a_col] (either transpose of A). Streams B once.
inline constexpr int kAxpyMaxM = 4;
using AxpyF32Fn = void (*)(int m, int n, int k, float alpha, const float* a, int a_row, int a_col, const float* b,
                           int ldb, float beta, float* c, int ldc);
using AxpyBf16Fn = void (*)(int m, int n, int k, float alpha, const float* a, int a_row, int a_col,
                            const uint16_t* b, int ldb, float beta, float* c, int ldc);

// One instruction set's kernels and cache blocking (kc: depth of a packed panel; mc: rows
// of a packed A block, a multiple of mr; nc: columns of a packed B block, a multiple of
// nr), and the largest m for which the dot kernel beats the blocked path (measured).
struct GemmIsa {
  SimdLevel level;
  int mr, nr;
  int kc, mc, nc;
  int dot_max_m;
  MicroKernelFn kernel;
  PackRowsF32Fn pack_rows_f32;
  PackRowsBf16Fn pack_rows_bf16;
  PackColsF32Fn pack_cols_f32;
  PackColsBf16Fn pack_cols_bf16;
  DotF32Fn dot_f32;
  DotBf16Fn dot_bf16;
  AxpyF32Fn axpy_f32;
  AxpyBf16Fn axpy_bf16;
  // Set where the CPU has AVX-512 BF16: GemmBf16's blocked path (m > dot_max_m, compute
  // bound) then rounds A to bf16 and runs kernel_bf16 at twice the f32 FLOP rate.
  MicroKernelBf16Fn kernel_bf16;
  PackPairsFn pairs_exact;
  PackPairsFn pairs_round;
};

// The tables; nullptr where the instruction set is not compiled in (non-x86 builds).
// Whether the CPU supports it is the caller's check (SimdLevelSupported).
const GemmIsa& GemmIsaScalar();
const GemmIsa* GemmIsaAvx2();
const GemmIsa* GemmIsaAvx512();

// The AVX2 packing functions, which the AVX-512 table shares (x86 builds only).
PackRowsF32Fn Avx2PackRowsF32();
PackRowsBf16Fn Avx2PackRowsBf16();
PackColsF32Fn Avx2PackColsF32();
PackColsBf16Fn Avx2PackColsBf16();

}  // namespace tide::engine::gemm_internal
