// The element-wise part of a SwiGLU MLP, down(silu(gate x) * up x): given the two
// projections g = gate·x and u = up·x, h = silu(g) * u with silu(g) = g * sigmoid(g)
// (transformers' ACT2FN["silu"]). The projections themselves are GEMMs (gemm.h).
//
// Backward: dg = dh * u * silu'(g), du = dh * silu(g), with
// silu'(g) = sigmoid(g) * (1 + g * (1 - sigmoid(g))).
//
// Buffers hold n floats each; computed in double, rounded once. Pure functions, safe to
// call concurrently on different buffers; out may alias gate or up, dgate/dup must not
// alias the inputs.
#pragma once

#include <cstdint>

#include "tide/engine/kernels/cpu_features.h"

namespace tide::engine {

void SwiGluForwardReference(const float* gate, const float* up, float* out, int64_t n);

void SwiGluBackwardReference(const float* gate, const float* up, const float* dout, float* dgate, float* dup,
                             int64_t n);

// Fast forward (swiglu_fast.cc): f32 with a vectorised exp, AVX-512 / AVX2 / scalar
// chosen at run time, long buffers split over ThreadPool::Default(). Matches the
// reference to a relative error of a few f32 ulps (inputs within about ±87; beyond that
// the result underflows to a value of order 1e-37 instead of a smaller one). out may alias
// gate or up.
void SwiGluForward(const float* gate, const float* up, float* out, int64_t n);

// The fast path at a given level (tests, benchmarks); an unsupported level falls back to
// the best supported one.
void SwiGluForwardAt(SimdLevel level, const float* gate, const float* up, float* out, int64_t n);

// Fast backward, same vectorised exp and split; matches SwiGluBackwardReference to a
// relative error of about 1e-6 (inputs within about ±87).
void SwiGluBackward(const float* gate, const float* up, const float* dout, float* dgate, float* dup, int64_t n);
void SwiGluBackwardAt(SimdLevel level, const float* gate, const float* up, const float* dout, float* dgate,
                      float* dup, int64_t n);

}  // namespace tide::engine
