#include "kernel_test_util.h"
#include "tide/engine/kernels/gemv_q8.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tide/engine/kernels/cpu_features.h"
#include "tide/engine/kernels/gemm.h"
#include "tide/engine/thread_pool.h"

namespace tide::engine {
namespace {

using testing::RandomVector;
using testing::SupportedLevels;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

std::string LevelName(SimdLevel level) {
  std::string name(SimdLevelName(level));
  if (GemvQ8UsesVnni(level)) name += "+vnni";
  return name;
}

// ||out - ref|| / ||ref||; every output must be finite. With `terms` (see TermsNorm) the
// denominator is at least ||terms||: a dot product of random vectors has |sum| about the
// root-sum-square of its terms, but a shape with a handful of outputs can draw one that
// cancels to almost nothing (a single output is below a third of that size one time in
// four), and x's rounding error is the size of the terms, not of their sum. With many
// outputs ||ref|| and ||terms|| agree, and the plain ratio is what is checked.
double RelativeError(const std::vector<float>& out, const std::vector<float>& ref,
                     const std::vector<double>* terms = nullptr) {
  double diff = 0.0, norm = 0.0, norm_terms = 0.0;
  for (size_t idx = 0; idx < ref.size(); ++idx) {
    EXPECT_TRUE(std::isfinite(out[idx])) << "output " << idx << " is " << out[idx];
    const double d = static_cast<double>(out[idx]) - ref[idx];
    diff += d * d;
    norm += static_cast<double>(ref[idx]) * ref[idx];
    if (terms != nullptr) norm_terms += (*terms)[idx] * (*terms)[idx];
  }
  return std::sqrt(diff / std::max({norm, norm_terms, 1e-300}));
}

// terms[i, r] = sqrt(Σ_c (w[r, c] · x[i, c])²).
std::vector<double> TermsNorm(const std::vector<float>& w, const std::vector<float>& x, int m, int rows, int cols) {
  std::vector<double> t(static_cast<size_t>(m) * rows);
  for (int i = 0; i < m; ++i) {
    for (int r = 0; r < rows; ++r) {
      double s = 0.0;
      for (int c = 0; c < cols; ++c) {
        const double p =
            static_cast<double>(w[static_cast<size_t>(r) * cols + c]) * x[static_cast<size_t>(i) * cols + c];
        s += p * p;
      }
      t[static_cast<size_t>(i) * rows + r] = std::sqrt(s);
    }
  }
  return t;
}

TEST(GemvQ8Test, QuantizeRoundTripIsWithinHalfAScale) {
  std::mt19937 rng(1);
  for (const int cols : {1, 31, 32, 33, 100, 256}) {
    const int rows = 7;
    std::vector<float> w = RandomVector(rng, static_cast<size_t>(rows) * cols, -3.0f, 3.0f);
    std::fill(w.begin(), w.begin() + std::min(cols, 32), 0.0f);  // an all-zero block
    w.back() = 1e-30f;                                             // a tiny value
    const Q8Matrix q = QuantizeQ8(w.data(), rows, cols);
    const int nb = q.BlocksPerRow();
    ASSERT_EQ(q.rows, rows);
    ASSERT_EQ(q.cols, cols);
    ASSERT_EQ(nb, (cols + 31) / 32);
    ASSERT_EQ(q.q.size(), static_cast<size_t>(rows) * nb * 32);
    ASSERT_EQ(q.scale.size(), static_cast<size_t>(rows) * nb);
    EXPECT_EQ(q.Bytes(), static_cast<int64_t>(rows) * nb * (32 + 4));
    for (int r = 0; r < rows; ++r) {
      for (int b = 0; b < nb; ++b) {
        const size_t block = static_cast<size_t>(r) * nb + b;
        const float scale = q.scale[block];
        float amax = 0.0f;
        for (int c = b * 32; c < std::min(cols, b * 32 + 32); ++c) {
          amax = std::max(amax, std::fabs(w[static_cast<size_t>(r) * cols + c]));
        }
        EXPECT_FLOAT_EQ(scale, amax / 127.0f) << "row " << r << " block " << b;
        for (int l = 0; l < 32; ++l) {
          const int8_t v = q.q[block * 32 + l];
          const int c = b * 32 + l;
          EXPECT_GE(v, -127);
          EXPECT_LE(v, 127);
          if (c >= cols) {
            EXPECT_EQ(v, 0) << "padding of row " << r << " at " << c;
            continue;
          }
          const double orig = w[static_cast<size_t>(r) * cols + c];
          const double err = std::fabs(orig - static_cast<double>(scale) * v);
          // Half a step, plus the f32 rounding of w / scale.
          EXPECT_LE(err, 0.5 * scale * (1.0 + 1e-5)) << "row " << r << " col " << c << " w " << orig;
        }
      }
    }
  }
}

struct Shape {
  int m, rows, cols;
};

TEST(GemvQ8Test, MatchesReferenceAtEveryLevel) {
  if (CpuHasAvx512Vnni()) {
    EXPECT_TRUE(GemvQ8UsesVnni(SimdLevel::kAvx512)) << "the VNNI kernel must run where the CPU has it";
  }
  EXPECT_FALSE(GemvQ8UsesVnni(SimdLevel::kAvx2));
  EXPECT_FALSE(GemvQ8UsesVnni(SimdLevel::kScalar));

  std::vector<Shape> shapes;
  for (const int m : {1, 3, 16}) {
    for (const int rows : {1, 7, 300}) {
      for (const int cols : {1, 33, 64, 100, 1000}) shapes.push_back({m, rows, cols});
    }
  }
  shapes.push_back({5, 77, 4096});
  shapes.push_back({2, 1031, 96});
  ThreadPool three(3);
  std::mt19937 rng(2);
  double worst_ref = 0.0, worst_f32 = 0.0;
  for (const SimdLevel level : SupportedLevels()) {
    for (const Shape& s : shapes) {
      for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &three}) {
        SCOPED_TRACE(LevelName(level) + " m=" + std::to_string(s.m) + " rows=" + std::to_string(s.rows) +
                     " cols=" + std::to_string(s.cols) + (pool == nullptr ? " default pool" : " 3 threads"));
        const std::vector<float> w = RandomVector(rng, static_cast<size_t>(s.rows) * s.cols, -1.0f, 1.0f);
        const std::vector<float> x = RandomVector(rng, static_cast<size_t>(s.m) * s.cols, -2.0f, 2.0f);
        const Q8Matrix q = QuantizeQ8(w.data(), s.rows, s.cols);
        const size_t outs = static_cast<size_t>(s.m) * s.rows;
        std::vector<float> y(outs, kNaN), ref(outs, kNaN), f32(outs, kNaN);
        GemvQ8At(level, pool, q, x.data(), s.m, y.data());
        GemvQ8Reference(q, x.data(), s.m, ref.data());
        GemmReference(Trans::kNo, Trans::kYes, s.m, s.rows, s.cols, 1.0f, x.data(), s.cols, w.data(), s.cols, 0.0f,
                      f32.data(), s.rows);
        const std::vector<double> terms = TermsNorm(w, x, s.m, s.rows, s.cols);
        // Rounding x to 8 bits: about 4e-3 here (and W's rounding as much again for f32).
        const double vs_ref = RelativeError(y, ref, &terms), vs_f32 = RelativeError(y, f32, &terms);
        EXPECT_LT(vs_ref, 1e-2);
        EXPECT_LT(vs_f32, 2e-2);
        worst_ref = std::max(worst_ref, vs_ref);
        worst_f32 = std::max(worst_f32, vs_f32);
      }
    }
  }
  std::printf("largest relative error: %.2e vs GemvQ8Reference, %.2e vs the f32 product\n", worst_ref, worst_f32);
}

TEST(GemvQ8Test, LevelsAndThreadCountsAgree) {
  std::mt19937 rng(3);
  const int m = 3, rows = 517, cols = 300;
  const std::vector<float> w = RandomVector(rng, static_cast<size_t>(rows) * cols, -1.0f, 1.0f);
  const std::vector<float> x = RandomVector(rng, static_cast<size_t>(m) * cols, -1.0f, 1.0f);
  const Q8Matrix q = QuantizeQ8(w.data(), rows, cols);
  std::vector<float> scalar(static_cast<size_t>(m) * rows, kNaN);
  GemvQ8At(SimdLevel::kScalar, nullptr, q, x.data(), m, scalar.data());
  for (const SimdLevel level : SupportedLevels()) {
    std::vector<float> first;
    for (const int threads : {1, 2, 3, 5}) {
      ThreadPool pool(threads);
      std::vector<float> y(scalar.size(), kNaN);
      GemvQ8At(level, &pool, q, x.data(), m, y.data());
      // The integer block sums are exact at every level: only f32 summation order differs.
      EXPECT_LT(RelativeError(y, scalar), 1e-6) << LevelName(level);
      if (first.empty()) {
        first = y;
      } else {
        EXPECT_EQ(y, first) << LevelName(level) << " on " << threads << " threads";
      }
    }
  }
}

TEST(GemvQ8Test, ScaledInputsAndEmptyShapes) {
  std::mt19937 rng(4);
  const int m = 2, rows = 40, cols = 70;
  std::vector<float> w = RandomVector(rng, static_cast<size_t>(rows) * cols, -1e-3f, 1e-3f);
  std::vector<float> x = RandomVector(rng, static_cast<size_t>(m) * cols, -1e3f, 1e3f);
  std::fill(x.begin(), x.begin() + 32, 0.0f);  // an all-zero activation block
  const Q8Matrix q = QuantizeQ8(w.data(), rows, cols);
  std::vector<float> ref(static_cast<size_t>(m) * rows);
  GemvQ8Reference(q, x.data(), m, ref.data());
  for (const SimdLevel level : SupportedLevels()) {
    std::vector<float> y(ref.size(), kNaN);
    GemvQ8At(level, nullptr, q, x.data(), m, y.data());
    EXPECT_LT(RelativeError(y, ref), 1e-2) << LevelName(level);
  }
  // No columns: y = 0. No rows or no activations: nothing written.
  const Q8Matrix no_cols = QuantizeQ8(w.data(), 3, 0);
  std::vector<float> y(6, kNaN);
  GemvQ8(no_cols, x.data(), 2, y.data());
  for (const float v : y) EXPECT_EQ(v, 0.0f);
  const Q8Matrix no_rows = QuantizeQ8(w.data(), 0, cols);
  GemvQ8(no_rows, x.data(), 2, nullptr);
  GemvQ8(q, x.data(), 0, nullptr);
}

}  // namespace
}  // namespace tide::engine
