// Rotary position embedding (RoPE), Hugging Face "rotate_half" convention (Llama, Qwen3):
// within each head of width d = head_dim the pairs are (i, i + d/2) for i < d/2, rotated by
// the angle pos * inv_freq[i] with inv_freq[i] = theta^(-2i/d):
//   out[i]       = x[i] * cos - x[i + d/2] * sin
//   out[i + d/2] = x[i + d/2] * cos + x[i] * sin
// The angle is formed as transformers forms it (inv_freq and pos * inv_freq rounded to
// f32), so positions far from 0 rotate exactly as a transformers checkpoint expects;
// cos and sin of that f32 angle are taken in double and rounded once.
//
// Layout: x is row-major [tokens, heads, head_dim] (row stride heads * head_dim); positions
// holds one position per token. head_dim must be even and positive.
//
// The rotation is orthogonal, so the backward pass is the rotation by the negated angle:
// RopeBackwardReference turns dL/d(out) into dL/dx, in place.
//
// Thread safety: pure functions on caller-owned buffers; concurrent calls on different
// buffers are fine.
#pragma once

#include <cstdint>

#include "tide/engine/kernels/cpu_features.h"

namespace tide::engine {

// Rotates x in place.
void RopeForwardReference(float* x, const int32_t* positions, int tokens, int heads, int head_dim,
                          float theta);

// Turns dx (holding dL/d(out)) into dL/dx in place.
void RopeBackwardReference(float* dx, const int32_t* positions, int tokens, int heads, int head_dim,
                           float theta);

// Fast paths (rope_fast.cc): the same contract and bit-identical results (cos/sin per token
// shared across heads, rotation vectorised over the half-dims in double, AVX-512 / AVX2 /
// scalar chosen at run time, tokens split over ThreadPool::Default()). The *At forms force
// a level (tests, benchmarks); an unsupported level falls back to the best one.
void RopeForward(float* x, const int32_t* positions, int tokens, int heads, int head_dim, float theta);
void RopeBackward(float* dx, const int32_t* positions, int tokens, int heads, int head_dim, float theta);
void RopeForwardAt(SimdLevel level, float* x, const int32_t* positions, int tokens, int heads, int head_dim,
                   float theta);
void RopeBackwardAt(SimdLevel level, float* dx, const int32_t* positions, int tokens, int heads, int head_dim,
                    float theta);

// The f32 angle transformers uses for frequency i of a head of width head_dim.
float RopeAngle(int32_t position, int i, int head_dim, float theta);

}  // namespace tide::engine
