// Helpers shared by the kernel tests: the SIMD levels this CPU can run, and fresh random
// inputs.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
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

// Relative error of each row of width d against the reference row (||Δ|| / ||ref||), worst
// over rows; NaN anywhere is infinitely wrong.
inline double WorstRowError(const std::vector<float>& out, const std::vector<float>& ref, int d) {
  double worst = 0.0;
  for (size_t r = 0; r * d < ref.size(); ++r) {
    double diff = 0.0, norm = 0.0;
    for (int i = 0; i < d; ++i) {
      const float o = out[r * d + i];
      if (std::isnan(o)) return std::numeric_limits<double>::infinity();
      const double e = static_cast<double>(o) - ref[r * d + i];
      diff += e * e;
      norm += static_cast<double>(ref[r * d + i]) * ref[r * d + i];
    }
    worst = std::max(worst, std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30));
  }
  return worst;
}

// ||out - ref|| / ||ref|| over the whole vector; NaN anywhere is infinitely wrong.
inline double RelativeError(const std::vector<float>& out, const std::vector<float>& ref) {
  return WorstRowError(out, ref, static_cast<int>(ref.size()));
}

}  // namespace tide::engine::testing
