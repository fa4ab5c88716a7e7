// Parity of CudaGemm, CudaGemmBf16 and CudaGroupedGemmBf16 (cuBLASLt) against GemmReference
// on fresh random inputs; skips when no CUDA device is usable.
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
#include "tide/engine/dtype.h"
#include "tide/engine/kernels/gemm.h"

namespace tide::engine {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// ||out - ref|| / ||ref|| over the m x n block of row stride ld; NaN anywhere counts as
// infinitely wrong.
double BlockError(const std::vector<float>& out, const std::vector<float>& ref, int m, int n,
                  int ld) {
  double diff = 0.0, norm = 0.0;
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      const size_t at = static_cast<size_t>(i) * ld + j;
      if (std::isnan(out[at])) return std::numeric_limits<double>::infinity();
      const double d = static_cast<double>(out[at]) - ref[at];
      diff += d * d;
      norm += static_cast<double>(ref[at]) * ref[at];
    }
  }
  return std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
}

struct Shape {
  Trans ta, tb;
  int m, n, k;
  float alpha, beta;
  int pad;  // extra elements per row of every stride (strided storage)
};

const char* Name(Trans t) { return t == Trans::kNo ? "N" : "T"; }

std::string Describe(const Shape& s) {
  return std::string(Name(s.ta)) + Name(s.tb) + " m=" + std::to_string(s.m) +
         " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) +
         " alpha=" + std::to_string(s.alpha) + " beta=" + std::to_string(s.beta) +
         " pad=" + std::to_string(s.pad);
}

// Decode, prefill and odd shapes; every transpose; beta 0 (C poisoned with NaN) and 1.
std::vector<Shape> Shapes() {
  return {{Trans::kNo, Trans::kYes, 1, 1, 1, 1.f, 0.f, 0},
          {Trans::kNo, Trans::kYes, 1, 4096, 1024, 1.f, 0.f, 0},
          {Trans::kNo, Trans::kYes, 7, 33, 65, 1.f, 0.f, 3},
          {Trans::kNo, Trans::kNo, 64, 127, 255, 0.5f, 0.f, 0},
          {Trans::kYes, Trans::kNo, 129, 67, 31, 1.f, 1.f, 5},
          {Trans::kYes, Trans::kYes, 17, 250, 97, -2.f, 0.f, 1},
          {Trans::kNo, Trans::kYes, 300, 513, 1000, 1.f, 1.f, 0},
          {Trans::kNo, Trans::kYes, 1000, 768, 2048, 1.f, 0.f, 0}};
}

// Stored rows x cols of an operand (before op), with row stride cols + pad.
struct Stored {
  int rows, cols, ld;
};
Stored StoredA(const Shape& s) {
  const int rows = s.ta == Trans::kNo ? s.m : s.k, cols = s.ta == Trans::kNo ? s.k : s.m;
  return {rows, cols, cols + s.pad};
}
Stored StoredB(const Shape& s) {
  const int rows = s.tb == Trans::kNo ? s.k : s.n, cols = s.tb == Trans::kNo ? s.n : s.k;
  return {rows, cols, cols + s.pad};
}

class CudaGemmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!CudaDeviceAvailable(&why)) GTEST_SKIP() << "no CUDA device: " << why;
    seed_ = std::random_device{}();
  }
  uint32_t seed_ = 0;
};

TEST_F(CudaGemmTest, F32MatchesReference) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  std::mt19937 rng(seed_);
  for (const Shape& s : Shapes()) {
    SCOPED_TRACE(Describe(s));
    const Stored sa = StoredA(s), sb = StoredB(s);
    const int ldc = s.n + s.pad;
    const auto a = testing::RandomVector(rng, static_cast<size_t>(sa.rows) * sa.ld, -1.f, 1.f);
    const auto b = testing::RandomVector(rng, static_cast<size_t>(sb.rows) * sb.ld, -1.f, 1.f);
    auto c0 = testing::RandomVector(rng, static_cast<size_t>(s.m) * ldc, -1.f, 1.f);
    if (s.beta == 0.f) {
      for (float& v : c0) v = kNaN;  // must be written without being read
    } else {
      // The padding between rows must survive untouched: mark it.
      for (int i = 0; i < s.m; ++i) {
        for (int j = s.n; j < ldc; ++j) c0[static_cast<size_t>(i) * ldc + j] = 12345.f;
      }
    }
    std::vector<float> ref = c0, out = c0;
    GemmReference(s.ta, s.tb, s.m, s.n, s.k, s.alpha, a.data(), sa.ld, b.data(), sb.ld, s.beta,
                  ref.data(), ldc);
    const Status st = CudaGemm(s.ta, s.tb, s.m, s.n, s.k, s.alpha, a.data(), sa.ld, b.data(),
                               sb.ld, s.beta, out.data(), ldc);
    ASSERT_TRUE(st.ok()) << st.ToString();
    const double err = BlockError(out, ref, s.m, s.n, ldc);
    std::printf("[parity] CudaGemm f32 %s rel_err=%.3g\n", Describe(s).c_str(), err);
    EXPECT_LT(err, 1e-5);
    for (int i = 0; i < s.m; ++i) {
      for (int j = s.n; j < ldc; ++j) {
        const size_t at = static_cast<size_t>(i) * ldc + j;
        ASSERT_TRUE(std::isnan(out[at]) ? std::isnan(c0[at]) : out[at] == c0[at])
            << "padding at row " << i << " col " << j << " was written";
      }
    }
  }
}

TEST_F(CudaGemmTest, Bf16MatchesReferenceOnRoundedInputs) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  std::mt19937 rng(seed_);
  for (const Shape& s : Shapes()) {
    SCOPED_TRACE(Describe(s));
    const Stored sa = StoredA(s), sb = StoredB(s);
    const int ldc = s.n + s.pad;
    auto af = testing::RandomVector(rng, static_cast<size_t>(sa.rows) * sa.ld, -1.f, 1.f);
    auto bf = testing::RandomVector(rng, static_cast<size_t>(sb.rows) * sb.ld, -1.f, 1.f);
    std::vector<uint16_t> a(af.size()), b(bf.size());
    F32ToBf16(af.data(), a.data(), af.size());
    F32ToBf16(bf.data(), b.data(), bf.size());
    Bf16ToF32(a.data(), af.data(), a.size());  // the reference sees the rounded values
    Bf16ToF32(b.data(), bf.data(), b.size());
    auto c0 = testing::RandomVector(rng, static_cast<size_t>(s.m) * ldc, -1.f, 1.f);
    if (s.beta == 0.f) {
      for (float& v : c0) v = kNaN;
    }
    std::vector<float> ref = c0, out = c0;
    GemmReference(s.ta, s.tb, s.m, s.n, s.k, s.alpha, af.data(), sa.ld, bf.data(), sb.ld,
                  s.beta, ref.data(), ldc);
    const Status st = CudaGemmBf16(s.ta, s.tb, s.m, s.n, s.k, s.alpha, a.data(), sa.ld, b.data(),
                                   sb.ld, s.beta, out.data(), ldc);
    ASSERT_TRUE(st.ok()) << st.ToString();
    const double err = BlockError(out, ref, s.m, s.n, ldc);
    std::printf("[parity] CudaGemmBf16 %s rel_err=%.3g\n", Describe(s).c_str(), err);
    EXPECT_LT(err, 1e-2);
  }
}

TEST_F(CudaGemmTest, GroupedBf16MatchesPerExpertReference) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  std::mt19937 rng(seed_);
  const struct {
    int experts, in, out;
    std::vector<int32_t> rows;
  } cases[] = {{4, 64, 96, {3, 0, 5, 1}},
               {8, 129, 77, {0, 17, 1, 0, 40, 2, 9, 0}},
               {16, 512, 256, {}}};
  for (const auto& c : cases) {
    std::vector<int32_t> counts = c.rows;
    if (counts.empty()) {  // random routing of 300 tokens, some experts empty
      std::uniform_int_distribution<int> pick(0, c.experts / 2);
      counts.assign(c.experts, 0);
      for (int t = 0; t < 300; ++t) ++counts[pick(rng) * 2 % c.experts];
    }
    int rows = 0;
    for (int32_t r : counts) rows += r;
    SCOPED_TRACE("experts " + std::to_string(c.experts) + " in " + std::to_string(c.in) +
                 " out " + std::to_string(c.out) + " rows " + std::to_string(rows));
    auto xf = testing::RandomVector(rng, static_cast<size_t>(rows) * c.in, -1.f, 1.f);
    auto wf = testing::RandomVector(rng, static_cast<size_t>(c.experts) * c.out * c.in, -1.f, 1.f);
    std::vector<uint16_t> x(xf.size()), w(wf.size());
    F32ToBf16(xf.data(), x.data(), x.size());
    F32ToBf16(wf.data(), w.data(), w.size());
    Bf16ToF32(x.data(), xf.data(), x.size());
    Bf16ToF32(w.data(), wf.data(), w.size());

    std::vector<float> ref(static_cast<size_t>(rows) * c.out), out(ref.size(), kNaN);
    int first = 0;
    for (int e = 0; e < c.experts; ++e) {
      if (counts[e] > 0) {
        GemmReference(Trans::kNo, Trans::kYes, counts[e], c.out, c.in, 1.f,
                      xf.data() + static_cast<size_t>(first) * c.in, c.in,
                      wf.data() + static_cast<size_t>(e) * c.out * c.in, c.in, 0.f,
                      ref.data() + static_cast<size_t>(first) * c.out, c.out);
      }
      first += counts[e];
    }
    const Status st = CudaGroupedGemmBf16(x.data(), rows, c.in, w.data(), c.experts, c.out,
                                          counts.data(), out.data());
    ASSERT_TRUE(st.ok()) << st.ToString();
    const double err = BlockError(out, ref, rows, c.out, c.out);
    std::printf("[parity] CudaGroupedGemmBf16 experts=%d in=%d out=%d rows=%d rel_err=%.3g\n",
                c.experts, c.in, c.out, rows, err);
    EXPECT_LT(err, 1e-2);
  }
}

// Argument checks come before any device work, so they hold with or without a GPU (a build
// without CUDA answers FailedPrecondition to everything).
TEST(CudaGemmArgsTest, RejectsBadArgumentsWithoutCrashing) {
  const float a[4] = {1, 2, 3, 4};
  float c[4] = {};
  const uint16_t h[4] = {};
  const int32_t rows[2] = {1, 2};
  const auto expect_invalid = [](const Status& st) {
    if (TIDE_HAS_CUDA) {
      EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    } else {
      EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
    }
  };
  expect_invalid(CudaGemm(Trans::kNo, Trans::kNo, -1, 2, 2, 1.f, a, 2, a, 2, 0.f, c, 2));
  expect_invalid(CudaGemm(Trans::kNo, Trans::kNo, 2, 2, 2, 1.f, nullptr, 2, a, 2, 0.f, c, 2));
  expect_invalid(CudaGemm(Trans::kNo, Trans::kNo, 2, 2, 2, 1.f, a, 1, a, 2, 0.f, c, 2));
  expect_invalid(CudaGemm(Trans::kNo, Trans::kNo, 2, 2, 2, 1.f, a, 2, a, 2, 0.f, c, 1));
  expect_invalid(CudaGemmBf16(Trans::kNo, Trans::kNo, 2, 2, 2, 1.f, h, 2, nullptr, 2, 0.f, c, 2));
  expect_invalid(CudaGroupedGemmBf16(h, 2, 2, h, 2, 2, rows, c));  // counts sum to 3, not 2
  expect_invalid(CudaGroupedGemmBf16(h, 3, 2, h, 2, 2, nullptr, c));
  expect_invalid(CudaGroupedGemmBf16(h, 3, 0, h, 2, 2, rows, c));
  if (TIDE_HAS_CUDA) {
    // BLAS edge cases need no device: m == 0 is a no-op, k == 0 gives C = beta * C.
    EXPECT_TRUE(CudaGemm(Trans::kNo, Trans::kNo, 0, 2, 2, 1.f, nullptr, 2, nullptr, 2, 0.f,
                         nullptr, 2)
                    .ok());
    float cc[4] = {1, 2, 3, 4};
    ASSERT_TRUE(
        CudaGemm(Trans::kNo, Trans::kNo, 2, 2, 0, 1.f, nullptr, 1, nullptr, 2, 2.f, cc, 2).ok());
    EXPECT_EQ(cc[3], 8.f);
    float nan_c[4] = {kNaN, kNaN, kNaN, kNaN};
    ASSERT_TRUE(
        CudaGemm(Trans::kNo, Trans::kNo, 2, 2, 2, 0.f, a, 2, a, 2, 0.f, nan_c, 2).ok());
    EXPECT_EQ(nan_c[0], 0.f);
  }
}

}  // namespace
}  // namespace tide::engine
