// Internal to the cross-entropy kernels (cross_entropy.cc, cross_entropy_fast.cc): the
// input checks and the normaliser N both paths share.
#pragma once

#include <cstdint>

#include "tide/core/status.h"

namespace tide::engine::cross_entropy_internal {

// N of cross_entropy.h (normalizer if > 0, else Σ|w_t|) after checking the shape, every
// target and every weight; InvalidArgument names the first bad one.
Result<double> Normaliser(const int32_t* targets, const float* weights, int tokens, int vocab, float normalizer);

}  // namespace tide::engine::cross_entropy_internal
