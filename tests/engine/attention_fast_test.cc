#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "tide/engine/kernels/attention.h"
#include "tide/engine/kernels/cpu_features.h"

namespace tide::engine {
namespace {

using testing::SupportedLevels;
using testing::WorstRowError;
using testing::RandomVector;


// Worst |out - ref| / max(|ref|, 1) over the log-sum-exps: relative, except near zero,
// where an lse (a log) is held to an absolute 1e-5.
double WorstElementError(const std::vector<float>& out, const std::vector<float>& ref) {
  double worst = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(out[i])) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, std::abs(static_cast<double>(out[i]) - ref[i]) /
                                std::max(std::abs(static_cast<double>(ref[i])), 1.0));
  }
  return worst;
}

struct Case {
  int tokens, past, heads, kv_heads, head_dim;
};

// GQA ratios 1, 2, 4 (and 8); head_dim with and without vector tails; prefixes that
// straddle the 64-key blocks; query counts around the 16-query blocks.
const Case kCases[] = {
    {1, 0, 1, 1, 4},     {1, 0, 2, 2, 8},     {3, 0, 4, 4, 16},    {5, 2, 4, 2, 32},   {17, 0, 8, 4, 32},
    {16, 63, 4, 1, 12},  {33, 64, 4, 4, 20},  {1, 200, 8, 2, 64},  {2, 129, 8, 4, 48}, {70, 5, 6, 3, 7},
    {100, 0, 8, 8, 128}, {64, 64, 2, 1, 24},  {7, 300, 16, 4, 40}, {129, 30, 8, 1, 33}, {40, 0, 4, 2, 1},
};

TEST(AttentionFastTest, ForwardMatchesReferenceAtEveryLevel) {
  std::mt19937 rng(31);
  for (SimdLevel level : SupportedLevels()) {
    for (const Case& c : kCases) {
      AttentionShape s;
      s.tokens = c.tokens;
      s.past = c.past;
      s.heads = c.heads;
      s.kv_heads = c.kv_heads;
      s.head_dim = c.head_dim;
      s.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
      const int total = c.past + c.tokens;
      // Wide enough that the softmax is peaked for some queries and flat for others.
      std::vector<float> q = RandomVector(rng, static_cast<size_t>(c.tokens) * c.heads * c.head_dim, -2.5f, 2.5f);
      std::vector<float> k = RandomVector(rng, static_cast<size_t>(total) * c.kv_heads * c.head_dim, -2.5f, 2.5f);
      std::vector<float> v = RandomVector(rng, static_cast<size_t>(total) * c.kv_heads * c.head_dim, -1.0f, 1.0f);
      const float nan = std::numeric_limits<float>::quiet_NaN();
      std::vector<float> ref_out(q.size()), ref_lse(static_cast<size_t>(c.tokens) * c.heads);
      std::vector<float> out(q.size(), nan), lse(ref_lse.size(), nan);
      AttentionForwardReference(s, q.data(), k.data(), v.data(), ref_out.data(), ref_lse.data());
      AttentionForwardAt(level, s, q.data(), k.data(), v.data(), out.data(), lse.data());
      const double out_err = WorstRowError(out, ref_out, c.head_dim);
      const double lse_err = WorstElementError(lse, ref_lse);
      EXPECT_LT(out_err, 1e-5) << SimdLevelName(level) << " tokens=" << c.tokens << " past=" << c.past
                               << " heads=" << c.heads << "/" << c.kv_heads << " d=" << c.head_dim;
      EXPECT_LT(lse_err, 1e-5) << SimdLevelName(level) << " tokens=" << c.tokens << " past=" << c.past
                               << " heads=" << c.heads << "/" << c.kv_heads << " d=" << c.head_dim;

      // lse may be null.
      std::vector<float> out2(q.size(), nan);
      AttentionForwardAt(level, s, q.data(), k.data(), v.data(), out2.data(), nullptr);
      EXPECT_EQ(out2, out) << SimdLevelName(level);
    }
  }
}

TEST(AttentionFastTest, LargeScoresStayFinite) {
  // Scores in the hundreds: the online softmax must rescale without overflow.
  std::mt19937 rng(32);
  AttentionShape s{37, 90, 4, 2, 16, 1.0f};
  const int total = s.past + s.tokens;
  std::vector<float> q = RandomVector(rng, static_cast<size_t>(s.tokens) * s.heads * s.head_dim, -6.0f, 6.0f);
  std::vector<float> k = RandomVector(rng, static_cast<size_t>(total) * s.kv_heads * s.head_dim, -6.0f, 6.0f);
  std::vector<float> v = RandomVector(rng, static_cast<size_t>(total) * s.kv_heads * s.head_dim, -1.0f, 1.0f);
  std::vector<float> ref_out(q.size()), ref_lse(static_cast<size_t>(s.tokens) * s.heads);
  AttentionForwardReference(s, q.data(), k.data(), v.data(), ref_out.data(), ref_lse.data());
  for (SimdLevel level : SupportedLevels()) {
    std::vector<float> out(q.size(), std::numeric_limits<float>::quiet_NaN()), lse(ref_lse.size());
    AttentionForwardAt(level, s, q.data(), k.data(), v.data(), out.data(), lse.data());
    EXPECT_LT(WorstRowError(out, ref_out, s.head_dim), 1e-5) << SimdLevelName(level);
    EXPECT_LT(WorstElementError(lse, ref_lse), 1e-5) << SimdLevelName(level);
  }
}

TEST(AttentionFastTest, DefaultEntryPointUsesBestLevel) {
  std::mt19937 rng(33);
  AttentionShape s{20, 3, 4, 2, 32, 0.17677669f};
  const int total = s.past + s.tokens;
  std::vector<float> q = RandomVector(rng, static_cast<size_t>(s.tokens) * s.heads * s.head_dim, -1.0f, 1.0f);
  std::vector<float> k = RandomVector(rng, static_cast<size_t>(total) * s.kv_heads * s.head_dim, -1.0f, 1.0f);
  std::vector<float> v = RandomVector(rng, static_cast<size_t>(total) * s.kv_heads * s.head_dim, -1.0f, 1.0f);
  std::vector<float> a(q.size()), b(q.size()), la(static_cast<size_t>(s.tokens) * s.heads), lb(la.size());
  AttentionForward(s, q.data(), k.data(), v.data(), a.data(), la.data());
  AttentionForwardAt(DetectSimdLevel(), s, q.data(), k.data(), v.data(), b.data(), lb.data());
  EXPECT_EQ(a, b);
  EXPECT_EQ(la, lb);
  AttentionShape empty;
  AttentionForward(empty, nullptr, nullptr, nullptr, nullptr, nullptr);  // no-op
}

}  // namespace
}  // namespace tide::engine
