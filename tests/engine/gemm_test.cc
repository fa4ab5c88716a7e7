#include "kernel_test_util.h"
#include "tide/engine/kernels/gemm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tide/engine/dtype.h"
#include "tide/engine/kernels/cpu_features.h"
#include "tide/engine/kernels/gemm_kernels.h"
#include "tide/engine/thread_pool.h"

#include <cblas.h>

namespace tide::engine {
namespace {

using testing::SupportedLevels;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kSentinel = -12345.0f;  // fills the padding of C: must survive untouched
constexpr int kPad = 3;                 // every stride is its width plus this

struct Shape {
  int m, n, k;
};

// Every path: the dot path (m <= 16, B transposed), the axpy path (m <= 4, B plain), the
// blocked path with edge tiles in m and n, several k blocks, and tiny k.
const Shape kShapes[] = {{1, 1, 1},     {1, 4096, 33},  {37, 65, 129}, {128, 256, 512}, {2, 100, 70},
                         {4, 33, 17},   {5, 77, 300},   {16, 40, 64},  {17, 40, 64},    {3, 50, 1},
                         {30, 31, 600}, {15, 130, 260}, {60, 9, 2}};

const char* Name(Trans t) { return t == Trans::kNo ? "N" : "T"; }

std::vector<float> Random(std::mt19937& rng, size_t n) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

// A stored operand: op(X) is rows x cols; stored rows x cols or transposed, stride + pad.
struct Operand {
  int ld;
  std::vector<float> data;
};
Operand MakeOperand(std::mt19937& rng, Trans t, int rows, int cols) {
  const int stored_rows = t == Trans::kNo ? rows : cols;
  const int stored_cols = t == Trans::kNo ? cols : rows;
  Operand o{stored_cols + kPad, {}};
  o.data = Random(rng, static_cast<size_t>(stored_rows) * o.ld + 1);
  return o;
}

// ||out - ref|| / ||ref|| over the m x n block; also checks the padding kept its sentinel.
// With `magnitude` (the same product on absolute values, see Magnitude) the denominator
// is at least 1% of its norm: an output that cancels to almost nothing (a 1 x 1 C with
// beta != 0) is judged against the size of the terms that were summed, not their sum.
double RelativeError(const std::vector<float>& out, const std::vector<float>& ref, int m, int n, int ldc,
                     const std::vector<float>* magnitude = nullptr) {
  double diff = 0.0, norm = 0.0, norm_magnitude = 0.0;
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < ldc; ++j) {
      const size_t idx = static_cast<size_t>(i) * ldc + j;
      if (j >= n) {
        EXPECT_EQ(out[idx], kSentinel) << "padding written at row " << i << " col " << j;
        continue;
      }
      const double d = static_cast<double>(out[idx]) - ref[idx];
      diff += d * d;
      norm += static_cast<double>(ref[idx]) * ref[idx];
      if (magnitude != nullptr) norm_magnitude += static_cast<double>((*magnitude)[idx]) * (*magnitude)[idx];
    }
  }
  norm = std::max(norm, 1e-4 * norm_magnitude);
  if (norm == 0.0) return diff == 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
  return std::sqrt(diff / norm);
}

// A C buffer of m x (n + pad): the block holds `fill` (NaN when beta == 0 must not read
// it), the padding holds the sentinel.
std::vector<float> MakeC(std::mt19937& rng, int m, int n, int ldc, bool poison) {
  std::vector<float> c = Random(rng, static_cast<size_t>(m) * ldc);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < ldc; ++j) {
      float& v = c[static_cast<size_t>(i) * ldc + j];
      if (j >= n) v = kSentinel;
      else if (poison) v = kNaN;
    }
  }
  return c;
}

// The reference product on |alpha|, |A|, |B|, |beta|, |C|: the scale of the summed terms.
std::vector<float> Magnitude(Trans ta, Trans tb, int m, int n, int k, float alpha, const std::vector<float>& a, int lda,
                             const std::vector<float>& b, int ldb, float beta, std::vector<float> c, int ldc) {
  auto absolute = [](std::vector<float> v) {
    for (float& x : v) x = std::fabs(x);
    return v;
  };
  const std::vector<float> abs_a = absolute(a), abs_b = absolute(b);
  c = absolute(std::move(c));
  GemmReference(ta, tb, m, n, k, std::fabs(alpha), abs_a.data(), lda, abs_b.data(), ldb, std::fabs(beta), c.data(), ldc);
  return c;
}

struct AlphaBeta {
  float alpha, beta;
};
const AlphaBeta kAlphaBetas[] = {{1.0f, 0.0f}, {-1.5f, 0.0f}, {1.0f, 1.0f}, {0.75f, -0.5f}};

TEST(GemmTest, ReferenceMatchesHandWorkedProduct) {
  // [1 2; 3 4] x [5 6; 7 8] = [19 22; 43 50]; alpha 2, beta 1 onto C = 1.
  const float a[] = {1, 2, 3, 4}, b[] = {5, 6, 7, 8};
  float c[] = {1, 1, 1, 1};
  GemmReference(Trans::kNo, Trans::kNo, 2, 2, 2, 2.0f, a, 2, b, 2, 1.0f, c, 2);
  EXPECT_EQ(c[0], 39.0f);
  EXPECT_EQ(c[1], 45.0f);
  EXPECT_EQ(c[2], 87.0f);
  EXPECT_EQ(c[3], 101.0f);
  // Aᵀ·Bᵀ = (B·A)ᵀ: B·A = [23 34; 31 46].
  float d[4];
  GemmReference(Trans::kYes, Trans::kYes, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, d, 2);
  EXPECT_EQ(d[0], 23.0f);
  EXPECT_EQ(d[1], 31.0f);
  EXPECT_EQ(d[2], 34.0f);
  EXPECT_EQ(d[3], 46.0f);
}

TEST(GemmTest, FastMatchesReferenceForEveryTransposeShapeAndLevel) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  for (Trans ta : {Trans::kNo, Trans::kYes}) {
    for (Trans tb : {Trans::kNo, Trans::kYes}) {
      for (const Shape& s : kShapes) {
        const Operand a = MakeOperand(rng, ta, s.m, s.k);
        const Operand b = MakeOperand(rng, tb, s.k, s.n);
        const int ldc = s.n + kPad;
        for (const AlphaBeta& ab : kAlphaBetas) {
          SCOPED_TRACE(std::string(Name(ta)) + Name(tb) + " m " + std::to_string(s.m) + " n " + std::to_string(s.n) +
                       " k " + std::to_string(s.k) + " alpha " + std::to_string(ab.alpha) + " beta " +
                       std::to_string(ab.beta));
          const std::vector<float> c0 = MakeC(rng, s.m, s.n, ldc, ab.beta == 0.0f);
          std::vector<float> ref = c0;
          GemmReference(ta, tb, s.m, s.n, s.k, ab.alpha, a.data.data(), a.ld, b.data.data(), b.ld, ab.beta,
                        ref.data(), ldc);
          const std::vector<float> mag =
              Magnitude(ta, tb, s.m, s.n, s.k, ab.alpha, a.data, a.ld, b.data, b.ld, ab.beta, c0, ldc);
          for (SimdLevel level : SupportedLevels()) {
            SCOPED_TRACE(SimdLevelName(level));
            std::vector<float> out = c0;
            GemmAt(level, nullptr, ta, tb, s.m, s.n, s.k, ab.alpha, a.data.data(), a.ld, b.data.data(), b.ld,
                   ab.beta, out.data(), ldc);
            EXPECT_LT(RelativeError(out, ref, s.m, s.n, ldc, &mag), 1e-5);
          }
          std::vector<float> out = c0;
          Gemm(ta, tb, s.m, s.n, s.k, ab.alpha, a.data.data(), a.ld, b.data.data(), b.ld, ab.beta, out.data(), ldc);
          EXPECT_LT(RelativeError(out, ref, s.m, s.n, ldc, &mag), 1e-5);
        }
      }
    }
  }
}

TEST(GemmTest, ResultDoesNotDependOnTheThreadCount) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  ThreadPool one(1), three(3);
  const Shape shapes[] = {{200, 300, 700}, {8, 1000, 300}, {3, 1000, 300}, {40, 2000, 100}};
  for (const Shape& s : shapes) {
    for (Trans tb : {Trans::kNo, Trans::kYes}) {
      SCOPED_TRACE(std::string(Name(tb)) + " m " + std::to_string(s.m) + " n " + std::to_string(s.n));
      const Operand a = MakeOperand(rng, Trans::kNo, s.m, s.k);
      const Operand b = MakeOperand(rng, tb, s.k, s.n);
      std::vector<float> c1(static_cast<size_t>(s.m) * s.n), c3(c1.size(), kNaN);
      GemmAt(DetectSimdLevel(), &one, Trans::kNo, tb, s.m, s.n, s.k, 1.0f, a.data.data(), a.ld, b.data.data(),
             b.ld, 0.0f, c1.data(), s.n);
      GemmAt(DetectSimdLevel(), &three, Trans::kNo, tb, s.m, s.n, s.k, 1.0f, a.data.data(), a.ld, b.data.data(),
             b.ld, 0.0f, c3.data(), s.n);
      EXPECT_EQ(0, std::memcmp(c1.data(), c3.data(), sizeof(float) * c1.size()));
    }
  }
}

// True where GemmBf16At(level) takes the AVX-512 BF16 path, which rounds A to bf16.
bool RoundsAToBf16(SimdLevel level, int m) {
  const gemm_internal::GemmIsa* isa = gemm_internal::GemmIsaAvx512();
  return level == SimdLevel::kAvx512 && SimdLevelSupported(level) && isa != nullptr &&
         isa->kernel_bf16 != nullptr && m > isa->dot_max_m;
}

TEST(GemmTest, Bf16MatchesItsReferences) {
  // Every path multiplies B's exact values. The widening paths then match the f32
  // reference on the widened B to f32 accuracy; the AVX-512 BF16 path (large m) rounds A
  // to bf16 as well, so it is held to 1e-2 against the reference and to f32 accuracy
  // against the f32 reference on rounded A and widened B. Odd k exercises the last pair.
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::vector<Shape> shapes(std::begin(kShapes), std::end(kShapes));
  shapes.insert(shapes.end(), {{100, 70, 37}, {65, 33, 513}, {200, 96, 1100}});
  for (Trans ta : {Trans::kNo, Trans::kYes}) {
    for (Trans tb : {Trans::kNo, Trans::kYes}) {
      for (const Shape& s : shapes) {
        const Operand a = MakeOperand(rng, ta, s.m, s.k);
        const Operand b32 = MakeOperand(rng, tb, s.k, s.n);
        std::vector<uint16_t> b16(b32.data.size());
        std::vector<float> widened(b32.data.size()), a_rounded(a.data.size());
        for (size_t i = 0; i < b16.size(); ++i) {
          b16[i] = F32ToBf16(b32.data[i]);
          widened[i] = Bf16ToF32(b16[i]);
        }
        for (size_t i = 0; i < a.data.size(); ++i) a_rounded[i] = Bf16ToF32(F32ToBf16(a.data[i]));
        const int ldc = s.n + kPad;
        const AlphaBeta ab = kAlphaBetas[(s.m + s.k) % 4];
        SCOPED_TRACE(std::string(Name(ta)) + Name(tb) + " m " + std::to_string(s.m) + " n " + std::to_string(s.n) +
                     " k " + std::to_string(s.k) + " beta " + std::to_string(ab.beta));
        const std::vector<float> c0 = MakeC(rng, s.m, s.n, ldc, ab.beta == 0.0f);
        std::vector<float> ref16 = c0, ref32 = c0, ref_rounded = c0;
        GemmBf16Reference(ta, tb, s.m, s.n, s.k, ab.alpha, a.data.data(), a.ld, b16.data(), b32.ld, ab.beta,
                          ref16.data(), ldc);
        GemmReference(ta, tb, s.m, s.n, s.k, ab.alpha, a.data.data(), a.ld, widened.data(), b32.ld, ab.beta,
                      ref32.data(), ldc);
        GemmReference(ta, tb, s.m, s.n, s.k, ab.alpha, a_rounded.data(), a.ld, widened.data(), b32.ld, ab.beta,
                      ref_rounded.data(), ldc);
        EXPECT_LT(RelativeError(ref16, ref32, s.m, s.n, ldc), 1e-7);
        const std::vector<float> mag =
            Magnitude(ta, tb, s.m, s.n, s.k, ab.alpha, a.data, a.ld, widened, b32.ld, ab.beta, c0, ldc);
        std::vector<SimdLevel> levels = SupportedLevels();
        levels.push_back(DetectSimdLevel());  // GemmBf16 itself, last
        for (size_t l = 0; l < levels.size(); ++l) {
          const SimdLevel level = levels[l];
          const bool is_default = l + 1 == levels.size();
          SCOPED_TRACE(std::string(SimdLevelName(level)) + (is_default ? " (GemmBf16)" : ""));
          std::vector<float> out = c0;
          if (is_default) {
            GemmBf16(ta, tb, s.m, s.n, s.k, ab.alpha, a.data.data(), a.ld, b16.data(), b32.ld, ab.beta, out.data(),
                     ldc);
          } else {
            GemmBf16At(level, nullptr, ta, tb, s.m, s.n, s.k, ab.alpha, a.data.data(), a.ld, b16.data(), b32.ld,
                       ab.beta, out.data(), ldc);
          }
          EXPECT_LT(RelativeError(out, ref16, s.m, s.n, ldc, &mag), 1e-2);
          const bool rounds = RoundsAToBf16(level, s.m);
          EXPECT_LT(RelativeError(out, rounds ? ref_rounded : ref32, s.m, s.n, ldc, &mag), 1e-5)
              << "rounds A: " << rounds;
        }
      }
    }
  }
}

TEST(GemmTest, EveryRowCountAroundThePathThresholds) {
  // Crosses the axpy (4) and dot (16 for AVX2, 64 for AVX-512; beyond 16 only for
  // k >= 256) limits and the micro-tile heights (4, 6, 14).
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const int n = 70;
  std::vector<int> rows;
  for (int m = 1; m <= 33; ++m) rows.push_back(m);
  for (int m : {40, 56, 63, 64, 65, 71, 100}) rows.push_back(m);
  for (int m : rows) {
    for (const auto& [tb, k] : {std::pair{Trans::kNo, 45}, std::pair{Trans::kYes, 45}, std::pair{Trans::kYes, 300}}) {
      const Operand a = MakeOperand(rng, Trans::kNo, m, k);
      const Operand b = MakeOperand(rng, tb, k, n);
      const std::vector<float> c0 = MakeC(rng, m, n, n + kPad, true);
      std::vector<float> ref = c0;
      GemmReference(Trans::kNo, tb, m, n, k, 1.0f, a.data.data(), a.ld, b.data.data(), b.ld, 0.0f, ref.data(),
                    n + kPad);
      for (SimdLevel level : SupportedLevels()) {
        SCOPED_TRACE(std::string(SimdLevelName(level)) + " " + Name(tb) + " m " + std::to_string(m) + " k " +
                     std::to_string(k));
        std::vector<float> out = c0;
        GemmAt(level, nullptr, Trans::kNo, tb, m, n, k, 1.0f, a.data.data(), a.ld, b.data.data(), b.ld, 0.0f,
               out.data(), n + kPad);
        EXPECT_LT(RelativeError(out, ref, m, n, n + kPad), 1e-5);
      }
    }
  }
}

TEST(GemmTest, DegenerateShapes) {
  // k == 0 or alpha == 0: C = beta * C and A, B are not read (they hold NaN here).
  const float nan_ab[4] = {kNaN, kNaN, kNaN, kNaN};
  for (SimdLevel level : SupportedLevels()) {
    float c[4] = {1, 2, 3, 4};
    GemmAt(level, nullptr, Trans::kNo, Trans::kNo, 2, 2, 0, 1.0f, nan_ab, 2, nan_ab, 2, 0.5f, c, 2);
    EXPECT_EQ(c[3], 2.0f);
    GemmAt(level, nullptr, Trans::kNo, Trans::kYes, 2, 2, 2, 0.0f, nan_ab, 2, nan_ab, 2, 2.0f, c, 2);
    EXPECT_EQ(c[3], 4.0f);
    float d[4] = {kNaN, kNaN, kNaN, kNaN};
    GemmAt(level, nullptr, Trans::kYes, Trans::kNo, 2, 2, 0, 1.0f, nan_ab, 2, nan_ab, 2, 0.0f, d, 2);
    for (float v : d) EXPECT_EQ(v, 0.0f);
    float e[1] = {7.0f};  // m == 0 or n == 0: nothing written
    GemmAt(level, nullptr, Trans::kNo, Trans::kNo, 0, 1, 1, 1.0f, nan_ab, 1, nan_ab, 1, 0.0f, e, 1);
    GemmAt(level, nullptr, Trans::kNo, Trans::kNo, 1, 0, 1, 1.0f, nan_ab, 1, nan_ab, 1, 0.0f, e, 1);
    EXPECT_EQ(e[0], 7.0f);
  }
}

TEST(GemmTest, AgreesWithOpenBlas) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const int m = 300, n = 500, k = 400;
  for (Trans ta : {Trans::kNo, Trans::kYes}) {
    for (Trans tb : {Trans::kNo, Trans::kYes}) {
      const Operand a = MakeOperand(rng, ta, m, k);
      const Operand b = MakeOperand(rng, tb, k, n);
      std::vector<float> ours(static_cast<size_t>(m) * n), blas(ours.size());
      Gemm(ta, tb, m, n, k, 1.0f, a.data.data(), a.ld, b.data.data(), b.ld, 0.0f, ours.data(), n);
      cblas_sgemm(CblasRowMajor, ta == Trans::kNo ? CblasNoTrans : CblasTrans,
                  tb == Trans::kNo ? CblasNoTrans : CblasTrans, m, n, k, 1.0f, a.data.data(), a.ld, b.data.data(),
                  b.ld, 0.0f, blas.data(), n);
      EXPECT_LT(RelativeError(ours, blas, m, n, n), 1e-5) << Name(ta) << Name(tb);
    }
  }
}

}  // namespace
}  // namespace tide::engine
