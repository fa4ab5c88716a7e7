// Router primitives: softmax / sigmoid values and backward passes (float64 central finite
// differences, tolerance 1e-6 relative) and the top-k order and tie-break.
#include "tide/engine/kernels/softmax_topk.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace tide::engine {
namespace {

std::vector<double> SoftmaxDouble(const std::vector<double>& x) {
  double m = -1e300, z = 0;
  for (double v : x) m = std::max(m, v);
  std::vector<double> e(x.size());
  for (size_t i = 0; i < x.size(); ++i) z += (e[i] = std::exp(x[i] - m));
  for (double& v : e) v /= z;
  return e;
}

TEST(SoftmaxTopKTest, SoftmaxRowsSumToOneAndSurviveLargeLogits) {
  const std::vector<float> x = {1000.f, 1001.f, 999.f, -5.f, 0.f, 5.f};
  std::vector<float> p(6);
  SoftmaxReference(x.data(), p.data(), 2, 3);
  for (int r = 0; r < 2; ++r) {
    EXPECT_NEAR(p[3 * r] + p[3 * r + 1] + p[3 * r + 2], 1.0, 1e-6);
    const auto ref = SoftmaxDouble({x[3 * r], x[3 * r + 1], x[3 * r + 2]});
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(p[3 * r + i], ref[i], 1e-7);
  }
}

TEST(SoftmaxTopKTest, SoftmaxBackwardMatchesFiniteDifferences) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.f, 1.5f);
  const int n = 7;
  std::vector<float> x(n), r(n), p(n), dx(n);
  for (int i = 0; i < n; ++i) {
    x[i] = nd(rng);
    r[i] = nd(rng);
  }
  SoftmaxReference(x.data(), p.data(), 1, n);
  SoftmaxBackwardReference(p.data(), r.data(), dx.data(), 1, n);
  const double h = 1e-6;
  for (int i = 0; i < n; ++i) {
    std::vector<double> xp(x.begin(), x.end()), xm = xp;
    xp[i] += h;
    xm[i] -= h;
    const auto pp = SoftmaxDouble(xp), pm = SoftmaxDouble(xm);
    double fd = 0;
    for (int j = 0; j < n; ++j) fd += r[j] * (pp[j] - pm[j]) / (2 * h);
    EXPECT_NEAR(dx[i], fd, 1e-6 * (1 + std::fabs(fd)));
  }
}

TEST(SoftmaxTopKTest, SigmoidAndBackward) {
  const std::vector<float> x = {-20.f, -1.f, 0.f, 2.5f, 30.f};
  std::vector<float> s(5), dx(5), dy = {1.f, -2.f, 0.5f, 3.f, 1.f};
  SigmoidReference(x.data(), s.data(), 5);
  SigmoidBackwardReference(s.data(), dy.data(), dx.data(), 5);
  const double h = 1e-6;
  for (int i = 0; i < 5; ++i) {
    const double ref = 1.0 / (1.0 + std::exp(-double(x[i])));
    EXPECT_NEAR(s[i], ref, 1e-7 * (1 + ref));
    const double fd = dy[i] * (1.0 / (1.0 + std::exp(-(x[i] + h))) - 1.0 / (1.0 + std::exp(-(x[i] - h)))) / (2 * h);
    EXPECT_NEAR(dx[i], fd, 1e-6 * (1 + std::fabs(fd)));
  }
  EXPECT_EQ(s[2], 0.5f);
}

TEST(SoftmaxTopKTest, TopKLargestFirstTiesByLowerIndex) {
  const std::vector<float> s = {0.1f, 0.5f, 0.3f, 0.5f, 0.9f, 0.3f};
  int32_t idx[4];
  TopKReference(s.data(), 6, 4, idx);
  EXPECT_EQ(std::vector<int32_t>(idx, idx + 4), (std::vector<int32_t>{4, 1, 3, 2}));
  // All equal: the first k indices in order.
  const std::vector<float> flat(8, 0.25f);
  int32_t f[3];
  TopKReference(flat.data(), 8, 3, f);
  EXPECT_EQ(std::vector<int32_t>(f, f + 3), (std::vector<int32_t>{0, 1, 2}));
}

TEST(SoftmaxTopKTest, TopKNanLastAndKClamped) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> s = {nan, -1.f, nan, -3.f};
  int32_t idx[4] = {-1, -1, -1, -1};
  TopKReference(s.data(), 4, 9, idx);  // k clamped to 4
  EXPECT_EQ(std::vector<int32_t>(idx, idx + 4), (std::vector<int32_t>{1, 3, 0, 2}));
  int32_t untouched = 7;
  TopKReference(s.data(), 4, 0, &untouched);
  EXPECT_EQ(untouched, 7);
}

}  // namespace
}  // namespace tide::engine
