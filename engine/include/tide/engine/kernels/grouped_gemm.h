// Grouped GEMM: many independent products C_i = alpha_i · op(A_i) · op(B_i) + beta_i · C_i
// in one call — the MoE experts, each over its rows of a token buffer sorted by expert.
// Calling Gemm once per expert pays one parallel region (and its synchronisation) per
// small product; the grouped call runs the small products whole, one per thread, in a
// single region balanced by FLOPs (largest first), and splits only the products too big
// for one thread's share over all threads.
//
// Arguments of each product are Gemm's (gemm.h), with its accuracy; results are
// bit-identical to calling Gemm on each product in turn, whatever the thread count.
// No two products may write overlapping C; inputs may be shared.
// Thread safety: pure functions over the caller's buffers.
#pragma once

#include <span>

#include "tide/engine/kernels/cpu_features.h"
#include "tide/engine/kernels/gemm.h"

namespace tide::engine {

struct GemmProblem {
  Trans ta = Trans::kNo, tb = Trans::kNo;
  int m = 0, n = 0, k = 0;
  float alpha = 1.f;
  const float* a = nullptr;
  int lda = 0;
  const float* b = nullptr;
  int ldb = 0;
  float beta = 0.f;
  float* c = nullptr;
  int ldc = 0;
};

// GemmReference on each product in turn.
void GroupedGemmReference(std::span<const GemmProblem> problems);
void GroupedGemm(std::span<const GemmProblem> problems);
// At a given SIMD level on a given pool (nullptr: ThreadPool::Default()).
void GroupedGemmAt(SimdLevel level, ThreadPool* pool, std::span<const GemmProblem> problems);

}  // namespace tide::engine
