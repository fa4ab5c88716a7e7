// Parity of CudaRopeForward against RopeForwardReference on fresh random inputs and
// positions (near 0 and far from it); skips when no CUDA device is usable.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernel_test_util.h"
#include "tide/engine/cuda/cuda_kernels.h"
#include "tide/engine/cuda/cuda_runtime.h"
#include "tide/engine/kernels/rope.h"

namespace tide::engine {
namespace {

using testing::RelativeError;

TEST(CudaRopeTest, MatchesCpuReference) {
  std::string why;
  if (!CudaDeviceAvailable(&why)) GTEST_SKIP() << "no CUDA device: " << why;
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const struct {
    int tokens, heads, head_dim, max_pos;
    float theta;
  } shapes[] = {{1, 1, 2, 1, 10000.f},       {3, 5, 6, 100, 10000.f},
                {17, 4, 64, 4096, 10000.f},   {33, 8, 128, 40000, 1000000.f},
                {5, 3, 130, 1 << 20, 5e6f},   {512, 16, 128, 32768, 1000000.f}};
  for (const auto& s : shapes) {
    SCOPED_TRACE("tokens " + std::to_string(s.tokens) + " heads " + std::to_string(s.heads) +
                 " head_dim " + std::to_string(s.head_dim));
    const size_t n = static_cast<size_t>(s.tokens) * s.heads * s.head_dim;
    const auto x = testing::RandomVector(rng, n, -2.f, 2.f);
    std::uniform_int_distribution<int32_t> pos(0, s.max_pos);
    std::vector<int32_t> positions(s.tokens);
    for (int32_t& p : positions) p = pos(rng);
    std::vector<float> ref = x;
    RopeForwardReference(ref.data(), positions.data(), s.tokens, s.heads, s.head_dim, s.theta);
    std::vector<float> out = x;
    const Status st =
        CudaRopeForward(out.data(), positions.data(), s.tokens, s.heads, s.head_dim, s.theta);
    ASSERT_TRUE(st.ok()) << st.ToString();
    const double err = RelativeError(out, ref);
    std::printf("[parity] CudaRopeForward tokens=%d heads=%d head_dim=%d max_pos=%d rel_err=%.3g\n",
                s.tokens, s.heads, s.head_dim, s.max_pos, err);
    EXPECT_LT(err, 1e-5);
  }
}

TEST(CudaRopeTest, RejectsBadArgumentsWithoutCrashing) {
  float x[4] = {1.f, 2.f, 3.f, 4.f};
  const int32_t pos[1] = {3};
  const StatusCode bad = TIDE_HAS_CUDA ? StatusCode::kInvalidArgument : StatusCode::kFailedPrecondition;
  EXPECT_EQ(CudaRopeForward(x, pos, -1, 1, 4, 1e4f).code(), bad);
  EXPECT_EQ(CudaRopeForward(x, pos, 1, 0, 4, 1e4f).code(), bad);
  EXPECT_EQ(CudaRopeForward(x, pos, 1, 1, 3, 1e4f).code(), bad);  // odd head_dim
  EXPECT_EQ(CudaRopeForward(x, nullptr, 1, 1, 4, 1e4f).code(), bad);
  EXPECT_EQ(CudaRopeForward(nullptr, pos, 1, 1, 4, 1e4f).code(), bad);
  if (TIDE_HAS_CUDA) {
    EXPECT_TRUE(CudaRopeForward(nullptr, nullptr, 0, 1, 4, 1e4f).ok());
  }
}

}  // namespace
}  // namespace tide::engine
