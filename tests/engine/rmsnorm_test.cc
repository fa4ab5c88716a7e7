#include "kernel_test_util.h"
#include "tide/engine/kernels/rmsnorm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "tide/engine/kernels/cpu_features.h"

namespace tide::engine {
namespace {

using testing::SupportedLevels;
using testing::RandomVector;

constexpr float kEps = 1e-6f;

struct Shape {
  int rows;
  int dim;
};

// Shapes that hit every code path: below one vector, exact multiples of 8/16/32/64 and
// every kind of tail, and model-sized rows.
const Shape kShapes[] = {{1, 1},   {3, 7},    {2, 8},    {4, 15},   {5, 16},  {3, 17},
                         {2, 31},  {2, 32},   {3, 33},   {4, 63},   {4, 64},  {2, 65},
                         {6, 100}, {7, 257},  {3, 1000}, {2, 2048}, {1, 4097}, {9, 5120}};

// ||out - ref|| / ||ref||, in double.
using testing::RelativeError;

TEST(RmsNormTest, ReferenceMatchesDefinition) {
  // One row worked by hand: mean(x^2) = (9 + 16) / 2 = 12.5.
  const float x[] = {3.0f, -4.0f};
  const float w[] = {2.0f, 0.5f};
  float out[2];
  RmsNormReference(x, w, out, 1, 2, 0.0f);
  const double inv = 1.0 / std::sqrt(12.5);
  EXPECT_FLOAT_EQ(out[0], static_cast<float>(3.0 * inv * 2.0));
  EXPECT_FLOAT_EQ(out[1], static_cast<float>(-4.0 * inv * 0.5));

  // eps sits inside the square root: a zero row stays zero, a tiny row is damped.
  const float zeros[] = {0.0f, 0.0f};
  RmsNormReference(zeros, w, out, 1, 2, 1e-6f);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[1], 0.0f);
}

TEST(RmsNormTest, FastMatchesReferenceAtEveryLevel) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  for (SimdLevel level : SupportedLevels()) {
    for (const Shape& s : kShapes) {
      SCOPED_TRACE(std::string(SimdLevelName(level)) + " rows " + std::to_string(s.rows) +
                   " dim " + std::to_string(s.dim));
      const size_t n = static_cast<size_t>(s.rows) * s.dim;
      const std::vector<float> x = RandomVector(rng, n, -3.0f, 3.0f);
      const std::vector<float> w = RandomVector(rng, s.dim, 0.5f, 1.5f);
      std::vector<float> ref(n, std::numeric_limits<float>::quiet_NaN());
      std::vector<float> out(n, std::numeric_limits<float>::quiet_NaN());
      RmsNormReference(x.data(), w.data(), ref.data(), s.rows, s.dim, kEps);
      RmsNormAt(level, x.data(), w.data(), out.data(), s.rows, s.dim, kEps);
      for (size_t i = 0; i < n; ++i) {
        ASSERT_TRUE(std::isfinite(ref[i])) << "reference left element " << i << " unwritten";
        ASSERT_TRUE(std::isfinite(out[i])) << "fast path left element " << i << " unwritten";
      }
      EXPECT_LT(RelativeError(out, ref), 1e-5);
    }
  }
}

TEST(RmsNormTest, DefaultPathMatchesReferenceOnWideDynamicRange) {
  // Rows whose scale differs by orders of magnitude, including rows small enough that
  // eps matters.
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const int rows = 6, dim = 777;
  const float scales[rows] = {1e-4f, 1e-2f, 1.0f, 1e2f, 1e4f, 3e-3f};
  std::vector<float> x = RandomVector(rng, static_cast<size_t>(rows) * dim, -1.0f, 1.0f);
  for (int r = 0; r < rows; ++r) {
    for (int i = 0; i < dim; ++i) x[static_cast<size_t>(r) * dim + i] *= scales[r];
  }
  const std::vector<float> w = RandomVector(rng, dim, -2.0f, 2.0f);
  for (int r = 0; r < rows; ++r) {
    SCOPED_TRACE("row " + std::to_string(r));
    std::vector<float> ref(dim, std::numeric_limits<float>::quiet_NaN());
    std::vector<float> out(dim, std::numeric_limits<float>::quiet_NaN());
    const float* xr = x.data() + static_cast<size_t>(r) * dim;
    RmsNormReference(xr, w.data(), ref.data(), 1, dim, kEps);
    RmsNorm(xr, w.data(), out.data(), 1, dim, kEps);
    EXPECT_LT(RelativeError(out, ref), 1e-5);
  }
}

TEST(RmsNormTest, InPlaceEqualsOutOfPlace) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const int rows = 4, dim = 203;
  const std::vector<float> w = RandomVector(rng, dim, 0.5f, 1.5f);
  for (SimdLevel level : SupportedLevels()) {
    SCOPED_TRACE(SimdLevelName(level));
    std::vector<float> x = RandomVector(rng, static_cast<size_t>(rows) * dim, -3.0f, 3.0f);
    std::vector<float> expected(x.size());
    RmsNormAt(level, x.data(), w.data(), expected.data(), rows, dim, kEps);
    RmsNormAt(level, x.data(), w.data(), x.data(), rows, dim, kEps);
    EXPECT_EQ(x, expected);
  }
}

TEST(RmsNormTest, EmptyShapesWriteNothing) {
  const float x[] = {1.0f, 2.0f};
  const float w[] = {1.0f, 1.0f};
  float out[] = {-7.0f, -7.0f};
  RmsNorm(x, w, out, 0, 2, kEps);
  RmsNorm(x, w, out, 1, 0, kEps);
  RmsNormReference(x, w, out, 0, 2, kEps);
  RmsNormReference(x, w, out, -1, 2, kEps);
  EXPECT_EQ(out[0], -7.0f);
  EXPECT_EQ(out[1], -7.0f);
}

}  // namespace
}  // namespace tide::engine
