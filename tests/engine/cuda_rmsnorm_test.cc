#include "tide/engine/cuda/cuda_runtime.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernel_test_util.h"
#include "tide/engine/kernels/rmsnorm.h"

namespace tide::engine {
namespace {

constexpr float kEps = 1e-6f;

using testing::RelativeError;

TEST(CudaRmsNormTest, MatchesCpuReference) {
  std::string why;
  if (!CudaDeviceAvailable(&why)) GTEST_SKIP() << "no CUDA device: " << why;
  std::printf("CUDA device: %s\n", CudaDeviceName().c_str());

  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> xs(-3.0f, 3.0f), ws(0.5f, 1.5f);
  // dim from below one warp to more than 1024 threads' worth (several elements each),
  // including sizes that are not multiples of 32.
  const struct { int rows, dim; } shapes[] = {{1, 1},    {3, 7},    {5, 32},   {4, 33},
                                              {8, 100},  {2, 1000}, {3, 1024}, {2, 1025},
                                              {16, 2048}, {5, 4097}, {64, 5120}, {1000, 128}};
  for (const auto& s : shapes) {
    SCOPED_TRACE("rows " + std::to_string(s.rows) + " dim " + std::to_string(s.dim));
    const size_t n = static_cast<size_t>(s.rows) * s.dim;
    std::vector<float> x(n), w(s.dim);
    for (float& v : x) v = xs(rng);
    for (float& v : w) v = ws(rng);
    std::vector<float> ref(n), out(n, std::numeric_limits<float>::quiet_NaN());
    RmsNormReference(x.data(), w.data(), ref.data(), s.rows, s.dim, kEps);
    const Status st = CudaRmsNorm(x.data(), w.data(), out.data(), s.rows, s.dim, kEps);
    ASSERT_TRUE(st.ok()) << st.ToString();
    for (size_t i = 0; i < n; ++i) {
      ASSERT_TRUE(std::isfinite(out[i])) << "element " << i << " not written";
    }
    const double err = RelativeError(out, ref);
    std::printf("[parity] CudaRmsNorm rows=%d dim=%d rel_err=%.3g\n", s.rows, s.dim, err);
    EXPECT_LT(err, 1e-5);
  }
}

TEST(CudaRmsNormTest, ReportsErrorsInsteadOfCrashing) {
  const float x[] = {1.0f, 2.0f};
  const float w[] = {1.0f, 1.0f};
  float out[2] = {};
  std::string why;
  if (CudaDeviceAvailable(&why)) {
    EXPECT_TRUE(why.empty());
    EXPECT_FALSE(CudaDeviceName().empty());
    EXPECT_EQ(CudaRmsNorm(x, w, out, -1, 2, kEps).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(CudaRmsNorm(x, w, out, 1, 0, kEps).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(CudaRmsNorm(nullptr, w, out, 1, 2, kEps).code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(CudaRmsNorm(x, w, out, 0, 2, kEps).ok());
  } else {
    // Without a usable device the call fails cleanly, whatever the build.
    EXPECT_FALSE(why.empty());
    EXPECT_EQ(CudaDeviceName(), "");
    const Status st = CudaRmsNorm(x, w, out, 1, 2, kEps);
    EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  }
}

#if !TIDE_HAS_CUDA
TEST(CudaRmsNormTest, BuildWithoutCudaSaysSo) {
  std::string why;
  EXPECT_FALSE(CudaDeviceAvailable(&why));
  EXPECT_EQ(why, "Tide was built without CUDA (TIDE_CUDA=OFF or nvcc not found)");
  EXPECT_FALSE(CudaDeviceAvailable(nullptr));
}
#endif

}  // namespace
}  // namespace tide::engine
