// RoPE: forward against the rotate_half definition, angles as transformers forms them, and
// the backward pass against float64 central finite differences of a float64 twin.
#include "tide/engine/kernels/rope.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace tide::engine {
namespace {

// Float64 twin of the forward pass (same f32 angles).
std::vector<double> RopeDouble(const std::vector<double>& x, const std::vector<int32_t>& pos, int heads, int d,
                               float theta) {
  std::vector<double> out(x.size());
  const int half = d / 2;
  for (size_t t = 0; t < pos.size(); ++t) {
    for (int h = 0; h < heads; ++h) {
      const size_t o = (t * heads + h) * d;
      for (int i = 0; i < half; ++i) {
        const double a = RopeAngle(pos[t], i, d, theta);
        out[o + i] = x[o + i] * std::cos(a) - x[o + i + half] * std::sin(a);
        out[o + i + half] = x[o + i + half] * std::cos(a) + x[o + i] * std::sin(a);
      }
    }
  }
  return out;
}

TEST(RopeTest, AngleIsTransformersF32Product) {
  // inv_freq = 1 / theta^(2i/d) in f32, times the position in f32.
  const float inv = 1.0f / std::pow(10000.f, 4.0f / 16.0f);
  EXPECT_EQ(RopeAngle(37, 2, 16, 10000.f), inv * 37.0f);
  EXPECT_EQ(RopeAngle(5, 0, 16, 10000.f), 5.0f);
}

TEST(RopeTest, RotatesHalvesPairwise) {
  // One head of width 4, position 1: pairs (0, 2) and (1, 3).
  std::vector<float> x = {1.f, 2.f, 3.f, 4.f};
  const int32_t pos = 1;
  RopeForwardReference(x.data(), &pos, 1, 1, 4, 10000.f);
  const double a0 = 1.0, a1 = RopeAngle(1, 1, 4, 10000.f);
  EXPECT_NEAR(x[0], 1 * std::cos(a0) - 3 * std::sin(a0), 1e-6);
  EXPECT_NEAR(x[2], 3 * std::cos(a0) + 1 * std::sin(a0), 1e-6);
  EXPECT_NEAR(x[1], 2 * std::cos(a1) - 4 * std::sin(a1), 1e-6);
  EXPECT_NEAR(x[3], 4 * std::cos(a1) + 2 * std::sin(a1), 1e-6);
}

TEST(RopeTest, PositionZeroIsIdentityAndBackwardInverts) {
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  const int tokens = 5, heads = 3, d = 8;
  std::vector<float> x(tokens * heads * d);
  for (float& v : x) v = nd(rng);
  std::vector<int32_t> zero(tokens, 0), pos = {0, 3, 17, 1000, 65000};
  std::vector<float> y = x;
  RopeForwardReference(y.data(), zero.data(), tokens, heads, d, 1e6f);
  EXPECT_EQ(y, x);
  y = x;
  RopeForwardReference(y.data(), pos.data(), tokens, heads, d, 1e6f);
  RopeBackwardReference(y.data(), pos.data(), tokens, heads, d, 1e6f);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], x[i], 1e-5);
}

// L(x) = Σ r · rope(x); dL/dx from the backward pass vs central differences in float64.
TEST(RopeTest, BackwardMatchesFiniteDifferences) {
  std::mt19937 rng(2);
  std::normal_distribution<float> nd;
  const int tokens = 4, heads = 2, d = 6;
  const float theta = 10000.f;
  std::vector<int32_t> pos = {2, 5, 9, 130};
  std::vector<float> x(tokens * heads * d), r(x.size());
  for (float& v : x) v = nd(rng);
  for (float& v : r) v = nd(rng);
  // The f32 forward matches the twin.
  std::vector<float> y = x;
  RopeForwardReference(y.data(), pos.data(), tokens, heads, d, theta);
  const std::vector<double> yd = RopeDouble(std::vector<double>(x.begin(), x.end()), pos, heads, d, theta);
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], yd[i], 1e-6 * (1 + std::fabs(yd[i])));

  std::vector<float> g = r;
  RopeBackwardReference(g.data(), pos.data(), tokens, heads, d, theta);
  auto loss = [&](const std::vector<double>& xd) {
    const std::vector<double> out = RopeDouble(xd, pos, heads, d, theta);
    double s = 0;
    for (size_t i = 0; i < out.size(); ++i) s += r[i] * out[i];
    return s;
  };
  const double h = 1e-6;
  for (size_t i = 0; i < x.size(); ++i) {
    std::vector<double> xp(x.begin(), x.end()), xm = xp;
    xp[i] += h;
    xm[i] -= h;
    const double fd = (loss(xp) - loss(xm)) / (2 * h);
    EXPECT_NEAR(g[i], fd, 1e-5 * (1 + std::fabs(fd))) << "index " << i;
  }
}

}  // namespace
}  // namespace tide::engine
