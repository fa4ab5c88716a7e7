// RMSNorm backward against float64 central finite differences of a float64 forward, for
// dx and dweight (tolerance 1e-5 relative per element), and dweight accumulation.
#include "tide/engine/kernels/rmsnorm_backward.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tide/engine/kernels/rmsnorm.h"

namespace tide::engine {
namespace {

double LossDouble(const std::vector<double>& x, const std::vector<double>& w, const std::vector<float>& r, int rows,
                  int dim, double eps) {
  double loss = 0;
  for (int i = 0; i < rows; ++i) {
    double ss = 0;
    for (int j = 0; j < dim; ++j) ss += x[i * dim + j] * x[i * dim + j];
    const double inv = 1.0 / std::sqrt(ss / dim + eps);
    for (int j = 0; j < dim; ++j) loss += r[i * dim + j] * x[i * dim + j] * inv * w[j];
  }
  return loss;
}

TEST(RmsNormBackwardTest, MatchesFiniteDifferences) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd;
  const int rows = 3, dim = 10;
  const float eps = 1e-6f;
  std::vector<float> x(rows * dim), w(dim), r(rows * dim), dx(rows * dim), dw(dim, 0.f);
  for (float& v : x) v = nd(rng);
  for (float& v : w) v = 1.f + 0.3f * nd(rng);
  for (float& v : r) v = nd(rng);
  RmsNormBackwardReference(x.data(), w.data(), r.data(), dx.data(), dw.data(), rows, dim, eps);
  std::vector<double> xd(x.begin(), x.end()), wd(w.begin(), w.end());
  const double h = 1e-6;
  auto fd = [&](std::vector<double>& p, size_t i) {
    const double p0 = p[i];
    p[i] = p0 + h;
    const double lp = LossDouble(xd, wd, r, rows, dim, eps);
    p[i] = p0 - h;
    const double lm = LossDouble(xd, wd, r, rows, dim, eps);
    p[i] = p0;
    return (lp - lm) / (2 * h);
  };
  for (size_t i = 0; i < x.size(); ++i) {
    const double g = fd(xd, i);
    EXPECT_NEAR(dx[i], g, 1e-5 * (1 + std::fabs(g))) << "dx " << i;
  }
  for (int j = 0; j < dim; ++j) {
    const double g = fd(wd, j);
    EXPECT_NEAR(dw[j], g, 1e-5 * (1 + std::fabs(g))) << "dw " << j;
  }
  // The forward it differentiates is rmsnorm.h's.
  std::vector<float> y(x.size());
  RmsNormReference(x.data(), w.data(), y.data(), rows, dim, eps);
  for (size_t i = 0; i < x.size(); ++i) {
    std::vector<float> e(x.size(), 0.f);
    e[i] = 1.f;
    EXPECT_NEAR(y[i], LossDouble(xd, wd, e, rows, dim, eps), 1e-6);
  }
}

TEST(RmsNormBackwardTest, AccumulatesWeightGradientAndAllowsAliasing) {
  const std::vector<float> x = {1.f, -2.f, 0.5f, 3.f}, w = {0.5f, 2.f};
  std::vector<float> dy = {0.3f, -1.f, 2.f, 0.25f};
  std::vector<float> dx(4), dw1(2, 0.f), dw2 = {1.f, 1.f};
  RmsNormBackwardReference(x.data(), w.data(), dy.data(), dx.data(), dw1.data(), 2, 2, 1e-6f);
  RmsNormBackwardReference(x.data(), w.data(), dy.data(), dy.data(), dw2.data(), 2, 2, 1e-6f);  // dx aliases dy
  EXPECT_EQ(dy, dx);
  for (int j = 0; j < 2; ++j) EXPECT_FLOAT_EQ(dw2[j], 1.f + dw1[j]);
}

}  // namespace
}  // namespace tide::engine
