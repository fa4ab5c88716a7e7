// Host-buffer entry points to Tide's CUDA kernels beyond RMSNorm (cuda_runtime.h): GEMM
// (f32 and bf16 through cuBLASLt), the MoE grouped expert GEMM, SwiGLU, RoPE and the
// softmax top-k router. Each one has the contract of its CPU reference under
// tide/engine/kernels/ (named below), on host buffers.
//
// Like cuda_runtime.h this header includes nothing from CUDA, so any module can include
// it; without CUDA (TIDE_HAS_CUDA=0) engine/src/cuda_unavailable.cc implements it and every
// call returns FailedPrecondition. Every entry point is synchronous: it copies its inputs
// to freshly allocated device memory on its own stream, runs, copies the outputs back and
// frees the device memory on every path, success or failure. These are correctness entry
// points (parity tests, tools), not the fast path: each call pays its allocations and
// PCIe copies. No function throws. Errors: InvalidArgument (negative sizes, null buffers,
// strides too small, inconsistent counts; checked before any device work);
// FailedPrecondition (built without CUDA, no device, no usable driver); Internal (any
// other failed CUDA or cuBLASLt call, with the call and the error named in the message).
// On error the outputs may be partly written. All functions use the calling thread's
// current device and are safe to call concurrently from several threads (each call owns
// its stream, buffers and cuBLASLt handle).
#pragma once

#include <cstdint>

#include "tide/core/status.h"
#include "tide/engine/kernels/gemm.h"

namespace tide::engine {

// C[m,n] = alpha * op(A)·op(B) + beta * C, row-major with row strides lda/ldb/ldc, as Gemm
// in kernels/gemm.h (compare with GemmReference). f32 in, f32 out, f32 accumulation
// (CUBLAS_COMPUTE_32F: TF32 is never used), so the relative error against GemmReference
// stays under 1e-5. BLAS rules as in gemm.h: beta == 0 writes C without reading it (it may
// hold NaN); m == 0 or n == 0 is a no-op; k == 0 or alpha == 0 gives C = beta * C (computed
// on the host, A and B not read, no device needed). Only the m x n block of C is written:
// elements between rows (ldc > n) are left alone. Strides must cover a row:
// lda >= (ta == kNo ? k : m), ldb >= (tb == kNo ? n : k), ldc >= n.
Status CudaGemm(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda,
                const float* b, int ldb, float beta, float* c, int ldc);

// The same with A and B in bf16 (uint16_t: the upper 16 bits of an IEEE f32) and C in
// f32: bf16 operands, f32 accumulation and output (cuBLASLt, CUDA_R_16BF x CUDA_R_16BF ->
// CUDA_R_32F). Products of bf16 values are exact in f32, so the result matches
// GemmReference on the widened inputs to f32 summation accuracy (well under the bf16
// tolerance of 1e-2).
Status CudaGemmBf16(Trans ta, Trans tb, int m, int n, int k, float alpha, const uint16_t* a,
                    int lda, const uint16_t* b, int ldb, float beta, float* c, int ldc);

// MoE expert projection over tokens sorted by expert: x [rows, in] bf16 holds the rows of
// expert 0 first (expert_rows[0] of them), then those of expert 1, and so on;
// w [experts, out, in] bf16 holds each expert's weight in HF layout. Writes
// y [rows, out] f32 with y[r] = x[r] · W_eᵀ for the expert e that owns row r (bf16
// operands, f32 accumulation, as CudaGemmBf16; one cuBLASLt product per expert with rows,
// on one stream). Experts with no rows are skipped. expert_rows[e] >= 0 and their sum must
// equal rows; rows == 0 is a no-op.
Status CudaGroupedGemmBf16(const uint16_t* x, int rows, int in, const uint16_t* w, int experts,
                           int out, const int32_t* expert_rows, float* y);

// h = silu(gate) * up element-wise over n floats, as SwiGluForwardReference in
// kernels/swiglu.h (f32 with expf: a few ulps from the double reference). out may alias
// gate or up. n == 0 is a no-op.
Status CudaSwiGluForward(const float* gate, const float* up, float* out, int64_t n);

// Rotates x [tokens, heads, head_dim] in place by positions[tokens], exactly as
// RopeForwardReference in kernels/rope.h: HF rotate_half pairs (i, i + d/2), the angle
// formed in f32 as transformers forms it (inv_freq computed on the host with the same
// powf), cos/sin and the rotation in double, rounded once. head_dim must be even and
// positive; tokens == 0 is a no-op.
Status CudaRopeForward(float* x, const int32_t* positions, int tokens, int heads, int head_dim,
                       float theta);

// The softmax MoE router of model.h on logits [rows, n]: s = softmax of each row (max-
// subtracted, in double, rounded to f32 once, as SoftmaxReference); ids [rows, k] = the k
// largest s, largest first, ties to the lower index and NaN last (TopKReference);
// weights [rows, k] = s[id] / Σ_j s[id_j] (f32 sum in slot order) when normalize, else
// s[id]; then times scale (routed_scaling_factor). Requires 0 < k <= n; rows == 0 is a
// no-op.
Status CudaSoftmaxTopK(const float* logits, int rows, int n, int k, bool normalize, float scale,
                       int32_t* ids, float* weights);

}  // namespace tide::engine
