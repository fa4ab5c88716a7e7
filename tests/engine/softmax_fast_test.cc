#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "tide/engine/kernels/cpu_features.h"
#include "tide/engine/kernels/softmax_topk.h"

namespace tide::engine {
namespace {

using testing::SupportedLevels;
using testing::RandomVector;

// ||out - ref|| / ||ref|| in double; NaN anywhere in out fails.
using testing::RelativeError;

TEST(SoftmaxFastTest, MatchesReferenceAtEveryLevel) {
  std::mt19937 rng(11);
  struct Shape { int rows, n; };
  const Shape shapes[] = {{1, 1}, {3, 2}, {4, 7}, {2, 8}, {5, 15}, {3, 16}, {2, 17}, {6, 33},
                          {4, 60}, {7, 64}, {3, 128}, {2, 129}, {1, 1000}};
  for (SimdLevel level : SupportedLevels()) {
    for (const Shape& sh : shapes) {
      for (float spread : {1.0f, 10.0f, 40.0f}) {
        std::vector<float> x = RandomVector(rng, static_cast<size_t>(sh.rows) * sh.n, -spread, spread);
        std::vector<float> ref(x.size()), out(x.size(), std::numeric_limits<float>::quiet_NaN());
        SoftmaxReference(x.data(), ref.data(), sh.rows, sh.n);
        SoftmaxAt(level, x.data(), out.data(), sh.rows, sh.n);
        EXPECT_LT(RelativeError(out, ref), 1e-6)
            << SimdLevelName(level) << " rows=" << sh.rows << " n=" << sh.n << " spread=" << spread;
        // Every row sums to one and no entry is off by more than a few ulps of its row max.
        for (size_t i = 0; i < x.size(); ++i) {
          EXPECT_NEAR(out[i], ref[i], 1e-6f * std::max(ref[i], 1e-6f)) << i;
        }
        // In place.
        SoftmaxAt(level, x.data(), x.data(), sh.rows, sh.n);
        EXPECT_EQ(x, out);
      }
    }
  }
}

TEST(SigmoidFastTest, MatchesReferenceAtEveryLevel) {
  std::mt19937 rng(12);
  const int64_t sizes[] = {1, 5, 8, 9, 16, 23, 64, 77, 1001};
  for (SimdLevel level : SupportedLevels()) {
    for (int64_t n : sizes) {
      std::vector<float> x = RandomVector(rng, n, -30.0f, 30.0f);
      std::vector<float> ref(n), out(n, std::numeric_limits<float>::quiet_NaN());
      SigmoidReference(x.data(), ref.data(), n);
      SigmoidAt(level, x.data(), out.data(), n);
      EXPECT_LT(RelativeError(out, ref), 1e-6) << SimdLevelName(level) << " n=" << n;
      for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(out[i], ref[i], 1e-6 * ref[i]) << i;
      SigmoidAt(level, x.data(), x.data(), n);
      EXPECT_EQ(x, out);
    }
  }
}

TEST(SoftmaxFastTest, DefaultEntryPointsUseBestLevel) {
  std::mt19937 rng(13);
  std::vector<float> x = RandomVector(rng, 3 * 40, -4.0f, 4.0f);
  std::vector<float> a(x.size()), b(x.size());
  Softmax(x.data(), a.data(), 3, 40);
  SoftmaxAt(DetectSimdLevel(), x.data(), b.data(), 3, 40);
  EXPECT_EQ(a, b);
  Sigmoid(x.data(), a.data(), static_cast<int64_t>(x.size()));
  SigmoidAt(DetectSimdLevel(), x.data(), b.data(), static_cast<int64_t>(x.size()));
  EXPECT_EQ(a, b);
  Softmax(nullptr, nullptr, 0, 4);  // no-ops
  Sigmoid(nullptr, nullptr, 0);
}

}  // namespace
}  // namespace tide::engine
