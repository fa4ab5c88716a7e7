#include "tide/engine/kernels/cpu_features.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace tide::engine {
namespace {

TEST(CpuFeaturesTest, DetectedLevelIsSupportedAndStable) {
  const SimdLevel level = DetectSimdLevel();
  EXPECT_TRUE(SimdLevelSupported(level));
  EXPECT_TRUE(SimdLevelSupported(SimdLevel::kScalar));
  EXPECT_EQ(DetectSimdLevel(), level);
  std::printf("detected SIMD level: %s\n", std::string(SimdLevelName(level)).c_str());
}

TEST(CpuFeaturesTest, AgreesWithTheCompilerBuiltins) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  EXPECT_EQ(SimdLevelSupported(SimdLevel::kAvx512), avx512);
  EXPECT_EQ(SimdLevelSupported(SimdLevel::kAvx2), avx2 || avx512);
#else
  EXPECT_EQ(DetectSimdLevel(), SimdLevel::kScalar);
#endif
}

TEST(CpuFeaturesTest, Names) {
  EXPECT_EQ(SimdLevelName(SimdLevel::kScalar), "scalar");
  EXPECT_EQ(SimdLevelName(SimdLevel::kAvx2), "avx2");
  EXPECT_EQ(SimdLevelName(SimdLevel::kAvx512), "avx512");
}

}  // namespace
}  // namespace tide::engine
