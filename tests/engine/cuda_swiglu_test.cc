// Parity of CudaSwiGluForward against SwiGluForwardReference on fresh random inputs; skips
// when no CUDA device is usable.
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
#include "tide/engine/kernels/swiglu.h"

namespace tide::engine {
namespace {

using testing::RelativeError;

TEST(CudaSwiGluTest, MatchesCpuReference) {
  std::string why;
  if (!CudaDeviceAvailable(&why)) GTEST_SKIP() << "no CUDA device: " << why;
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  for (const int64_t n : {int64_t{1}, int64_t{7}, int64_t{255}, int64_t{1000}, int64_t{65537},
                          int64_t{3} * 1024 * 1024 + 5}) {
    SCOPED_TRACE("n " + std::to_string(n));
    // Gate values reach the saturated tails of the sigmoid on both sides.
    const auto gate = testing::RandomVector(rng, static_cast<size_t>(n), -20.f, 20.f);
    const auto up = testing::RandomVector(rng, static_cast<size_t>(n), -3.f, 3.f);
    std::vector<float> ref(n), out(n, std::numeric_limits<float>::quiet_NaN());
    SwiGluForwardReference(gate.data(), up.data(), ref.data(), n);
    const Status st = CudaSwiGluForward(gate.data(), up.data(), out.data(), n);
    ASSERT_TRUE(st.ok()) << st.ToString();
    const double err = RelativeError(out, ref);
    std::printf("[parity] CudaSwiGluForward n=%lld rel_err=%.3g\n", static_cast<long long>(n), err);
    EXPECT_LT(err, 1e-5);
  }
}

TEST(CudaSwiGluTest, OutputMayAliasAnInput) {
  std::string why;
  if (!CudaDeviceAvailable(&why)) GTEST_SKIP() << "no CUDA device: " << why;
  std::mt19937 rng(7);
  auto gate = testing::RandomVector(rng, 1001, -5.f, 5.f);
  const auto up = testing::RandomVector(rng, 1001, -3.f, 3.f);
  std::vector<float> ref(gate.size());
  SwiGluForwardReference(gate.data(), up.data(), ref.data(), static_cast<int64_t>(gate.size()));
  ASSERT_TRUE(CudaSwiGluForward(gate.data(), up.data(), gate.data(),
                                static_cast<int64_t>(gate.size()))
                  .ok());
  EXPECT_LT(RelativeError(gate, ref), 1e-5);
}

TEST(CudaSwiGluTest, RejectsBadArgumentsWithoutCrashing) {
  const float x[2] = {1.f, 2.f};
  float out[2] = {};
  const StatusCode bad = TIDE_HAS_CUDA ? StatusCode::kInvalidArgument : StatusCode::kFailedPrecondition;
  EXPECT_EQ(CudaSwiGluForward(x, x, out, -1).code(), bad);
  EXPECT_EQ(CudaSwiGluForward(nullptr, x, out, 2).code(), bad);
  EXPECT_EQ(CudaSwiGluForward(x, x, nullptr, 2).code(), bad);
  if (TIDE_HAS_CUDA) {
    EXPECT_TRUE(CudaSwiGluForward(nullptr, nullptr, nullptr, 0).ok());
  }
}

}  // namespace
}  // namespace tide::engine
