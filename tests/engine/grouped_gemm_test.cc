#include "tide/engine/kernels/grouped_gemm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernel_test_util.h"
#include "tide/engine/thread_pool.h"

namespace tide::engine {
namespace {

using testing::RandomVector;
using testing::SupportedLevels;

// Experts over a token buffer sorted by expert: uneven row counts (one expert empty, one
// far bigger than the others so it runs alone), both transposes as the MoE uses them.
struct Group {
  std::vector<float> a, b, c;
  std::vector<GemmProblem> problems;
};

Group MakeGroup(std::mt19937& rng, Trans ta, Trans tb, const std::vector<int>& rows, int n, int k) {
  Group g;
  int total = 0;
  for (int r : rows) total += r;
  g.a = RandomVector(rng, static_cast<size_t>(total) * k, -1.f, 1.f);
  g.b = RandomVector(rng, rows.size() * static_cast<size_t>(n) * k, -1.f, 1.f);
  g.c.assign(static_cast<size_t>(total) * n, 0.f);
  int row = 0;
  for (size_t e = 0; e < rows.size(); ++e) {
    GemmProblem p;
    p.ta = ta;
    p.tb = tb;
    p.m = rows[e];
    p.n = n;
    p.k = k;
    p.alpha = e % 2 == 0 ? 1.f : 0.5f;
    // Row-sorted A: either [m, k] rows of the buffer, or its transpose viewed as [k, m].
    p.a = g.a.data() + static_cast<size_t>(row) * k;
    p.lda = ta == Trans::kNo ? k : rows[e];
    p.b = g.b.data() + e * static_cast<size_t>(n) * k;
    p.ldb = tb == Trans::kNo ? n : k;
    p.beta = e % 3 == 0 ? 1.f : 0.f;
    p.c = g.c.data() + static_cast<size_t>(row) * n;
    p.ldc = n;
    g.problems.push_back(p);
    row += rows[e];
  }
  return g;
}

// Training-sized groups: uneven rows, one product big enough to run alone. Decode-sized
// groups: one token's experts (1-2 rows each), split by columns over the threads, with
// widths that are not multiples of the column alignment.
struct GroupShape {
  std::vector<int> rows;
  int n, k;
};
const GroupShape kShapes[] = {
    {{3, 0, 17, 64, 1, 300, 9, 40}, 48, 72}, {{1, 1, 2, 0, 1, 1}, 200, 96}, {{1, 1, 1}, 130, 300}};

void CheckGroupedMatchesPerProduct(std::mt19937& rng, SimdLevel level, const GroupShape& shape, Trans ta,
                                   Trans tb) {
  Group g = MakeGroup(rng, ta, tb, shape.rows, shape.n, shape.k);
  const std::vector<float> start = RandomVector(rng, g.c.size(), -1.f, 1.f);
  // beta = 0 products must not read C: poison those rows with NaN.
  std::vector<float> init = start;
  size_t row = 0;
  for (const GemmProblem& p : g.problems) {
    if (p.beta == 0.f) {
      std::fill_n(init.begin() + static_cast<std::ptrdiff_t>(row * p.n), static_cast<size_t>(p.m) * p.n,
                  std::numeric_limits<float>::quiet_NaN());
    }
    row += p.m;
  }
  g.c = init;
  GroupedGemmReference(g.problems);
  const std::vector<float> want = g.c;
  for (float v : want) ASSERT_FALSE(std::isnan(v));

  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    g.c = init;
    GroupedGemmAt(level, &pool, g.problems);
    const std::vector<float> grouped = g.c;
    g.c = init;
    for (const GemmProblem& p : g.problems) {
      GemmAt(level, &pool, p.ta, p.tb, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc);
    }
    double max_err = 0, max_ref = 1;
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_FALSE(std::isnan(grouped[i])) << "index " << i;
      max_err = std::max(max_err, static_cast<double>(std::fabs(grouped[i] - want[i])));
      max_ref = std::max(max_ref, static_cast<double>(std::fabs(want[i])));
    }
    EXPECT_LT(max_err / max_ref, 1e-5) << SimdLevelName(level) << " threads " << threads;
    EXPECT_EQ(0, std::memcmp(grouped.data(), g.c.data(), grouped.size() * sizeof(float)))
        << "grouped differs from per-product Gemm at " << SimdLevelName(level) << ", threads " << threads;
  }
}

TEST(GroupedGemmTest, MatchesReferenceAndPerProductGemm) {
  std::mt19937 rng(7);
  for (SimdLevel level : SupportedLevels()) {
    for (const GroupShape& shape : kShapes) {
      for (Trans ta : {Trans::kNo, Trans::kYes}) {
        for (Trans tb : {Trans::kNo, Trans::kYes}) {
          SCOPED_TRACE("rows " + std::to_string(shape.rows.size()) + " n " + std::to_string(shape.n) + " k " +
                       std::to_string(shape.k));
          CheckGroupedMatchesPerProduct(rng, level, shape, ta, tb);
        }
      }
    }
  }
}

TEST(GroupedGemmTest, EmptyGroupAndEmptyProductsAreNoOps) {
  GroupedGemm({});
  std::vector<float> c = {1.f, 2.f};
  GemmProblem p;
  p.m = 0;
  p.n = 2;
  p.k = 3;
  p.c = c.data();
  p.ldc = 2;
  const GemmProblem ps[] = {p, p};
  GroupedGemm(ps);
  EXPECT_EQ(c, (std::vector<float>{1.f, 2.f}));
}

}  // namespace
}  // namespace tide::engine
