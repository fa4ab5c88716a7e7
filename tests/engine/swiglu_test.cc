// SwiGLU element-wise part: forward against the definition, backward against float64
// central finite differences (tolerance 1e-6 relative: one f32 rounding).
#include "tide/engine/kernels/swiglu.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace tide::engine {
namespace {

double SiluTimes(double g, double u) { return g / (1.0 + std::exp(-g)) * u; }

TEST(SwiGluTest, ForwardIsSiluGateTimesUp) {
  const std::vector<float> g = {-3.f, -0.5f, 0.f, 0.7f, 4.f}, u = {1.f, 2.f, -1.f, 0.5f, -2.f};
  std::vector<float> out(5);
  SwiGluForwardReference(g.data(), u.data(), out.data(), 5);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(out[i], SiluTimes(g[i], u[i]), 1e-6);
  EXPECT_EQ(out[2], 0.f);
}

TEST(SwiGluTest, BackwardMatchesFiniteDifferences) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.f, 2.f);
  const int n = 64;
  std::vector<float> g(n), u(n), dy(n), dg(n), du(n);
  for (int i = 0; i < n; ++i) {
    g[i] = nd(rng);
    u[i] = nd(rng);
    dy[i] = nd(rng);
  }
  SwiGluBackwardReference(g.data(), u.data(), dy.data(), dg.data(), du.data(), n);
  const double h = 1e-6;
  for (int i = 0; i < n; ++i) {
    const double fd_g = dy[i] * (SiluTimes(g[i] + h, u[i]) - SiluTimes(g[i] - h, u[i])) / (2 * h);
    const double fd_u = dy[i] * (SiluTimes(g[i], u[i] + h) - SiluTimes(g[i], u[i] - h)) / (2 * h);
    EXPECT_NEAR(dg[i], fd_g, 1e-6 * (1 + std::fabs(fd_g)));
    EXPECT_NEAR(du[i], fd_u, 1e-6 * (1 + std::fabs(fd_u)));
  }
}

}  // namespace
}  // namespace tide::engine
