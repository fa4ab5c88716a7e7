// GEMM, BLAS-style but row-major: C[m,n] = alpha * op(A) · op(B) + beta * C, where op(X)
// is X or its transpose. op(A) is [m,k] and op(B) is [k,n]; lda/ldb/ldc are row strides
// of A, B and C as stored. The common model shapes:
//   forward  y = x · Wᵀ      Gemm(kNo,  kYes, tokens, out, in, ...)   (W is HF [out, in])
//   backward dx = dy · W     Gemm(kNo,  kNo,  tokens, in, out, ...)
//            dW += dyᵀ · x   Gemm(kYes, kNo,  out, in, tokens, ..., beta = 1)
// GemmReference is the plain triple loop (double accumulation): the ground truth. Gemm is
// the fast path (packed, blocked, AVX-512/AVX2 by CPU features, threads from the default
// ThreadPool). GemmBf16 takes B as bf16 (serving weights) and A, C as f32.
// beta == 0 means C is written without being read (it may hold NaN). k == 0 or
// alpha == 0 gives C = beta * C without reading A or B (BLAS).
// Accuracy: Gemm accumulates in f32 (relative error vs the reference well under 1e-5).
// GemmBf16 uses B's exact values; up to m = 64 rows (decode, small batches: memory bound)
// and on CPUs without AVX-512 BF16 it widens B to f32 and matches GemmReference on the
// widened B to f32 accuracy. For larger m on CPUs with AVX-512 BF16 (compute bound) it
// also rounds A to bf16 (nearest even) and sums exact bf16 products in f32 (vdpbf16ps,
// about twice the FLOP rate): relative error about 1e-3, within the bf16 tolerance 1e-2.
// Results do not depend on the number of threads.
// Thread safety: pure functions; concurrent calls on different outputs are fine.
#pragma once

#include <cstdint>

#include "tide/engine/kernels/cpu_features.h"

namespace tide::engine {

class ThreadPool;

enum class Trans { kNo, kYes };

void GemmReference(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                   int ldb, float beta, float* c, int ldc);
void Gemm(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
          float beta, float* c, int ldc);

// B in bf16 (the upper 16 bits of an IEEE f32), any transpose; A and C in f32.
void GemmBf16Reference(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda,
                       const uint16_t* b, int ldb, float beta, float* c, int ldc);
void GemmBf16(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda, const uint16_t* b,
              int ldb, float beta, float* c, int ldc);

// The fast paths at a given SIMD level (one the machine lacks falls back to the best it
// has) on a given pool (nullptr: ThreadPool::Default()), for tests and benchmarks. The
// accuracy above holds at every level; only kAvx512 uses AVX-512 BF16.
void GemmAt(SimdLevel level, ThreadPool* pool, Trans ta, Trans tb, int m, int n, int k, float alpha,
            const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);
void GemmBf16At(SimdLevel level, ThreadPool* pool, Trans ta, Trans tb, int m, int n, int k, float alpha,
                const float* a, int lda, const uint16_t* b, int ldb, float beta, float* c, int ldc);

}  // namespace tide::engine
