// Router primitives: softmax and sigmoid scores (with their backward passes) and a top-k
// selection with a deterministic order.
//
// SoftmaxReference: each row of x [rows, n] to probabilities, max-subtracted, in double,
// rounded once. SoftmaxBackwardReference: dx = p * (dp - Σ_j p_j dp_j) per row.
// SigmoidReference: 1 / (1 + exp(-x)) per element. SigmoidBackwardReference:
// dx = dy * s * (1 - s) given s = sigmoid(x).
//
// TopKReference: the indices of the k largest of scores[0..n), largest first. Ties are
// broken by the lower index (so the result never depends on the sort algorithm); NaN ranks
// below every number. k is clamped to [0, n].
//
// Pure functions, safe to call concurrently on different buffers. Softmax/sigmoid outputs
// may alias their inputs; backward outputs may alias dp/dy.
#pragma once

#include <cstdint>

#include "tide/engine/kernels/cpu_features.h"

namespace tide::engine {

void SoftmaxReference(const float* x, float* out, int rows, int n);
void SoftmaxBackwardReference(const float* p, const float* dp, float* dx, int rows, int n);

void SigmoidReference(const float* x, float* out, int64_t n);
void SigmoidBackwardReference(const float* s, const float* dy, float* dx, int64_t n);

// Fast paths (softmax_fast.cc): f32 with a vectorised exp, AVX-512 / AVX2 / scalar chosen
// at run time; same contracts (outputs may alias inputs) and a relative error of a few f32
// ulps against the references for finite inputs (sigmoid inputs within about ±87). The *At
// forms force a level (tests, benchmarks); an unsupported level falls back to the best one.
void Softmax(const float* x, float* out, int rows, int n);
void SoftmaxAt(SimdLevel level, const float* x, float* out, int rows, int n);
void Sigmoid(const float* x, float* out, int64_t n);
void SigmoidAt(SimdLevel level, const float* x, float* out, int64_t n);

// Writes min(k, n) indices to idx.
void TopKReference(const float* scores, int n, int k, int32_t* idx);

}  // namespace tide::engine
