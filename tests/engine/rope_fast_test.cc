#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "tide/engine/kernels/cpu_features.h"
#include "tide/engine/kernels/rope.h"

namespace tide::engine {
namespace {

using testing::SupportedLevels;

struct Shape {
  int tokens, heads, head_dim;
};

// head_dim covers half-dims below one vector, exact multiples of 4/8 and every tail.
const Shape kShapes[] = {{1, 1, 2},  {3, 2, 6},   {2, 3, 8},   {5, 1, 10},   {4, 2, 16},  {3, 4, 18},
                         {7, 3, 30}, {9, 8, 32},  {2, 5, 34},  {6, 4, 64},   {3, 2, 66},  {33, 8, 128},
                         {1, 1, 256}, {300, 2, 64}};

// The rotation in double is rounded once, exactly like the reference, so the fast path
// must agree bit for bit; the stated contract is 1e-6 relative, checked as well.
void ExpectMatches(const std::vector<float>& out, const std::vector<float>& ref, const char* what, SimdLevel level,
                   const Shape& sh) {
  double diff = 0.0, norm = 0.0;
  size_t mismatches = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = static_cast<double>(out[i]) - ref[i];
    diff += d * d;
    norm += static_cast<double>(ref[i]) * ref[i];
    if (!(out[i] == ref[i])) ++mismatches;
  }
  EXPECT_LT(std::sqrt(diff), 1e-6 * std::sqrt(norm))
      << what << " " << SimdLevelName(level) << " " << sh.tokens << "x" << sh.heads << "x" << sh.head_dim;
  EXPECT_EQ(mismatches, 0u) << what << " " << SimdLevelName(level) << " " << sh.tokens << "x" << sh.heads << "x"
                            << sh.head_dim;
}

TEST(RopeFastTest, ForwardAndBackwardMatchReferenceAtEveryLevel) {
  std::mt19937 rng(21);
  std::uniform_real_distribution<float> val(-3.0f, 3.0f);
  std::uniform_int_distribution<int32_t> pos(0, 40000);
  for (SimdLevel level : SupportedLevels()) {
    for (const Shape& sh : kShapes) {
      for (float theta : {10000.0f, 1000000.0f}) {
        const size_t n = static_cast<size_t>(sh.tokens) * sh.heads * sh.head_dim;
        std::vector<float> x(n);
        for (float& f : x) f = val(rng);
        std::vector<int32_t> positions(sh.tokens);
        for (int32_t& p : positions) p = pos(rng);
        positions[0] = 0;
        std::vector<float> ref = x, out = x;
        RopeForwardReference(ref.data(), positions.data(), sh.tokens, sh.heads, sh.head_dim, theta);
        RopeForwardAt(level, out.data(), positions.data(), sh.tokens, sh.heads, sh.head_dim, theta);
        ExpectMatches(out, ref, "forward", level, sh);
        ref = x;
        out = x;
        RopeBackwardReference(ref.data(), positions.data(), sh.tokens, sh.heads, sh.head_dim, theta);
        RopeBackwardAt(level, out.data(), positions.data(), sh.tokens, sh.heads, sh.head_dim, theta);
        ExpectMatches(out, ref, "backward", level, sh);
      }
    }
  }
}

TEST(RopeFastTest, NanInOneHeadStaysInThatHead) {
  // Each head is rotated on its own: a NaN in one head must not leak into its neighbours.
  const int tokens = 2, heads = 3, d = 20;
  std::vector<float> x(static_cast<size_t>(tokens) * heads * d, 1.0f);
  x[d + 3] = std::numeric_limits<float>::quiet_NaN();  // token 0, head 1
  const int32_t positions[] = {5, 9};
  for (SimdLevel level : SupportedLevels()) {
    std::vector<float> out = x;
    RopeForwardAt(level, out.data(), positions, tokens, heads, d, 10000.0f);
    for (int i = 0; i < static_cast<int>(out.size()); ++i) {
      const bool in_poisoned_head = i >= d && i < 2 * d;
      if (!in_poisoned_head) {
        EXPECT_FALSE(std::isnan(out[i])) << SimdLevelName(level) << " " << i;
      }
    }
    EXPECT_TRUE(std::isnan(out[d + 3]));
  }
}

TEST(RopeFastTest, DefaultEntryPointsUseBestLevel) {
  const int tokens = 4, heads = 2, d = 24;
  std::vector<float> x(static_cast<size_t>(tokens) * heads * d);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
  const int32_t positions[] = {0, 1, 17, 4096};
  std::vector<float> a = x, b = x;
  RopeForward(a.data(), positions, tokens, heads, d, 10000.0f);
  RopeForwardAt(DetectSimdLevel(), b.data(), positions, tokens, heads, d, 10000.0f);
  EXPECT_EQ(a, b);
  RopeBackward(a.data(), positions, tokens, heads, d, 10000.0f);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(a[i], x[i], 1e-5f) << i;
  RopeForward(nullptr, nullptr, 0, heads, d, 10000.0f);  // no-op
}

}  // namespace
}  // namespace tide::engine
