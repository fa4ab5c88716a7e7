// RMSNorm forward over rows of f32: out = x / sqrt(mean(x^2) + eps) * weight.
//
// This is the Hugging Face Qwen3 / Llama convention (Qwen3RMSNorm): the mean is over the
// `dim` elements of one row, eps sits inside the square root, and `weight` (length dim)
// multiplies the normalised value; there is no bias and no "1 + weight" offset.
//
// Layout: x and out are row-major [rows, dim]. out may be the same pointer as x (in-place
// normalisation); otherwise the buffers must not overlap. Nothing is done when rows <= 0
// or dim <= 0. The functions are pure, allocate nothing and may run concurrently on
// different rows or buffers; callers parallelise over rows themselves.
//
// RmsNormReference is the plain scalar definition (double accumulation, one rounding at
// the end): the ground truth the fast path is tested against. RmsNorm is the fast path:
// AVX-512 or AVX2 chosen at run time (see cpu_features.h), else portable scalar code;
// it accumulates in f32 and matches the reference to a relative error well under 1e-5.
#pragma once

#include "tide/engine/kernels/cpu_features.h"

namespace tide::engine {

void RmsNormReference(const float* x, const float* weight, float* out, int rows, int dim,
                      float eps);

// Fast path at the best level this machine supports.
void RmsNorm(const float* x, const float* weight, float* out, int rows, int dim, float eps);

// Fast path at a given level, for tests and benchmarks; a level the machine does not
// support falls back to the best one it does.
void RmsNormAt(SimdLevel level, const float* x, const float* weight, float* out, int rows,
               int dim, float eps);

}  // namespace tide::engine
