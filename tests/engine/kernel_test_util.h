// Helpers shared by the kernel tests: the SIMD levels this CPU can run, and fresh random
// inputs.
#pragma once

#include <random>
#include <vector>

#include "tide/engine/kernels/cpu_features.h"

namespace tide::engine::testing {

inline std::vector<SimdLevel> SupportedLevels() {
  std::vector<SimdLevel> levels;
  for (SimdLevel l : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (SimdLevelSupported(l)) levels.push_back(l);
  }
  return levels;
}

inline std::vector<float> RandomVector(std::mt19937& rng, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

}  // namespace tide::engine::testing
