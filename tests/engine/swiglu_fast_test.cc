#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "tide/engine/kernels/cpu_features.h"
#include "tide/engine/kernels/swiglu.h"

namespace tide::engine {
namespace {

using testing::SupportedLevels;
using testing::RandomVector;

// Largest element-wise |out - ref| / |ref| (ref is never tiny here: |g|, |u| >= 1e-3).
double MaxRelativeError(const std::vector<float>& out, const std::vector<float>& ref) {
  double worst = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(out[i])) return std::numeric_limits<double>::infinity();
    const double e = std::abs(static_cast<double>(out[i]) - ref[i]) / std::max(std::abs(static_cast<double>(ref[i])), 1e-30);
    worst = std::max(worst, e);
  }
  return worst;
}

TEST(SwiGluFastTest, MatchesReferenceAtEveryLevel) {
  std::mt19937 rng(7);
  const int64_t sizes[] = {1, 3, 7, 8, 15, 16, 17, 31, 33, 100, 257, 4099, 70001};
  for (SimdLevel level : SupportedLevels()) {
    for (int64_t n : sizes) {
      std::vector<float> g = RandomVector(rng, n, -20.0f, 20.0f);
      std::vector<float> u = RandomVector(rng, n, -3.0f, 3.0f);
      for (float& x : g) if (std::abs(x) < 1e-3f) x = 1e-3f;
      for (float& x : u) if (std::abs(x) < 1e-3f) x = 1e-3f;
      std::vector<float> ref(n), out(n, std::numeric_limits<float>::quiet_NaN());
      SwiGluForwardReference(g.data(), u.data(), ref.data(), n);
      SwiGluForwardAt(level, g.data(), u.data(), out.data(), n);
      EXPECT_LT(MaxRelativeError(out, ref), 1e-6) << SimdLevelName(level) << " n=" << n;
    }
  }
}

TEST(SwiGluFastTest, InPlaceOverGateAndUp) {
  std::mt19937 rng(8);
  const int64_t n = 131;
  for (SimdLevel level : SupportedLevels()) {
    std::vector<float> g = RandomVector(rng, n, -8.0f, 8.0f), u = RandomVector(rng, n, -2.0f, 2.0f);
    std::vector<float> ref(n);
    SwiGluForwardReference(g.data(), u.data(), ref.data(), n);
    std::vector<float> g2 = g, u2 = u;
    SwiGluForwardAt(level, g2.data(), u.data(), g2.data(), n);
    SwiGluForwardAt(level, g.data(), u2.data(), u2.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_NEAR(g2[i], ref[i], 1e-6 * std::abs(ref[i]) + 1e-30) << i;
      EXPECT_EQ(g2[i], u2[i]) << i;
    }
  }
}

// dgate = dh·u·sig·(1 + g(1 − sig)) passes through zero near g ≈ −1.28, so errors are
// measured against the size of the terms that cancel there: |dh|·(|u|(1 + |g|) + |g|).
TEST(SwiGluFastTest, BackwardMatchesReferenceAtEveryLevel) {
  std::mt19937 rng(10);
  const int64_t sizes[] = {1, 5, 16, 17, 33, 257, 40001};
  for (SimdLevel level : SupportedLevels()) {
    for (int64_t n : sizes) {
      const std::vector<float> g = RandomVector(rng, n, -20.0f, 20.0f), u = RandomVector(rng, n, -3.0f, 3.0f);
      const std::vector<float> d = RandomVector(rng, n, -2.0f, 2.0f);
      std::vector<float> ref_g(n), ref_u(n);
      const float nan = std::numeric_limits<float>::quiet_NaN();
      std::vector<float> dg(n, nan), du(n, nan);
      SwiGluBackwardReference(g.data(), u.data(), d.data(), ref_g.data(), ref_u.data(), n);
      SwiGluBackwardAt(level, g.data(), u.data(), d.data(), dg.data(), du.data(), n);
      double worst = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_FALSE(std::isnan(dg[i]) || std::isnan(du[i])) << SimdLevelName(level) << " n=" << n << " i=" << i;
        const double scale = std::abs(d[i]) * (std::abs(u[i]) * (1.0 + std::abs(g[i])) + std::abs(g[i])) + 1e-30;
        worst = std::max(worst, std::abs(static_cast<double>(dg[i]) - ref_g[i]) / scale);
        worst = std::max(worst, std::abs(static_cast<double>(du[i]) - ref_u[i]) / scale);
      }
      EXPECT_LT(worst, 1e-6) << SimdLevelName(level) << " n=" << n;
    }
  }
}

TEST(SwiGluFastTest, DefaultUsesBestLevelAndHandlesEmpty) {
  std::mt19937 rng(9);
  const int64_t n = 45;
  std::vector<float> g = RandomVector(rng, n, -5.0f, 5.0f), u = RandomVector(rng, n, -5.0f, 5.0f);
  std::vector<float> a(n), b(n);
  SwiGluForward(g.data(), u.data(), a.data(), n);
  SwiGluForwardAt(DetectSimdLevel(), g.data(), u.data(), b.data(), n);
  EXPECT_EQ(a, b);
  SwiGluForward(nullptr, nullptr, nullptr, 0);  // no-op
}

}  // namespace
}  // namespace tide::engine
